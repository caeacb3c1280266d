"""RDKit 2D descriptors grouped into families: the computed source tasks of backbone v2.

Why families: in GATE a source task owns a chart. One chart per descriptor (~200) would make
the alignment losses and the transfer ratios O(200); one chart for all of them would give the
ratios nothing to choose between. A family groups descriptors that measure one thing
(lipophilicity, charge, H-bonding, size, shape, rings, functional groups, ...), so each family is
one vector-valued task, with its own chart, and the ratios choose among ~15 meaningful sources
(CheMeleon, arXiv 2506.15792, pre-trains on the same descriptors as one flat vector).

Why the transform: descriptor labels span orders of magnitude (``Ipc`` up to 1e30, ``BertzCT``
heavy-tailed, counts mostly 0). Each column is centred on its corpus median, scaled by its
robust spread and passed through ``asinh``, which is linear near 0 and logarithmic in the tails,
so one molecule with an extreme value cannot dominate a family's loss.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from rdkit import Chem
from rdkit.Chem import Descriptors, rdMolDescriptors
from rdkit.Chem.EState import EState, EState_VSA

#: Bumped whenever a family's membership or the transform changes (stored in the corpus and backbone).
FAMILY_SET_VERSION = "families-v1"


def _numbered(prefix: str, n: int) -> tuple[str, ...]:
    return tuple(f"{prefix}{i}" for i in range(1, n + 1))


@dataclass(frozen=True)
class DescriptorFamily:
    """One computed source task: a name, what it measures, and its RDKit descriptor names."""

    name: str
    description: str
    descriptors: tuple[str, ...]


FAMILIES: tuple[DescriptorFamily, ...] = (
    DescriptorFamily(
        "lipophilicity",
        "Crippen logP / molar refractivity and their surface contributions",
        ("MolLogP", "MolMR", *_numbered("SlogP_VSA", 12), *_numbered("SMR_VSA", 10)),
    ),
    DescriptorFamily(
        "partial_charge",
        "Gasteiger partial charges and charge-weighted surface areas",
        (
            "MaxPartialCharge",
            "MinPartialCharge",
            "MaxAbsPartialCharge",
            "MinAbsPartialCharge",
            *_numbered("PEOE_VSA", 14),
            "BCUT2D_CHGHI",
            "BCUT2D_CHGLO",
        ),
    ),
    DescriptorFamily(
        "electrotopology",
        "E-state indices and E-state surface bins",
        (
            "MaxEStateIndex",
            "MinEStateIndex",
            "MaxAbsEStateIndex",
            "MinAbsEStateIndex",
            *_numbered("EState_VSA", 11),
            *_numbered("VSA_EState", 10),
        ),
    ),
    DescriptorFamily(
        "polarity_hbond",
        "polar surface, H-bond donors/acceptors and OH/NH groups",
        (
            "TPSA",
            "NumHDonors",
            "NumHAcceptors",
            "NHOHCount",
            "NOCount",
            "NumHeteroatoms",
            "fr_Al_OH",
            "fr_Al_OH_noTert",
            "fr_Ar_OH",
            "fr_phenol",
            "fr_phenol_noOrthoHbond",
            "fr_NH0",
            "fr_NH1",
            "fr_NH2",
            "fr_Ar_NH",
            "fr_Nhpyrrole",
            "fr_SH",
            "fr_priamide",
        ),
    ),
    DescriptorFamily(
        "ionisable",
        "acidic and basic groups that set the charge state at pH 7",
        (
            "fr_COO",
            "fr_COO2",
            "fr_Al_COO",
            "fr_Ar_COO",
            "fr_quatN",
            "fr_amidine",
            "fr_guanido",
            "fr_tetrazole",
            "fr_phos_acid",
            "fr_phos_ester",
            "fr_sulfonamd",
            "fr_prisulfonamd",
            "fr_ArN",
            "fr_Ar_N",
            "fr_aniline",
            "fr_Ndealkylation1",
            "fr_Ndealkylation2",
            "fr_HOCCN",
            "fr_imide",
            "fr_barbitur",
        ),
    ),
    DescriptorFamily(
        "size",
        "mass, atom and electron counts, surface area",
        (
            "MolWt",
            "HeavyAtomMolWt",
            "ExactMolWt",
            "HeavyAtomCount",
            "NumValenceElectrons",
            "LabuteASA",
            "BCUT2D_MWHI",
            "BCUT2D_MWLOW",
        ),
    ),
    DescriptorFamily(
        "shape_connectivity",
        "Kier-Hall connectivity and shape indices",
        (
            "Chi0",
            "Chi0n",
            "Chi0v",
            "Chi1",
            "Chi1n",
            "Chi1v",
            "Chi2n",
            "Chi2v",
            "Chi3n",
            "Chi3v",
            "Chi4n",
            "Chi4v",
            "Kappa1",
            "Kappa2",
            "Kappa3",
            "HallKierAlpha",
            "Phi",
        ),
    ),
    DescriptorFamily(
        "complexity",
        "graph complexity, information content and fingerprint density",
        (
            "BalabanJ",
            "BertzCT",
            "Ipc",
            "AvgIpc",
            "SPS",
            "FpDensityMorgan1",
            "FpDensityMorgan2",
            "FpDensityMorgan3",
            "BCUT2D_LOGPHI",
            "BCUT2D_LOGPLOW",
            "BCUT2D_MRHI",
            "BCUT2D_MRLOW",
        ),
    ),
    DescriptorFamily(
        "rings",
        "ring counts by kind, spiro and bridgehead atoms",
        (
            "RingCount",
            "NumAromaticRings",
            "NumAliphaticRings",
            "NumSaturatedRings",
            "NumAromaticCarbocycles",
            "NumAromaticHeterocycles",
            "NumAliphaticCarbocycles",
            "NumAliphaticHeterocycles",
            "NumSaturatedCarbocycles",
            "NumSaturatedHeterocycles",
            "NumHeterocycles",
            "NumSpiroAtoms",
            "NumBridgeheadAtoms",
            "fr_benzene",
            "fr_bicyclic",
        ),
    ),
    DescriptorFamily(
        "drug_likeness",
        "QED, saturation, flexibility and stereo centres",
        (
            "qed",
            "FractionCSP3",
            "NumRotatableBonds",
            "NumAtomStereoCenters",
            "NumUnspecifiedAtomStereoCenters",
            "NumAmideBonds",
            "fr_unbrch_alkane",
            "fr_aryl_methyl",
        ),
    ),
    DescriptorFamily(
        "oxygen_groups",
        "carbonyl, ester, ether, amide and related groups",
        (
            "fr_C_O",
            "fr_C_O_noCOO",
            "fr_aldehyde",
            "fr_ketone",
            "fr_ketone_Topliss",
            "fr_ester",
            "fr_ether",
            "fr_methoxy",
            "fr_amide",
            "fr_lactam",
            "fr_lactone",
            "fr_urea",
            "fr_alkyl_carbamate",
            "fr_epoxide",
            "fr_allylic_oxid",
            "fr_para_hydroxylation",
        ),
    ),
    DescriptorFamily(
        "nitrogen_groups",
        "nitro, nitrile, azo, imine, hydrazine and related groups",
        (
            "fr_Imine",
            "fr_N_O",
            "fr_azide",
            "fr_azo",
            "fr_diazo",
            "fr_hdrzine",
            "fr_hdrzone",
            "fr_isocyan",
            "fr_nitrile",
            "fr_nitro",
            "fr_nitro_arom",
            "fr_nitro_arom_nonortho",
            "fr_nitroso",
            "fr_oxime",
            "fr_term_acetylene",
        ),
    ),
    DescriptorFamily(
        "sulfur_halogen_groups",
        "thio groups, sulfones and halogens",
        (
            "fr_C_S",
            "fr_sulfide",
            "fr_sulfone",
            "fr_thiocyan",
            "fr_isothiocyan",
            "fr_halogen",
            "fr_alkyl_halide",
        ),
    ),
    DescriptorFamily(
        "heterocycles",
        "common heteroaromatic and saturated heterocycles",
        (
            "fr_furan",
            "fr_imidazole",
            "fr_oxazole",
            "fr_pyridine",
            "fr_thiazole",
            "fr_thiophene",
            "fr_piperdine",
            "fr_piperzine",
            "fr_morpholine",
            "fr_benzodiazepine",
            "fr_dihydropyridine",
        ),
    ),
)
FAMILY_NAMES = tuple(f.name for f in FAMILIES)
#: RDKit descriptors left out of every family, with the reason.
EXCLUDED_DESCRIPTORS = {
    "NumRadicalElectrons": "always 0 for the closed-shell molecules of the corpus"
}
FAMILY_DESCRIPTORS = tuple(d for f in FAMILIES for d in f.descriptors)
#: Values spanning many orders of magnitude that get a log10 before the robust transform.
LOG_DESCRIPTORS = frozenset({"Ipc"})

_FUNCTIONS = dict(Descriptors.descList)


def _estate_summary(mol: Chem.Mol) -> list[float]:
    values = EState.EStateIndices(mol)
    return [max(values), min(values), max(abs(v) for v in values), min(abs(v) for v in values)]


#: RDKit computes these groups from one shared intermediate (Crippen contributions, Gasteiger
#: charges, E-state indices, the BCUT eigenproblem); one call per group instead of one per
#: descriptor makes the corpus ~2× cheaper. ``tests/unit/featurizers`` checks they agree.
_GROUPED: tuple[tuple[tuple[str, ...], object], ...] = (
    (_numbered("SlogP_VSA", 12), rdMolDescriptors.SlogP_VSA_),
    (_numbered("SMR_VSA", 10), rdMolDescriptors.SMR_VSA_),
    (_numbered("PEOE_VSA", 14), rdMolDescriptors.PEOE_VSA_),
    (_numbered("EState_VSA", 11), EState_VSA.EState_VSA_),
    (_numbered("VSA_EState", 10), EState_VSA.VSA_EState_),
    (
        (
            "BCUT2D_MWHI",
            "BCUT2D_MWLOW",
            "BCUT2D_CHGHI",
            "BCUT2D_CHGLO",
            "BCUT2D_LOGPHI",
            "BCUT2D_LOGPLOW",
            "BCUT2D_MRHI",
            "BCUT2D_MRLOW",
        ),
        rdMolDescriptors.BCUT2D,
    ),
    (
        ("MaxEStateIndex", "MinEStateIndex", "MaxAbsEStateIndex", "MinAbsEStateIndex"),
        _estate_summary,
    ),
)
_POSITION = {name: i for i, name in enumerate(FAMILY_DESCRIPTORS)}
_GROUPED_NAMES = {name for names, _ in _GROUPED for name in names}
_SINGLE = tuple(
    (name, _FUNCTIONS[name]) for name in FAMILY_DESCRIPTORS if name not in _GROUPED_NAMES
)


def compute_family_descriptors(smiles: str) -> np.ndarray:
    """Raw values of :data:`FAMILY_DESCRIPTORS` for one canonical SMILES; NaN where RDKit fails.

    ``Ipc`` is returned as log10(1 + Ipc). Module-level and picklable so worker processes can run
    it (see ``data/builders/corpus.py``).
    """
    mol = Chem.MolFromSmiles(smiles)
    out = np.full(len(FAMILY_DESCRIPTORS), np.nan, dtype=np.float64)
    if mol is None:
        return out
    for names, fn in _GROUPED:
        try:
            out[[_POSITION[n] for n in names]] = [float(v) for v in fn(mol)]
        except (ValueError, ZeroDivisionError, RuntimeError, OverflowError):
            pass
    for name, fn in _SINGLE:
        try:
            out[_POSITION[name]] = float(fn(mol))
        except (ValueError, ZeroDivisionError, RuntimeError, OverflowError):
            pass
    ipc = _POSITION["Ipc"]
    out[ipc] = np.log10(1.0 + max(out[ipc], 0.0)) if np.isfinite(out[ipc]) else np.nan
    out[~np.isfinite(out)] = np.nan
    return out


@dataclass(frozen=True)
class RobustTransform:
    """Per-column ``asinh((x − median) / spread)``; parameters fitted once on the corpus."""

    median: np.ndarray
    spread: np.ndarray

    @classmethod
    def fit(cls, raw: np.ndarray) -> RobustTransform:
        median = np.nanmedian(raw, axis=0)
        q75, q25 = np.nanpercentile(raw, [75, 25], axis=0)
        spread = (q75 - q25) / 1.349  # the IQR of a standard normal
        std = np.nanstd(raw, axis=0)
        spread = np.where(spread > 1e-9, spread, np.where(std > 1e-9, std, 1.0))
        return cls(median.astype(np.float64), spread.astype(np.float64))

    def __call__(self, raw: np.ndarray) -> np.ndarray:
        return np.arcsinh((raw - self.median) / self.spread).astype(np.float32)

    def to_dict(self, columns: list[str]) -> dict[str, list[float]]:
        return {c: [float(m), float(s)] for c, m, s in zip(columns, self.median, self.spread)}


def family_columns(columns: list[str]) -> dict[str, list[str]]:
    """``{family: [its descriptors present in columns]}`` in :data:`FAMILIES` order, empty ones dropped."""
    present = set(columns)
    grouped = {f.name: [d for d in f.descriptors if d in present] for f in FAMILIES}
    return {name: cols for name, cols in grouped.items() if cols}


def family_description(name: str) -> str:
    return next(f.description for f in FAMILIES if f.name == name)
