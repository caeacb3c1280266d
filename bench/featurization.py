"""Featurisation throughput on one core: graph, SMILES parse + graph, fast descriptors, collate.

Molecules per second, median of ``--repeats`` runs, wall clock, the process and its thread
pools held to one thread: (a) ``mols_to_graphs`` on already-parsed RDKit mols (the library path)
and (a') ``mol_to_graph`` one molecule per call; (b) ``GraphFeaturizer().from_smiles`` with a
fresh featuriser, so every molecule is a cache miss; (c) ``fast_descriptors``; (d)
``collate_graphs`` in batches of 64 (training) and 256 (inference). Input: every unique SMILES
of the pre-training table; parsing for (a) and (c) happens before the clock. Target: (a) ≥ 5,000
mol/s. Outside the clock it checks that the SMILES shortcuts of ``mol_to_graph`` and the parse
path change no molecule's features.
"""

from __future__ import annotations

import argparse
import gc
import os
from pathlib import Path

import numpy as np

from bench.common import (
    REPO_ROOT,
    csv_rows,
    limit_threads,
    loadavg,
    logger,
    rate_summary,
    records_table,
    repeat,
    write_results,
)

NAME = "featurization"
DESCRIPTION = "featurisation throughput (mol/s, one core): graph, parse+graph, descriptors, collate"
TARGET_GRAPH_MOL_PER_S = 5000.0
_log = logger(NAME)
STAGES = {
    "graph_from_mol": "(a) graph from RDKit mol (`mols_to_graphs`, chunks of 1,024)",
    "graph_from_mol_one_at_a_time": "(a') graph from RDKit mol, one per call (`mol_to_graph`)",
    "parse_smiles_and_graph": "(b) SMILES → `parse_smiles` → graph (fresh cache)",
    "fast_descriptors": "(c) fast descriptors (`fast_descriptors`)",
    "collate/batch_64": "(d) collate, batch 64",
    "collate/batch_256": "(d) collate, batch 256",
}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--table",
        default=str(REPO_ROOT / "assets/data/chemicals_properties.csv.gz"),
        help="long table; its unique SMILES are featurised",
    )
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--limit", type=int, default=None, help="only the first N unique SMILES")
    parser.add_argument("--pin-cpu", type=int, default=None, help="pin the process to this CPU")


def _differences(graphs_a: list, graphs_b: list, smiles: list[str]) -> dict:
    """How many molecules get different arrays (1e-6 tolerance), with a few examples."""
    bad = [
        s
        for s, a, b in zip(smiles, graphs_a, graphs_b)
        if not all(
            x.shape == y.shape and np.allclose(x, y, rtol=0.0, atol=1e-6) for x, y in zip(a, b)
        )
    ]
    return {
        "molecules_compared": len(smiles),
        "molecules_different": len(bad),
        "examples": bad[:10],
    }


