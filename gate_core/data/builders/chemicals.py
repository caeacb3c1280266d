"""Pre-training table from the property files bundled in ``chemicals==1.5.2``.

Why: ~40 CAS-keyed tables in the wheel give ~25k organic molecules with 23 real, measured
properties — enough to pre-train a multi-task backbone offline. This module joins them to SMILES
through the wheel's identifier tables, converts units, evaluates the temperature-dependent
correlations at 298.15 K, drops implausible values and keeps one median value per canonical
SMILES and property. See ``/work/shared/DATA.md`` for the recipe this follows.

The ``source`` column lists the file(s) whose values entered the median, in priority order,
separated by ``;`` (paths relative to the wheel's ``chemicals/`` folder).
"""

from __future__ import annotations

import gzip
import io
import zipfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from gate_core.data.builders.wheels import fetch_wheel
from gate_core.featurizers.molecule import parse_smiles

T298 = 298.15
ROOT = "chemicals/"
IDENTIFIER_FILES = (  # priority order for CAS -> SMILES
    "Identifiers/chemical identifiers pubchem small.tsv",
    "Identifiers/chemical identifiers example user db.tsv",
    "Identifiers/chemical identifiers pubchem large.tsv",
)
EXCLUDED_FILES = frozenset({"Misc/common_chemistry_data.tsv"})  # non-commercial licence
OUTPUT_COLUMNS = ["smiles", "task", "value", "source"]


@dataclass(frozen=True)
class PropertySpec:
    """One property of the table; ``pretraining`` False means held out as a task-addition target."""

    name: str
    label: str
    unit: str
    pretraining: bool
    transform: str = ""


TASKS: list[PropertySpec] = [
    PropertySpec("Tm_K", "Melting point", "K", True),
    PropertySpec("Tb_K", "Boiling point", "K", True),
    PropertySpec("Tc_K", "Critical temperature", "K", True),
    PropertySpec("Pc_bar", "Critical pressure", "bar", True, "Pa / 1e5"),
    PropertySpec("Vc_cm3mol", "Critical volume", "cm³/mol", True, "m³/mol × 1e6"),
    PropertySpec("omega", "Acentric factor", "", True),
    PropertySpec("Hf_gas_kJmol", "Enthalpy of formation (gas)", "kJ/mol", True, "J/mol / 1000"),
    PropertySpec("density_kgm3", "Density", "kg/m³", True),
    PropertySpec("logKow", "log Kow (octanol/water)", "log10", True),
    PropertySpec("nD", "Refractive index n_D", "", True),
    PropertySpec("S0_gas_JmolK", "Standard entropy (gas)", "J/(mol·K)", True),
    PropertySpec(
        "Hvap298_kJmol", "Enthalpy of vaporisation at 298 K", "kJ/mol", True, "J/mol / 1000"
    ),
    PropertySpec(
        "logPsat298_Pa",
        "log10 vapour pressure at 298 K",
        "log10(Pa)",
        True,
        "Landolt Antoine ln(P/Pa) = A − B/(T + C) at 298.15 K, within 20 K of [Tmin, Tmax]; log10",
    ),
    PropertySpec("hansen_dD", "Hansen δD (dispersion)", "MPa^0.5", True, "Pa^0.5 / 1000"),
    PropertySpec("hansen_dP", "Hansen δP (polar)", "MPa^0.5", True, "Pa^0.5 / 1000"),
    PropertySpec("hansen_dH", "Hansen δH (hydrogen bonding)", "MPa^0.5", True, "Pa^0.5 / 1000"),
    PropertySpec(
        "permittivity",
        "Relative permittivity (liquid)",
        "",
        False,
        "tabulated value at its own temperature (mostly 293–298 K)",
    ),
    PropertySpec("Tflash_K", "Flash point", "K", False),
    PropertySpec("Hfus_kJmol", "Enthalpy of fusion", "kJ/mol", False, "J/mol / 1000"),
    PropertySpec("dipole_D", "Dipole moment", "D", False),
    PropertySpec(
        "surface_tension_mNm",
        "Surface tension at 298 K",
        "mN/m",
        False,
        "Jasper-Lange σ = a − b·(T/°C) at 25 °C, within 30 K of [Tmin, Tmax]",
    ),
    PropertySpec("Tautoignition_K", "Autoignition temperature", "K", False),
    PropertySpec(
        "log_viscosity298_Pas",
        "log10 liquid viscosity at 298 K",
        "log10(Pa·s)",
        False,
        "Viswanath-Natarajan log10(μ/cP) = A + B/(C − T) at 298.15 K, within 20 K of [Tmin, Tmax];"
        " minus 3 for Pa·s",
    ),
]
TASK_NAMES = [t.name for t in TASKS]
PRETRAINING_TASKS = [t.name for t in TASKS if t.pretraining]
HELD_OUT_TASKS = [t.name for t in TASKS if not t.pretraining]

