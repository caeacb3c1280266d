"""gate_core.data.seen: matching test molecules against the pre-training molecules."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from gate_core.data.seen import molecule_key, pretraining_keys, seen_mask


def test_key_ignores_stereo_and_protonation_but_not_connectivity():
    assert (
        molecule_key("C[C@H](N)C(=O)O")
        == molecule_key("CC(N)C(=O)O")
        == molecule_key("CC([NH3+])C(=O)[O-]")
    )
    assert molecule_key("CCO") != molecule_key("COC")
    assert molecule_key("not a molecule") is None


def test_pretraining_keys_only_count_the_backbone_tasks_plus_extra(tmp_path: Path):
    table = tmp_path / "table.csv"
    pd.DataFrame(
        {
            "smiles": ["CCO", "c1ccccc1", "CCCC"],
            "task": ["Tb_K", "Tm_K", "permittivity"],
            "value": [351.4, 278.7, 1.8],
        }
    ).to_csv(table, index=False)
    keys = pretraining_keys(table, ["Tb_K", "Tm_K"], extra_smiles=["CC(=O)Nc1ccc(O)cc1"])
    mask = seen_mask(["OCC", "CCCC", "CC(=O)Nc1ccc(O)cc1", "C1CCCCC1"], keys)
    np.testing.assert_array_equal(
        mask, [True, False, True, False]
    )  # CCCC has only a held-out label
