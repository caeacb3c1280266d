"""Dataset builders: conversions and merging on hand-made inputs, plus the committed tables.

Offline and fast: nothing here downloads a wheel or rebuilds a table.
"""

from __future__ import annotations

import gzip
import io
import math
import subprocess
import tarfile
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from rdkit import Chem

from gate_core.data.builders import chemicals as chem
from gate_core.data.builders.build import CHEMICALS_FILE
from gate_core.data.builders.targets import TARGET_GROUPS, TARGETS, merge_duplicates
from gate_core.data.builders.wheels import fetch_wheel, read_member

ROOT = Path(__file__).resolve().parents[3]
ASSETS = ROOT / "assets" / "data"
FIXTURES = ROOT / "tests" / "data"

PRETRAINING = [
    "Tm_K",
    "Tb_K",
    "Tc_K",
    "Pc_bar",
    "Vc_cm3mol",
    "omega",
    "Hf_gas_kJmol",
    "density_kgm3",
    "logKow",
    "nD",
    "S0_gas_JmolK",
    "Hvap298_kJmol",
    "logPsat298_Pa",
    "hansen_dD",
    "hansen_dP",
    "hansen_dH",
]
HELD_OUT = [
    "permittivity",
    "Tflash_K",
    "Hfus_kJmol",
    "dipole_D",
    "surface_tension_mNm",
    "Tautoignition_K",
    "log_viscosity298_Pas",
]


@pytest.fixture(scope="module")
def table() -> pd.DataFrame:
    return pd.read_csv(ASSETS / CHEMICALS_FILE)


def test_task_names_and_split() -> None:
    assert chem.PRETRAINING_TASKS == PRETRAINING
    assert chem.HELD_OUT_TASKS == HELD_OUT
    assert set(chem.SOURCES) == set(chem.TASK_NAMES)
    assert all(name in TARGETS for name in HELD_OUT)


def test_non_commercial_file_is_not_a_source() -> None:
    used = {member for sources in chem.SOURCES.values() for member, _ in sources}
    assert "Misc/common_chemistry_data.tsv" in chem.EXCLUDED_FILES
    assert not used & chem.EXCLUDED_FILES


def test_integer_cas_gets_dashes() -> None:
    cas = pd.Series(["50000", "7732185", "64-17-5", " 71-43-2 ", "n/a", None])
    out = chem.normalise_cas(cas).tolist()
    assert out[:4] == ["50-00-0", "7732-18-5", "64-17-5", "71-43-2"]
    assert all(pd.isna(v) for v in out[4:])


def test_unit_scales() -> None:
    assert 4_898_000 * chem.SCALE["Pc_bar"] == pytest.approx(48.98)
    assert 0.000256 * chem.SCALE["Vc_cm3mol"] == pytest.approx(256.0)
    assert 17_000 * chem.SCALE["hansen_dD"] == pytest.approx(17.0)
    assert -234_000 * chem.SCALE["Hf_gas_kJmol"] == pytest.approx(-234.0)


def test_antoine_hand_computed() -> None:
    # ln P = 20 − 3000 / (298.15 − 50) = 7.910538; log10 P = 7.910538 / ln 10 = 3.435503
    value = chem.antoine_log10_psat(pd.Series([20.0]), pd.Series([3000.0]), pd.Series([-50.0]))
    assert value.iloc[0] == pytest.approx(3.435503, abs=1e-6)
    # Landolt constants for formaldehyde must give ~1 atm at its normal boiling point (254.05 K).
    bp = chem.antoine_log10_psat(
        pd.Series([21.37029224807774]),
        pd.Series([2204.1265544176204]),
        pd.Series([-30.15]),
        t=254.05,
    )
    assert bp.iloc[0] == pytest.approx(math.log10(101_325), abs=0.02)


def test_jasper_lange_and_viscosity_hand_computed() -> None:
    sigma = chem.jasper_lange_sigma(pd.Series([28.88]), pd.Series([0.1224]))
    assert sigma.iloc[0] == pytest.approx(28.88 - 0.1224 * 25.0)
    # log10(μ/cP) = −0.8383 + (−267.36)/(188.83 − 350) = 0.820570; in Pa·s subtract 3
    mu = chem.viswanath_log10_mu(
        pd.Series([-0.8383]), pd.Series([-267.36]), pd.Series([188.83]), t=350.0
    )
    assert mu.iloc[0] == pytest.approx(-2.179430, abs=1e-6)


def test_correlations_only_near_their_range() -> None:
    df = pd.DataFrame(
        {"a": [30.0, 30.0], "b": [0.1, 0.1], "Tmin": [250.0, 400.0], "Tmax": [350.0, 500.0]}
    )
    assert chem._jasper_lange(df).isna().tolist() == [False, True]


def test_sanity_bounds() -> None:
    long = pd.DataFrame(
        {"task": ["Tb_K"] * 5 + ["logKow"], "value": [50.0, 300.0, 1300.0, np.nan, np.inf, 1e6]}
    )
    kept = chem.apply_bounds(long)
    assert kept["value"].tolist() == [300.0, 1e6]


def test_median_merge_orders_sources_by_priority() -> None:
    long = pd.DataFrame(
        {
            "smiles": ["CCO", "CCO", "CCO", "C=O"],
            "task": ["Tb_K"] * 4,
            "value": [351.0, 352.0, 360.0, 254.0],
            "source": ["b.tsv", "a.tsv", "b.tsv", "b.tsv"],
            "priority": [1, 0, 1, 1],
        }
    )
    out = chem.median_merge(long)
    assert list(out.columns) == chem.OUTPUT_COLUMNS
    row = out[out["smiles"] == "CCO"].iloc[0]
    assert row["value"] == 352.0 and row["source"] == "a.tsv;b.tsv"
    assert len(out) == 2