def run(args: argparse.Namespace) -> tuple[Path, Path]:
    if args.pin_cpu is not None:
        os.sched_setaffinity(0, {args.pin_cpu})
    limit_threads(1)
    import pandas as pd
    from rdkit import Chem

    from gate_core.data.collate import collate_graphs
    from gate_core.featurizers.descriptors import FAST_DESCRIPTOR_NAMES, fast_descriptors
    from gate_core.featurizers.graph import (
        FEATURIZER_VERSION,
        GraphFeaturizer,
        mol_to_graph,
        mols_to_graphs,
    )
    from gate_core.featurizers.molecule import clear_parse_cache

    load_before = loadavg()
    smiles = sorted(pd.read_csv(args.table, usecols=["smiles"])["smiles"].astype(str).unique())
    smiles = smiles[: args.limit] if args.limit else smiles
    mols = [Chem.MolFromSmiles(s) for s in smiles]
    if any(m is None for m in mols):
        raise ValueError("the table contains SMILES RDKit cannot parse")
    n = len(smiles)
    out: dict[str, list] = {}

    def parse_and_graph() -> None:
        clear_parse_cache()
        featurizer = GraphFeaturizer()  # fresh, parse cache cleared: every molecule is a miss
        out["parsed"] = [featurizer.from_smiles(s) for s in smiles]

    def graph_from_mol() -> None:
        chunks = range(0, n, 1024)
        out["graphs"] = [
            g for i in chunks for g in mols_to_graphs(mols[i : i + 1024], smiles[i : i + 1024])
        ]

    runs = {
        "graph_from_mol": graph_from_mol,
        "graph_from_mol_one_at_a_time": lambda: [mol_to_graph(m, s) for m, s in zip(mols, smiles)],
        "parse_smiles_and_graph": parse_and_graph,
        "fast_descriptors": lambda: [fast_descriptors(m) for m in mols],
    }
    stages: dict = {}
    for name, fn in runs.items():
        gc.collect()
        stages[name] = rate_summary(n, repeat(fn, args.repeats), "molecules")
        _log(f"{name}: {stages[name]['per_second']:,.0f} mol/s")
    stages["collate"] = {}
    for size in (64, 256):
        batches = [out["graphs"][i : i + size] for i in range(0, n, size)]
        gc.collect()
        summary = rate_summary(
            n, repeat(lambda b=batches: [collate_graphs(x) for x in b], args.repeats), "molecules"
        )
        stages["collate"][f"batch_{size}"] = {
            **summary,
            "batch_size": size,
            "batches": len(batches),
        }
    rate = stages["graph_from_mol"]["per_second"]
    results = {
        "what": "molecules/s on one thread, median of repeats, wall clock "
        "(per_cpu_second: the same count / process CPU time)",
        "input": {
            "table": str(args.table),
            "unique_smiles": n,
            "limit": args.limit,
            "mean_atoms": float(np.mean([m.GetNumAtoms() for m in mols])),
        },
        "settings": {
            "repeats": args.repeats,
            "threads": 1,
            "pin_cpu": args.pin_cpu,
            "featurizer_version": FEATURIZER_VERSION,
            "n_fast_descriptors": len(FAST_DESCRIPTOR_NAMES),
        },
        "stages": stages,
        "target": {
            "stage": "graph_from_mol",
            "mol_per_s": TARGET_GRAPH_MOL_PER_S,
            "measured": rate,
            "passed": rate >= TARGET_GRAPH_MOL_PER_S,
        },
        "checks": {
            "graph_with_vs_without_smiles_shortcuts": _differences(
                out["graphs"], [mol_to_graph(m) for m in mols], smiles
            ),
            "graph_from_mol_vs_parse_smiles_path": _differences(
                out["graphs"], out["parsed"], smiles
            ),
        },
        "load_average_before": load_before,
        "load_average_after": loadavg(),
    }
    return write_results(NAME, results, markdown, args.results_dir, rows=csv_rows(NAME, results))


def markdown(r: dict) -> str:
    """The result's one renderer (its .md, docs/benchmarks.md, the app page)."""
    rows = []
    for key, text in STAGES.items():
        stage, _, sub = key.partition("/")
        s = (r["stages"].get(stage) or {}).get(sub) if sub else r["stages"].get(stage)
        if s:
            rows.append({"text": text, **s})
    t, inp = r["target"], r.get("input") or {}
    load = max((r.get("load_average_before") or [0])[0], (r.get("load_average_after") or [0])[0])
    checks = [
        f"- `{k}`: {c['molecules_different']} of {c['molecules_compared']} molecules differ."
        for k, c in (r.get("checks") or {}).items()
        if "molecules_different" in c
    ]
    busy = (
        f"- The machine was busy (1-min load {load:.2f}): wall-clock rates are below what an "
        "idle core gives; the per-CPU-second column is less affected.\n"
        if load > 1.0
        else ""
    )
    return (
        "# Featurisation throughput (one core)\n\n"
        f"{inp.get('unique_smiles', '?'):,} unique SMILES of `{Path(str(inp.get('table'))).name}`, "
        f"one thread, cold cache, median of {r['settings']['repeats']} repeats (wall clock).\n\n"
        + records_table(
            "stage | mol/s | mol per CPU-second | CPU share",
            "text per_second:,.0f per_cpu_second:,.0f cpu_share:.2f",
            rows,
        )
        + f"\n\n- Target (a) ≥ {t['mol_per_s']:,.0f} mol/s: "
        f"**{'PASS' if t['passed'] else 'FAIL'}** "
        f"({t['measured']:,.0f} mol/s).\n" + "\n".join(checks) + "\n" + busy
    )
