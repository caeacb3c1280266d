"""Rebuild every committed data table and the tiny test fixtures in one go.

Why one entry point: the tables are derived data; anyone must be able to regenerate them
byte-for-byte from the pinned wheels with ``python -m gate_core.data.builders``.
"""

from __future__ import annotations

import argparse
import hashlib
import time
from pathlib import Path

import pandas as pd

from gate_core.data.builders.chemicals import (
    PRETRAINING_TASKS,
    build_chemicals_table,
    summarise,
    write_csv_gz,
)
from gate_core.data.builders.corpus import build_corpus
from gate_core.data.builders.targets import TARGETS, build_target, write_target_csv

REPO_ROOT = Path(__file__).resolve().parents[3]
DEFAULT_OUT_DIR = REPO_ROOT / "assets" / "data"
DEFAULT_FIXTURES_DIR = REPO_ROOT / "tests" / "data"
CHEMICALS_FILE = "chemicals_properties.csv.gz"
CORPUS_DIR = "corpus"
#: MOSES molecules in the CPU corpus (the shipped backbone); ``--corpus-moses all`` for a GPU build.
CPU_CORPUS_MOSES = 20_000


def stable_order(smiles: pd.Series) -> pd.Series:
    """A platform-independent pseudo-random rank per SMILES, for reproducible sub-samples."""
    return smiles.map(lambda s: hashlib.sha256(s.encode("utf-8")).hexdigest())


def _sample_smiles(smiles: pd.Series, n: int) -> set[str]:
    unique = pd.Series(sorted(set(smiles)))
    return set(unique.iloc[stable_order(unique).argsort().to_numpy()[:n]])


def build_fixtures(
    chemicals: pd.DataFrame, targets: dict[str, pd.DataFrame], fixtures_dir: Path
) -> None:
    """Tiny real tables for fast tests: sparse pre-training rows, one regression, one classification."""
    pretrain = chemicals[chemicals["task"].isin(PRETRAINING_TASKS)]
    keep = _sample_smiles(pretrain["smiles"], 400)
    write_csv_gz(
        pretrain[pretrain["smiles"].isin(keep)].reset_index(drop=True),
        fixtures_dir / "pretrain_tiny.csv.gz",
    )

    freesolv = targets["freesolv"]
    tiny = freesolv[freesolv["smiles"].isin(_sample_smiles(freesolv["smiles"], 60))]
    write_target_csv(tiny.reset_index(drop=True), fixtures_dir / "target_tiny.csv")

    build_tiny_corpus(fixtures_dir)

    bbbp = targets["bbbp"]
    picked = set().union(
        *(_sample_smiles(bbbp.loc[bbbp["value"] == c, "smiles"], 40) for c in (0, 1))
    )
    write_target_csv(
        bbbp[bbbp["smiles"].isin(picked)].reset_index(drop=True),
        fixtures_dir / "target_tiny_classification.csv",
    )


def build_all(
    out_dir: Path = DEFAULT_OUT_DIR, fixtures_dir: Path | None = DEFAULT_FIXTURES_DIR
) -> dict[str, int]:
    """Write the chemicals table, every target and (unless ``fixtures_dir`` is None) the fixtures.

    Returns row counts by output name, for the caller to report.
    """
    chemicals = build_chemicals_table()
    write_csv_gz(chemicals, out_dir / CHEMICALS_FILE)
    counts = {CHEMICALS_FILE: len(chemicals)}
    targets = {}
    for name in TARGETS:
        targets[name] = build_target(name, chemicals)
        write_target_csv(targets[name], out_dir / "targets" / f"{name}.csv")
        counts[name] = len(targets[name])
    if fixtures_dir is not None:
        build_fixtures(chemicals, targets, fixtures_dir)
    return counts


def build_tiny_corpus(fixtures_dir: Path) -> dict:
    """The tiny table's molecules plus 100 MOSES ones, with descriptor families: v2 in tests."""
    tiny = pd.read_csv(fixtures_dir / "pretrain_tiny.csv.gz")
    return build_corpus(
        sorted(set(tiny["smiles"])), fixtures_dir / "corpus_tiny", n_moses=100, chembl=False
    )


def build_backbone_corpus(
    out_dir: Path = DEFAULT_OUT_DIR,
    n_moses: int | None = CPU_CORPUS_MOSES,
    corpus_dir: Path | None = None,
) -> dict:
    """The v2 corpus over the chemicals table's pre-training molecules plus ChEMBL and MOSES (default ``out_dir/corpus``)."""
    chemicals = pd.read_csv(out_dir / CHEMICALS_FILE)
    smiles = sorted(set(chemicals.loc[chemicals["task"].isin(PRETRAINING_TASKS), "smiles"]))
    return build_corpus(smiles, corpus_dir or out_dir / CORPUS_DIR, n_moses)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m gate_core.data.builders", description=__doc__)
    parser.add_argument(
        "--out", type=Path, default=DEFAULT_OUT_DIR, help="output folder (default assets/data)"
    )
    parser.add_argument(
        "--fixtures",
        type=Path,
        default=DEFAULT_FIXTURES_DIR,
        help="test-fixture folder (default tests/data)",
    )
    parser.add_argument("--no-fixtures", action="store_true", help="skip the test fixtures")
    parser.add_argument(
        "--only", choices=("tables", "corpus"), help="build only the tables or only the v2 corpus"
    )
    parser.add_argument(
        "--corpus-moses",
        default=str(CPU_CORPUS_MOSES),
        help=f"MOSES molecules in the corpus (default {CPU_CORPUS_MOSES}, the CPU build; 'all' for a GPU build)",
    )
    parser.add_argument("--corpus-dir", type=Path, help="corpus folder (default <out>/corpus)")
    args = parser.parse_args()
    start = time.perf_counter()
    if args.only != "corpus":
        report_tables(args.out, build_all(args.out, None if args.no_fixtures else args.fixtures))
    if args.only != "tables":  # after the tables: the corpus holds every pre-training molecule
        n_moses = None if args.corpus_moses == "all" else int(args.corpus_moses)
        manifest = build_backbone_corpus(args.out, n_moses, args.corpus_dir)
        print(
            f"corpus: {manifest['n_molecules']} molecules {manifest['molecules_by_source']}, "
            f"{len(manifest['columns'])} descriptors in {len(manifest['families'])} families"
        )
    print(f"built in {time.perf_counter() - start:.1f} s")


def report_tables(out_dir: Path, counts: dict[str, int]) -> None:
    chemicals = pd.read_csv(out_dir / CHEMICALS_FILE)
    print(summarise(chemicals).to_string(index=False))
    print(f"chemicals: {chemicals['smiles'].nunique()} molecules, {len(chemicals)} labels")
    for name, n in counts.items():
        print(f"{name}: {n} rows")
