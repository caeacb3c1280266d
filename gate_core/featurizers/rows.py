"""Parse and featurise one chunk of input rows in a single call: the streaming predict's worker job.

Why its own module: the worker processes of :mod:`gate_core.streaming` import only this (NumPy
and RDKit, never torch), so each starts in about a second and holds no torch thread pool to
oversubscribe the cores with. Every row comes back, in order: a canonical SMILES with its graph
and descriptor row, or the reason it cannot be used. The molecules are the ones
:func:`~gate_core.featurizers.molecule.parse_smiles` gives, so a streamed prediction equals an
in-process one.
"""

from __future__ import annotations

import io
from dataclasses import dataclass

import numpy as np
from rdkit import Chem

from gate_core.featurizers.descriptors import FAST_DESCRIPTOR_NAMES, fast_descriptors
from gate_core.featurizers.graph import PackedGraphs, mols_to_packed
from gate_core.featurizers.molecule import parse_smiles_once, size_error


@dataclass
class FeaturizedRows:
    """One chunk of rows: what was given, the canonical SMILES or the reason, and the features
    of the valid rows (in row order).

    Shapes (R rows, N valid): ``inputs``, ``smiles``, ``errors``, ``notes`` have R entries;
    ``graphs`` holds N molecules; ``descriptors`` is (N, n_descriptors) raw (the model scales).
    """

    inputs: list[str]
    smiles: list[str | None]
    errors: list[str | None]
    notes: list[str | None]
    graphs: PackedGraphs
    descriptors: np.ndarray

    def __len__(self) -> int:
        return len(self.inputs)

    @property
    def ok_rows(self) -> np.ndarray:
        """Indices (into the chunk) of the rows that have a molecule."""
        return np.flatnonzero([s is not None for s in self.smiles])


def sdf_record_smiles(record: str) -> tuple[str | None, str | None]:
    """(SMILES, None) of one ``$$$$``-terminated SDF record's molecule, or (None, why not).

    Read on its own, as :func:`gate_core.data.io.read_table` reads records, so a broken
    record cannot swallow the next one.
    """
    supplier = Chem.ForwardSDMolSupplier(
        io.BytesIO((record.rstrip("\n") + "\n$$$$\n").encode("utf-8")), sanitize=True
    )
    mol = next(supplier, None)
    reason = "RDKit could not read the record" if mol is None else size_error(mol)
    return (None, reason) if reason else (Chem.MolToSmiles(mol), None)


def featurize_rows(
    items: list[object], *, descriptors: bool = True, sdf_first_record: int | None = None
) -> FeaturizedRows:
    """Parse, canonicalise and featurise every item (a SMILES text, or an SDF record's text when
    ``sdf_first_record`` gives the 1-based number of the first record, for the messages).

    Each molecule is parsed once here: its canonical molecule feeds both the graph and the
    descriptors (in-process prediction parses it again for the descriptors, from a cache).
    """
    inputs: list[str] = []
    smiles: list[str | None] = []
    errors: list[str | None] = []
    notes: list[str | None] = []
    mols: list[Chem.Mol] = []
    for i, item in enumerate(items):
        text, reason = item, None
        if sdf_first_record is not None:
            text, reason = sdf_record_smiles(str(item))
            reason = reason and f"SDF record {sdf_first_record + i}: {reason}"
        parsed = parse_smiles_once(text)
        inputs.append(parsed.input)
        smiles.append(parsed.smiles)
        errors.append(reason or parsed.error)
        notes.append(parsed.note)
        if parsed.ok:
            mols.append(parsed.mol)
    canonical = [s for s in smiles if s is not None]
    width = len(FAST_DESCRIPTOR_NAMES) if descriptors else 0
    rows = [fast_descriptors(m) for m in mols] if descriptors else []
    table = np.stack(rows) if rows else np.zeros((len(mols), width), dtype=np.float32)
    return FeaturizedRows(inputs, smiles, errors, notes, mols_to_packed(mols, canonical), table)
