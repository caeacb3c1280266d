"""Parse and featurise a user's molecules in the isolated worker (:mod:`gate_core.isolation`).

Why: parsing, canonicalising, featurising and the scaffold of a molecule are the RDKit calls
the server makes on user input (Predict, the upload check, the preview and training that follow
it). They run here first, in the worker, chunk by chunk: a molecule that crashes RDKit costs that
job only, and the error names the rows in flight. What survives comes back as canonical SMILES
(with each other row's reason), graphs and descriptor rows, which prime this process's caches,
so the model's featurisation afterwards calls no RDKit for them. RDKit is deterministic, so a
molecule that went through the worker goes through the same calls here.
"""

from __future__ import annotations

import ctypes
import os

import numpy as np

from gate_core.data.featurize import featurize_molecules, prime_caches
from gate_core.data.splits import bemis_murcko_scaffold
from gate_core.featurizers.graph import MolGraph
from gate_core.featurizers.molecule import ParsedMolecule, parse_smiles
from gate_core.isolation import IsolatedWorker, WorkerCrashed, default_worker

#: Molecules per job: large enough that the per-job overhead (pickling, ~0.05 ms a molecule)
#: stays small, small enough that a crash names a short list of rows.
CHUNK = 500
#: Seconds one chunk may take in the worker (about 0.3 ms a molecule; far above on a loaded CPU).
CHUNK_TIMEOUT_S = 60.0
#: Test hook: the worker crashes with a real SIGSEGV on an input equal to this variable's value.
CRASH_ENV = "GATE_TEST_CRASH_SMILES"

Row = tuple[str, str | None, str | None, str | None]  # input, canonical SMILES, error, note


def _work(
    texts: list[object], crash_on: str | None
) -> tuple[list[Row], dict[str, MolGraph], dict[str, np.ndarray]]:
    """In the worker: parse every text, then featurise and take the scaffold of each molecule."""
    rows: list[Row] = []
    for text in texts:
        if crash_on is not None and str(text).strip() == crash_on:
            ctypes.string_at(0)  # reads address 0: signal 11, as a real RDKit crash would
        parsed = parse_smiles(text)
        rows.append((parsed.input, parsed.smiles, parsed.error, parsed.note))
    canonical = list(dict.fromkeys(smiles for _, smiles, _, _ in rows if smiles is not None))
    graphs, descriptors = featurize_molecules(canonical)
    for smiles in canonical:
        bemis_murcko_scaffold(smiles)  # the splits take it later, in the server
    return rows, dict(zip(canonical, graphs)), dict(zip(canonical, descriptors))


def _rows_text(start: int, stop: int) -> str:
    return f"row {start + 1}" if stop - start == 1 else f"rows {start + 1}-{stop}"


def parse_isolated(
    texts: list[object], worker: IsolatedWorker | None = None, chunk: int = CHUNK
) -> list[ParsedMolecule]:
    """:func:`~gate_core.featurizers.molecule.parse_smiles` of every text, done in the worker.

    Returns one :class:`ParsedMolecule` per text, in order, with ``mol`` left ``None`` (parse the
    canonical SMILES again when a molecule object is needed). Raises
    :class:`~gate_core.isolation.WorkerCrashed` naming the rows (1-based) that were in flight.
    """
    worker = worker or default_worker()
    crash_on = os.environ.get(CRASH_ENV) or None
    out: list[ParsedMolecule] = []
    for start in range(0, len(texts), chunk):
        part = list(texts[start : start + chunk])
        what = f"reading {_rows_text(start, start + len(part))} of {len(texts):,}"
        try:
            rows, graphs, descriptors = worker.run(
                _work, part, crash_on, what=what, timeout=CHUNK_TIMEOUT_S
            )
        except WorkerCrashed as exc:
            raise type(exc)(f"{exc}; remove or fix those rows and try again") from exc
        prime_caches(graphs, descriptors)
        out.extend(ParsedMolecule(i, s, None, e, n) for i, s, e, n in rows)
    return out


def _draw(smiles: list[str], size: tuple[int, int]) -> list[str]:
    """In the worker: an SVG drawing of each canonical SMILES ("" when RDKit cannot draw it)."""
    from rdkit import Chem
    from rdkit.Chem.Draw import rdMolDraw2D

    out = []
    for text in smiles:
        mol = Chem.MolFromSmiles(text) if text else None
        if mol is None:
            out.append("")
            continue
        drawer = rdMolDraw2D.MolDraw2DSVG(*size)
        drawer.drawOptions().clearBackground = False
        drawer.DrawMolecule(mol)  # 2D coordinates: native code, hence here
        drawer.FinishDrawing()
        out.append(drawer.GetDrawingText())
    return out


def draw_isolated(
    smiles: list[str], size: tuple[int, int], worker: IsolatedWorker | None = None
) -> list[str]:
    """SVG drawings of canonical SMILES, made in the worker (about 1 ms a molecule).

    Raises :class:`~gate_core.isolation.WorkerCrashed` if drawing crashed it."""
    return (worker or default_worker()).run(
        _draw,
        list(smiles),
        tuple(size),
        what=f"drawing {len(smiles):,} molecules",
        timeout=CHUNK_TIMEOUT_S,
    )