# Multiplier from the wheel's SI units to the table's units.
SCALE: dict[str, float] = {
    "Pc_bar": 1e-5,
    "Vc_cm3mol": 1e6,
    "Hf_gas_kJmol": 1e-3,
    "Hvap298_kJmol": 1e-3,
    "Hfus_kJmol": 1e-3,
    "hansen_dD": 1e-3,
    "hansen_dP": 1e-3,
    "hansen_dH": 1e-3,
}

# Values outside these (table units) are data-entry errors, not chemistry. The first five are
# from DATA.md; the rest only catch the few clear errors found by inspecting the tails: Pc of
# 162–449 bar (Yaws, webbook), Vc of 30,000 cm³/mol (webbook), Antoine extrapolations near
# their pole (log10 Psat of −41,820 or 17.6; Psat at 298 K cannot exceed ~Pc, i.e. 10^7 Pa),
# a viscosity of 10^4.6 Pa·s for isobutyl acetate and a 773 K flash point for 4-aminophenol.
BOUNDS: dict[str, tuple[float, float]] = {
    "Tb_K": (100.0, 1200.0),
    "Tm_K": (50.0, 900.0),
    "Tc_K": (150.0, 1500.0),
    "density_kgm3": (500.0, 3500.0),
    "nD": (1.2, 2.0),
    "Pc_bar": (1.0, 150.0),
    "Vc_cm3mol": (20.0, 10000.0),
    "logPsat298_Pa": (-15.0, 7.0),
    "log_viscosity298_Pas": (-5.0, 2.0),
    "Tflash_K": (150.0, 700.0),
}


def antoine_log10_psat(a: pd.Series, b: pd.Series, c: pd.Series, t: float = T298) -> pd.Series:
    """log10(P/Pa) from the natural-log Antoine form ln(P/Pa) = A − B/(T + C) (Landolt table)."""
    return (a - b / (t + c)) / np.log(10.0)


def jasper_lange_sigma(a: pd.Series, b: pd.Series, t: float = T298) -> pd.Series:
    """Surface tension in mN/m from σ = a − b·(T/°C)."""
    return a - b * (t - 273.15)


def viswanath_log10_mu(a: pd.Series, b: pd.Series, c: pd.Series, t: float = T298) -> pd.Series:
    """log10(μ/Pa·s) from log10(μ/cP) = A + B/(C − T); 1 cP = 1e-3 Pa·s."""
    return a + b / (c - t) - 3.0


def _in_range(df: pd.DataFrame, margin: float, t: float = T298) -> pd.Series:
    return (df["Tmin"] - margin <= t) & (t <= df["Tmax"] + margin)


def _landolt(df: pd.DataFrame) -> pd.Series:
    return antoine_log10_psat(df["A"], df["B"], df["C"]).where(_in_range(df, 20.0))


def _jasper_lange(df: pd.DataFrame) -> pd.Series:
    return jasper_lange_sigma(df["a"], df["b"]).where(_in_range(df, 30.0))


def _viswanath(df: pd.DataFrame) -> pd.Series:
    return viswanath_log10_mu(df["A"], df["B"], df["C"]).where(_in_range(df, 20.0))


Column = str | Callable[[pd.DataFrame], pd.Series]

PHYS = "Misc/Physical Constants of Organic Compounds.csv"
WEBBOOK = "Misc/webbook_constants.tsv"
WIKIDATA = "Misc/wikidata_properties.tsv"
CRC_THERMO = "Heat Capacity/CRC Standard Thermodynamic Properties of Chemical Substances.tsv"
YAWS_HS = "Reactions/Yaws Hf S0 (g).tsv"
IEC = "Safety/IS IEC 60079-20-1 2010.tsv"
NFPA = "Safety/NFPA 497 2008.tsv"
HANSEN = (
    "Misc/ruben_manuel_hansen_solubility_parameters.tsv",
    "Misc/alshehri_hansen_solubility_parameters.tsv",
)
CRITICAL = tuple(
    f"Critical Properties/{f}.tsv"
    for f in (
        "IUPACOrganicCriticalProps",
        "CRCCriticalOrganics",
        "Appendix to PSRK Revision 4",
        "DIPPRPinaMartines",
    )
) + (WEBBOOK, "Critical Properties/Yaws Collection.tsv")
DIPOLES = (
    "Misc/cccbdb.nist.gov Dipoles.csv",
    "Misc/Poling Dipole.csv",
    "Misc/Muller Supporting Info Dipoles.csv",
)

