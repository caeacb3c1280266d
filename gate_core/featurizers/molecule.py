"""SMILES standardisation with a per-row reason instead of an exception.

Why: a chemist's upload mixes good rows with typos, salts and blanks. Every row must come back
with either a canonical SMILES or a human-readable reason, so one bad row never loses the rest.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from rdkit import Chem, RDLogger

from gate_core.limits import MAX_HEAVY_ATOMS, MAX_RINGS, MAX_SMILES_CHARS

RDLogger.DisableLog("rdApp.*")

ORGANIC_ELEMENTS = frozenset({"H", "B", "C", "N", "O", "F", "Si", "P", "S", "Cl", "Se", "Br", "I"})
#: Parsed inputs kept (LRU): an upload is checked, previewed, trained on and predicted, each step
#: parsing the same rows, and parsing (twice, see below) is the slowest part of featurisation.
PARSE_CACHE_SIZE = 20_000


@dataclass(frozen=True)
class ParsedMolecule:
    """Outcome of parsing one input SMILES.

    ``smiles`` is the canonical SMILES (``None`` when the row is unusable, then ``error`` says
    why); ``note`` records a non-fatal change such as stripping a counter-ion.
    """

    input: str
    smiles: str | None
    mol: Chem.Mol | None
    error: str | None = None
    note: str | None = None

    @property
    def ok(self) -> bool:
        return self.smiles is not None


def _heavy_atoms(mol: Chem.Mol) -> int:
    return mol.GetNumHeavyAtoms()


def size_error(mol: Chem.Mol) -> str | None:
    """Why a parsed molecule is too large to process further, or ``None``.

    Called before any RDKit call that recurses over the graph: canonical SMILES of a long
    chain overflows the stack and kills the whole process (see :mod:`gate_core.limits`).
    """
    if (atoms := mol.GetNumHeavyAtoms()) > MAX_HEAVY_ATOMS:
        return f"molecule has {atoms:,} heavy atoms; the limit is {MAX_HEAVY_ATOMS:,}"
    if (rings := mol.GetRingInfo().NumRings()) > MAX_RINGS:
        return f"molecule has {rings:,} rings; the limit is {MAX_RINGS:,}"
    return None


def _is_organic(mol: Chem.Mol) -> bool:
    symbols = {a.GetSymbol() for a in mol.GetAtoms()}
    return "C" in symbols and symbols <= ORGANIC_ELEMENTS


def parse_smiles(smiles: object, *, require_organic: bool = False) -> ParsedMolecule:
    """Parse one SMILES into a canonical, single-fragment molecule.

    Multi-fragment input (salts, mixtures, hydrates) keeps the largest organic fragment and
    says so in ``note``. ``require_organic`` additionally rejects molecules outside the
    organic element set of the pre-training table (used by the table builders). Results are
    memoised by input text (:data:`PARSE_CACHE_SIZE`); callers must not modify the returned ``mol``.
    """
    return _parse_text("" if smiles is None else str(smiles).strip(), require_organic)


def parse_smiles_once(smiles: object) -> ParsedMolecule:
    """:func:`parse_smiles` without the memo, for a stream of molecules each seen once (the
    streaming predict's worker processes): a memo there only holds 20,000 molecules' worth of
    RDKit objects that no later row asks for again."""
    return _parse("" if smiles is None else str(smiles).strip(), False)


def clear_parse_cache() -> None:
    """Forget memoised parses (benchmarks that time cold featurisation call this)."""
    _parse_text.cache_clear()


def _parse(text: str, require_organic: bool) -> ParsedMolecule:
    if not text or text.lower() == "nan":
        return ParsedMolecule(text, None, None, error="empty SMILES")
    if len(text) > MAX_SMILES_CHARS:
        return ParsedMolecule(
            text,
            None,
            None,
            error=f"SMILES has {len(text):,} characters; the limit is {MAX_SMILES_CHARS:,}",
        )
    mol = Chem.MolFromSmiles(text)
    if mol is None:
        return ParsedMolecule(text, None, None, error=f"RDKit could not parse SMILES '{text[:60]}'")
    if too_large := size_error(mol):
        return ParsedMolecule(text, None, None, error=too_large)
    note = None
    # a SMILES without '.' is one connected molecule: splitting it would cost a third of a parse
    fragments = Chem.GetMolFrags(mol, asMols=True, sanitizeFrags=True) if "." in text else (mol,)
    if len(fragments) > 1:
        organic = [f for f in fragments if _is_organic(f)] or list(fragments)
        keep = max(organic, key=_heavy_atoms)
        note = f"kept largest organic fragment of {len(fragments)} (salt/mixture stripped)"
        mol = keep
    if mol.GetNumAtoms() == 0:
        return ParsedMolecule(text, None, None, error="molecule has no atoms")
    if require_organic and (not _is_organic(mol) or _heavy_atoms(mol) < 2):
        return ParsedMolecule(text, None, None, error="not an organic molecule (elements/size)")
    canonical = Chem.MolToSmiles(mol)
    # Re-parse so that atom order matches the canonical SMILES (features are order-invariant,
    # but caching by canonical SMILES must give the same graph whichever input spelled it).
    mol = Chem.MolFromSmiles(canonical)
    return ParsedMolecule(text, canonical, mol, note=note)


_parse_text = lru_cache(maxsize=PARSE_CACHE_SIZE)(_parse)


def canonical_smiles(smiles: object) -> str | None:
    """Canonical SMILES or ``None``; convenience for builders that only need the key."""
    return parse_smiles(smiles).smiles