def test_organic_single_fragment_filter() -> None:
    kept = chem.canonical_single_organic(["OCC", "CC(=O)[O-].[Na+]", "O", "C", "CC[Hg]CC"])
    assert kept == {"OCC": "CCO"}


def test_classification_majority_and_ties() -> None:
    df = pd.DataFrame({"smiles": ["A", "A", "A", "B", "B", "C"], "value": [1, 1, 0, 1, 0, 0]})
    out = merge_duplicates(df, "classification")
    assert out.to_dict("list") == {"smiles": ["A", "C"], "value": [1, 0]}


def test_fetch_wheel_uses_cache_without_pip(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    wheel = tmp_path / "chemicals-1.5.2-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as archive:
        archive.writestr("chemicals/x.tsv", "CAS\tTb\n64-17-5\t351.4\n")

    def no_pip(*args: object, **kwargs: object) -> None:
        raise AssertionError("pip must not run when the wheel is cached")

    monkeypatch.setattr(subprocess, "run", no_pip)
    assert fetch_wheel("chemicals", cache_dir=tmp_path) == wheel
    assert read_member(wheel, "chemicals/x.tsv").startswith(b"CAS\tTb")


def test_sdist_only_package_is_read_from_its_tarball(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    sdist = tmp_path / "PyBioMed-1.0.tar.gz"
    payload = b"smi\tlogPapp\n"
    with tarfile.open(sdist, "w:gz") as archive:
        info = tarfile.TarInfo("PyBioMed-1.0/PyBioMed/example/caco2/x.tsv")
        info.size = len(payload)
        archive.addfile(info, io.BytesIO(payload))
    monkeypatch.setattr(
        subprocess, "run", lambda *a, **k: pytest.fail("pip must not run when the sdist is cached")
    )
    assert fetch_wheel("PyBioMed", cache_dir=tmp_path) == sdist
    assert read_member(sdist, "PyBioMed/example/caco2/x.tsv") == payload
    with pytest.raises(KeyError):
        read_member(sdist, "PyBioMed/missing.tsv")


def test_chemicals_table_schema(table: pd.DataFrame) -> None:
    assert list(table.columns) == chem.OUTPUT_COLUMNS
    assert set(table["task"]) == set(chem.TASK_NAMES)
    assert np.isfinite(table["value"]).all() and table.notna().all().all()
    assert not table.duplicated(["smiles", "task"]).any()
    assert 24_000 <= table["smiles"].nunique() <= 25_500
    assert 80_000 <= len(table) <= 90_000
    for task, (lo, hi) in chem.BOUNDS.items():
        values = table.loc[table["task"] == task, "value"]
        assert values.between(lo, hi).all(), task


def test_chemicals_table_is_reproducible_gzip() -> None:
    header = (ASSETS / CHEMICALS_FILE).read_bytes()[:10]
    assert header[4:8] == b"\x00\x00\x00\x00"  # mtime 0: byte-identical on rebuild
    assert not header[3] & 0x08  # no file name stored


def test_spot_checks(table: pd.DataFrame) -> None:
    value = table.set_index(["smiles", "task"])["value"]
    assert value["c1ccccc1", "Tb_K"] == pytest.approx(353.2, abs=1.0)
    assert value["CCO", "Tb_K"] == pytest.approx(351.4, abs=1.0)
    assert value["CC(C)=O", "Tc_K"] == pytest.approx(508.1, abs=2.0)
    assert value["CC(C)=O", "logPsat298_Pa"] == pytest.approx(math.log10(30_800), abs=0.05)


def test_smiles_are_canonical(table: pd.DataFrame) -> None:
    sample = pd.Series(table["smiles"].unique()).sample(300, random_state=0)
    for smiles in sample:
        assert Chem.MolToSmiles(Chem.MolFromSmiles(smiles)) == smiles


@pytest.mark.parametrize("name", sorted(TARGETS))
def test_target_files(name: str) -> None:
    df = pd.read_csv(ASSETS / "targets" / f"{name}.csv")
    assert list(df.columns) == ["smiles", "value"]
    assert len(df) >= 130 and not df["smiles"].duplicated().any()
    assert np.isfinite(df["value"]).all() and df["smiles"].notna().all()
    assert df["smiles"].is_monotonic_increasing
    if TARGETS[name].task_type == "classification":
        assert set(df["value"]) == {0, 1}
    assert TARGETS[name].group in TARGET_GROUPS


def test_fixtures() -> None:
    pretrain = pd.read_csv(FIXTURES / "pretrain_tiny.csv.gz")
    assert list(pretrain.columns) == chem.OUTPUT_COLUMNS
    assert pretrain["smiles"].nunique() == 400 and set(pretrain["task"]) <= set(PRETRAINING)
    assert len(pretrain) < 400 * len(PRETRAINING) / 2  # sparse, like the real table
    regression = pd.read_csv(FIXTURES / "target_tiny.csv")
    assert list(regression.columns) == ["smiles", "value"] and len(regression) == 60
    classification = pd.read_csv(FIXTURES / "target_tiny_classification.csv")
    assert len(classification) == 80 and set(classification["value"]) == {0, 1}
    with gzip.open(FIXTURES / "pretrain_tiny.csv.gz", "rt") as f:
        assert f.readline().strip() == "smiles,task,value,source"