# task -> (file, column or derived-value function), highest priority first.
SOURCES: dict[str, tuple[tuple[str, Column], ...]] = {
    "Tm_K": (
        (PHYS, "Tm"),
        ("Phase Change/OpenNotebook Melting Points.tsv", "Tm"),
        (WEBBOOK, "Tm"),
        (WIKIDATA, "Tm"),
    ),
    "Tb_K": (
        (PHYS, "Tb"),
        (WEBBOOK, "Tb"),
        ("Phase Change/Yaws Boiling Points.tsv", "Tb"),
        (WIKIDATA, "Tb"),
    ),
    "Tc_K": tuple((f, "Tc") for f in CRITICAL),
    "Pc_bar": tuple((f, "Pc") for f in CRITICAL),
    "Vc_cm3mol": tuple((f, "Vc") for f in CRITICAL),
    "omega": ((CRITICAL[2], "omega"), (CRITICAL[5], "omega")),
    "Hf_gas_kJmol": (
        ("Reactions/ATcT 1.112 (g).tsv", "Hfg"),
        (CRC_THERMO, "Hfg"),
        (WEBBOOK, "Hfg"),
        (YAWS_HS, "Hfg"),
    ),
    "density_kgm3": ((PHYS, "rho"),),
    "logKow": (
        ("Environment/Syrres logP data.csv.gz", "logP"),
        ("Environment/CRC logP table.tsv", "logP"),
        (WIKIDATA, "logP"),
    ),
    "nD": (("Misc/CRC Handbook Organic RI.csv", "RI"), (PHYS, "RI"), (WIKIDATA, "RI")),
    "S0_gas_JmolK": ((CRC_THERMO, "S0g"), (WEBBOOK, "S0g"), (YAWS_HS, "S0g")),
    "Hvap298_kJmol": (
        ("Phase Change/Ghazerati Appendix Vaporization Enthalpy.tsv", "Hvap298"),
        ("Phase Change/CRC Handbook Heat of Vaporization.tsv", "Hvap298"),
    ),
    "logPsat298_Pa": (("Vapor Pressure/Landolt_antoine_V20.tsv", _landolt),),
    "hansen_dD": tuple((f, "HANSEN_DELTA_D") for f in HANSEN),
    "hansen_dP": tuple((f, "HANSEN_DELTA_P") for f in HANSEN),
    "hansen_dH": tuple((f, "HANSEN_DELTA_H") for f in HANSEN),
    "permittivity": (
        ("Electrolytes/Permittivity (Dielectric Constant) of Liquids.tsv", "Permittivity"),
    ),
    "Tflash_K": (
        ("Safety/DIPPR T_flash Serat.csv", "T_flash"),
        (IEC, "T_flash"),
        (NFPA, "T_flash"),
        (WIKIDATA, "T_flash"),
    ),
    "Hfus_kJmol": (
        ("Phase Change/CRC Handbook Heat of Fusion.tsv", "Hfus"),
        (WEBBOOK, "Hfus"),
        (WIKIDATA, "Hfus"),
    ),
    "dipole_D": tuple((f, "dipole_moment") for f in DIPOLES),
    "surface_tension_mNm": (("Interface/Jasper-Lange.tsv", _jasper_lange),),
    "Tautoignition_K": (
        (IEC, "T_autoignition"),
        (NFPA, "T_autoignition"),
        (WIKIDATA, "T_autoignition"),
    ),
    "log_viscosity298_Pas": (("Viscosity/Viswanath Natarajan Dynamic 3 term.tsv", _viswanath),),
}


def normalise_cas(cas: pd.Series) -> pd.Series:
    """Dashed CAS numbers; integer-stored ones (``50000``) become ``50-00-0``, junk becomes NaN."""
    s = cas.astype("string").str.strip()
    digits = s.str.fullmatch(r"\d{5,10}").fillna(False)
    s = s.where(~digits, s.str[:-3] + "-" + s.str[-3:-1] + "-" + s.str[-1])
    return s.where(s.str.fullmatch(r"\d{2,7}-\d{2}-\d").fillna(False)).astype(object)


def apply_bounds(
    long: pd.DataFrame, bounds: dict[str, tuple[float, float]] = BOUNDS
) -> pd.DataFrame:
    """Drop non-finite values and values outside ``bounds[task]`` (inclusive)."""
    keep = np.isfinite(long["value"].to_numpy(dtype=float))
    lo = (
        long["task"].map({k: v[0] for k, v in bounds.items()}).fillna(-np.inf).to_numpy(dtype=float)
    )
    hi = long["task"].map({k: v[1] for k, v in bounds.items()}).fillna(np.inf).to_numpy(dtype=float)
    value = long["value"].to_numpy(dtype=float)
    return long[keep & (value >= lo) & (value <= hi)]


