"""gate_core.featurizers.rows: a chunk's rows come back in order, each with its molecule's
features (the same as the in-process featurisers give) or the reason it has none."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
from rdkit import Chem

from gate_core.featurizers.descriptors import fast_descriptors
from gate_core.featurizers.graph import mol_to_graph
from gate_core.featurizers.molecule import parse_smiles
from gate_core.featurizers.rows import featurize_rows

ROWS = ["CCO", "not-a-smiles", "", "C[C@H](N)C(=O)O", "[Na+].CC(=O)[O-]", "C" * 10_001, "c1ccccc1O"]


def test_every_row_in_order_with_its_reason() -> None:
    rows = featurize_rows(ROWS)
    assert len(rows) == len(ROWS) and rows.inputs[3] == ROWS[3]
    assert rows.ok_rows.tolist() == [0, 3, 4, 6]
    assert rows.errors[1].startswith("RDKit could not parse") and rows.errors[2] == "empty SMILES"
    assert "10,001 characters" in rows.errors[5]
    assert rows.smiles[4] == "CC(=O)[O-]" and "salt/mixture stripped" in rows.notes[4]


def test_features_equal_the_in_process_featurisers() -> None:
    rows = featurize_rows(ROWS)
    graphs = rows.graphs.graphs()
    assert len(graphs) == len(rows.descriptors) == 4
    for graph, desc, i in zip(graphs, rows.descriptors, rows.ok_rows):
        parsed = parse_smiles(ROWS[i])
        expected = mol_to_graph(parsed.mol, parsed.smiles)
        assert all(np.array_equal(a, b) for a, b in zip(graph, expected))
        assert np.array_equal(desc, fast_descriptors(parsed.mol))


def test_no_valid_row_gives_empty_features() -> None:
    rows = featurize_rows(["", "xx"], descriptors=False)
    assert (
        rows.graphs.graphs() == [] and rows.descriptors.shape == (0, 0) and rows.ok_rows.size == 0
    )


def test_sdf_records_name_the_broken_one() -> None:
    good = Chem.MolToMolBlock(Chem.MolFromSmiles("CCO"))
    rows = featurize_rows([good, "broken\n\n\nM  END\n"], sdf_first_record=7)
    assert rows.smiles[0] == "CCO" and rows.errors[0] is None
    assert (
        rows.smiles[1] is None and rows.errors[1] == "SDF record 8: RDKit could not read the record"
    )


def test_worker_module_does_not_import_torch() -> None:
    """The workers import this module only; torch there would start its thread pool per worker."""
    code = "import sys, gate_core.featurizers.rows; sys.exit('torch' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], timeout=120).returncode == 0
