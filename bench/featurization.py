"""Featurisation throughput on one core: graph, SMILES parse + graph, fast descriptors, collate.

Why one core and cold caches: the figure is what one featurisation worker gives on raw input,
the unit every larger job is made of. Molecules per second, median of ``--repeats`` runs, wall
clock (and per CPU-second); the stages are :data:`STAGES` (bench/README.md). Target: (a) ≥ 5,000
mol/s.
"""

from __future__ import annotations

import argparse
import gc
import os
from pathlib import Path

import numpy as np

from bench.common import (
    csv_rows,
    limit_threads,
    loadavg,
    logger,
    rate_summary,
    records_table,
    repeat,
    write_results,
)
from gate_core.paths import BACKBONE_TABLE

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
    add = parser.add_argument
    add("--table", default=str(BACKBONE_TABLE), help="long table; its unique SMILES are featurised")
    add("--repeats", type=int, default=3)
    add("--limit", type=int, help="only the first N unique SMILES")
    add("--pin-cpu", type=int, help="pin the process to this CPU")


def _differences(graphs_a: list, graphs_b: list, smiles: list[str]) -> dict:
    """How many molecules get different arrays (1e-6 tolerance), with a few examples."""
    bad = [
        s
        for s, a, b in zip(smiles, graphs_a, graphs_b)
        if not all(
            x.shape == y.shape and np.allclose(x, y, rtol=0, atol=1e-6) for x, y in zip(a, b)
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
    smiles = smiles[: args.limit]
    mols = [Chem.MolFromSmiles(s) for s in smiles]
    if None in mols:
        raise ValueError("the table contains SMILES RDKit cannot parse")
    n, out = len(smiles), {}

    def rate(fn) -> dict:
        gc.collect()
        return rate_summary(n, repeat(fn, args.repeats), "molecules")

    def parse_and_graph() -> None:
        clear_parse_cache()
        featurizer = GraphFeaturizer()  # fresh, parse cache cleared: every molecule is a miss
        out["parsed"] = [featurizer.from_smiles(s) for s in smiles]

    def graph_from_mol() -> None:
        chunks = [(mols[i : i + 1024], smiles[i : i + 1024]) for i in range(0, n, 1024)]
        out["graphs"] = [g for chunk in chunks for g in mols_to_graphs(*chunk)]

    def collate(size: int) -> dict:  # the batch of training and of inference
        batches = [out["graphs"][i : i + size] for i in range(0, n, size)]
        summary = rate(lambda: [collate_graphs(b) for b in batches])
        return summary | {"batch_size": size, "batches": len(batches)}

    stages = {
        "graph_from_mol": rate(graph_from_mol),
        "graph_from_mol_one_at_a_time": rate(
            lambda: [mol_to_graph(m, s) for m, s in zip(mols, smiles)]
        ),
        "parse_smiles_and_graph": rate(parse_and_graph),
        "fast_descriptors": rate(lambda: [fast_descriptors(m) for m in mols]),
        "collate": {f"batch_{size}": collate(size) for size in (64, 256)},
    }
    graph_rate = stages["graph_from_mol"]["per_second"]
    _log(f"graph from mol: {graph_rate:,.0f} mol/s (target {TARGET_GRAPH_MOL_PER_S:,.0f})")
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
            "measured": graph_rate,
            "passed": graph_rate >= TARGET_GRAPH_MOL_PER_S,
        },
        "checks": {  # outside the clock: the SMILES shortcuts and the parse path change nothing
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
    stages = r["stages"] | {f"collate/{k}": v for k, v in r["stages"]["collate"].items()}
    rows = [{"text": text, **stages[key]} for key, text in STAGES.items() if key in stages]
    t, inp = r["target"], r["input"]
    load = max(r["load_average_before"][0], r["load_average_after"][0])
    checks = "".join(
        f"- `{k}`: {c['molecules_different']} of {c['molecules_compared']} molecules differ.\n"
        for k, c in r["checks"].items()
    )
    return (
        "# Featurisation throughput (one core)\n\n"
        f"{inp['unique_smiles']:,} unique SMILES of `{Path(inp['table']).name}`, one thread, cold "
        f"cache, median of {r['settings']['repeats']} repeats (wall clock).\n\n"
        + records_table(
            "stage | mol/s | mol per CPU-second | CPU share",
            "text per_second:,.0f per_cpu_second:,.0f cpu_share:.2f",
            rows,
        )
        + f"\n\n- Target (a) ≥ {t['mol_per_s']:,.0f} mol/s: **{'PASS' if t['passed'] else 'FAIL'}** "
        f"({t['measured']:,.0f} mol/s).\n{checks}"
        + (f"- The machine was busy (1-min load {load:.2f}).\n" if load > 1.0 else "")
    )