def median_merge(long: pd.DataFrame) -> pd.DataFrame:
    """One row per (smiles, task): the median value and the contributing sources, best first.

    ``long`` needs a ``priority`` column (0 = most trusted source for that task) so that the
    ``source`` string is ordered and stable.
    """
    df = long.sort_values(["smiles", "task", "priority", "source"], kind="stable")
    grouped = df.groupby(["smiles", "task"], sort=True)
    out = grouped["value"].median().to_frame()
    out["source"] = grouped["source"].agg(lambda s: ";".join(dict.fromkeys(s)))
    return out.reset_index()[OUTPUT_COLUMNS]


def _read_table(archive: zipfile.ZipFile, member: str) -> pd.DataFrame:
    raw = archive.read(ROOT + member)
    if member.endswith(".gz"):
        raw = gzip.decompress(raw)
    # Every property file is tab-separated, whatever its extension.
    return pd.read_csv(
        io.BytesIO(raw), sep="\t", dtype={"CAS": str}, encoding="utf-8", encoding_errors="replace"
    )


def collect_values(archive: zipfile.ZipFile) -> pd.DataFrame:
    """Long table ``cas, task, value, source, priority`` in table units, before SMILES mapping."""
    tables: dict[str, pd.DataFrame] = {}
    parts = []
    for task, sources in SOURCES.items():
        for priority, (member, column) in enumerate(sources):
            if member not in tables:
                tables[member] = _read_table(archive, member)
            df = tables[member]
            raw = column(df) if callable(column) else df[column]
            values = pd.to_numeric(raw, errors="coerce") * SCALE.get(task, 1.0)
            parts.append(
                pd.DataFrame(
                    {
                        "cas": normalise_cas(df["CAS"]),
                        "task": task,
                        "value": values,
                        "source": member,
                        "priority": priority,
                    }
                )
            )
    long = pd.concat(parts, ignore_index=True)
    return apply_bounds(long.dropna(subset=["cas"])).reset_index(drop=True)


def cas_to_smiles(archive: zipfile.ZipFile, wanted: set[str]) -> dict[str, str]:
    """First SMILES for each wanted CAS over the identifier tables, in priority order.

    The tables are headerless and ragged (a variable number of synonyms follow), so they are
    split by hand: field 2 (1-based) is the CAS number, field 5 the SMILES.
    """
    found: dict[str, str] = {}
    for member in IDENTIFIER_FILES:
        for line in archive.read(ROOT + member).decode("utf-8", errors="replace").splitlines():
            fields = line.split("\t", 5)
            if len(fields) < 5:
                continue
            cas, smiles = fields[1].strip(), fields[4].strip()
            if cas in wanted and cas not in found and smiles:
                found[cas] = smiles
    return found


def canonical_single_organic(smiles: Iterable[str]) -> dict[str, str]:
    """Canonical SMILES for inputs that are one organic fragment; others are left out.

    Salts, mixtures and hydrates are rejected rather than stripped: a property measured on a
    salt is not the property of its largest ion.
    """
    out: dict[str, str] = {}
    for s in smiles:
        parsed = parse_smiles(s, require_organic=True)
        if parsed.ok and parsed.note is None:
            out[s] = parsed.smiles
    return out


def build_chemicals_table(wheel: Path | None = None) -> pd.DataFrame:
    """The long pre-training/held-out table: ``smiles, task, value, source``, sorted."""
    wheel = wheel or fetch_wheel("chemicals")
    with zipfile.ZipFile(wheel) as archive:
        long = collect_values(archive)
        cas_smiles = cas_to_smiles(archive, set(long["cas"]))
    long["raw_smiles"] = long["cas"].map(cas_smiles)
    long = long.dropna(subset=["raw_smiles"])
    canonical = canonical_single_organic(long["raw_smiles"].unique())
    long["smiles"] = long["raw_smiles"].map(canonical)
    long = long.dropna(subset=["smiles"])
    table = median_merge(long)
    table["task"] = pd.Categorical(table["task"], categories=TASK_NAMES, ordered=True)
    table = table.sort_values(["smiles", "task"], kind="stable").reset_index(drop=True)
    return table.astype({"task": str})


def write_csv_gz(df: pd.DataFrame, path: Path) -> None:
    """Byte-reproducible gzip CSV (fixed float format, no timestamp or file name in the header)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    text = df.to_csv(index=False, float_format="%.8g", lineterminator="\n")
    path.write_bytes(gzip.compress(text.encode("utf-8"), compresslevel=9, mtime=0))


def summarise(table: pd.DataFrame) -> pd.DataFrame:
    """Molecules per task, in :data:`TASKS` order, for the build report."""
    counts = table.groupby("task")["smiles"].nunique()
    return pd.DataFrame(
        {"task": TASK_NAMES, "molecules": [int(counts.get(t, 0)) for t in TASK_NAMES]}
    )
