"""gate_core.featurizers.molecule: parse_smiles never raises, every row gets SMILES or a reason."""

from __future__ import annotations

import math

import pytest
from rdkit import Chem

from gate_core.featurizers.molecule import canonical_smiles, parse_smiles
from gate_core.limits import MAX_HEAVY_ATOMS, MAX_RINGS


def test_valid_smiles_is_canonical_and_has_mol():
    parsed = parse_smiles("OCC")
    assert parsed.ok
    assert parsed.error is None and parsed.note is None
    assert parsed.smiles == Chem.MolToSmiles(Chem.MolFromSmiles("CCO"))
    assert parsed.mol is not None and parsed.mol.GetNumAtoms() == 3
    # the stored mol's atom order is that of the canonical SMILES
    assert Chem.MolToSmiles(parsed.mol) == parsed.smiles
    assert [a.GetSymbol() for a in parsed.mol.GetAtoms()] == [
        a.GetSymbol() for a in Chem.MolFromSmiles(parsed.smiles).GetAtoms()
    ]


def test_input_is_stripped():
    assert parse_smiles("  c1ccccc1\n").smiles == "c1ccccc1"


def test_invalid_smiles_gives_reason():
    parsed = parse_smiles("C1CC(")
    assert not parsed.ok
    assert parsed.smiles is None and parsed.mol is None
    assert "could not parse" in parsed.error
    assert "C1CC(" in parsed.error


@pytest.mark.parametrize("value", ["", "   ", None, float("nan"), "nan", "NaN"])
def test_empty_like_inputs(value):
    parsed = parse_smiles(value)
    assert not parsed.ok
    assert parsed.error == "empty SMILES"


def test_salt_keeps_largest_organic_fragment():
    parsed = parse_smiles("CC(=O)[O-].[Na+]")
    assert parsed.ok
    assert parsed.smiles == "CC(=O)[O-]"
    assert parsed.note is not None and "2" in parsed.note and "fragment" in parsed.note
    hydrochloride = parse_smiles("Cl.CCN(CC)CC")  # counter-ion written first
    assert hydrochloride.smiles == Chem.MolToSmiles(Chem.MolFromSmiles("CCN(CC)CC"))
    assert hydrochloride.note


def test_organic_fragment_preferred_over_larger_inorganic_one():
    # the sulfate has 5 heavy atoms, methylammonium 2: the organic one is kept
    parsed = parse_smiles("C[NH3+].OS(=O)(=O)[O-]")
    assert parsed.smiles == "C[NH3+]"


def test_single_fragment_has_no_note():
    assert parse_smiles("CC(=O)O").note is None


def test_require_organic_rejects_inorganic_and_tiny():
    assert parse_smiles("[Na+].[Cl-]").ok  # allowed by default
    for smiles in ("[Na+].[Cl-]", "O", "C", "[Fe]", "C[Sn](C)(C)C"):
        parsed = parse_smiles(smiles, require_organic=True)
        assert not parsed.ok, smiles
        assert "organic" in parsed.error
    assert parse_smiles("CCO", require_organic=True).ok
    assert parse_smiles("CS(=O)(=O)C", require_organic=True).ok


def test_canonical_is_idempotent():
    for smiles in ("OCC", "c1ccncc1", "C[C@H](N)C(=O)O", "F/C=C/F", "CC(=O)[O-].[Na+]"):
        once = canonical_smiles(smiles)
        assert once is not None
        assert canonical_smiles(once) == once
        assert parse_smiles(once).note is None


@pytest.mark.parametrize(
    "a, b",
    [
        ("OCC", "CCO"),
        ("C1=CC=CC=C1", "c1ccccc1"),
        ("N[C@@H](C)C(=O)O", "C[C@H](N)C(=O)O"),
        ("OC(=O)c1ccccc1", "c1ccc(cc1)C(O)=O"),
    ],
)
def test_two_spellings_one_canonical(a, b):
    assert parse_smiles(a).smiles == parse_smiles(b).smiles


def test_enantiomers_differ():
    assert canonical_smiles("C[C@H](N)C(=O)O") != canonical_smiles("C[C@@H](N)C(=O)O")


def test_canonical_smiles_none_for_bad():
    assert canonical_smiles("not a smiles") is None
    assert canonical_smiles(math.nan) is None


def test_parses_are_memoised_and_can_be_forgotten():
    from gate_core.data.featurize import clear_caches
    from gate_core.featurizers.molecule import clear_parse_cache

    clear_parse_cache()
    first = parse_smiles("  OCC ")
    assert parse_smiles("OCC") is first  # same text after stripping: one parse
    assert parse_smiles("OCC", require_organic=True) is not first  # the flag is part of the key
    clear_caches()
    again = parse_smiles("OCC")
    assert again is not first and (again.smiles, again.input) == (first.smiles, first.input)
    bad = parse_smiles("C1CC")
    assert parse_smiles("C1CC") is bad and not bad.ok  # failures are memoised with their reason too


@pytest.mark.parametrize(
    ("smiles", "reason"),
    [
        (
            "C" * 20_000,
            "20,000 characters; the limit is 10,000",
        ),  # canonicalising it overflows RDKit's stack (signal 11)
        ("C" * (MAX_HEAVY_ATOMS + 1), "heavy atoms"),
        ("[Na+]." * 2_000 + "CCO", "characters; the limit is"),
        (
            "".join(f"C{i % 9 + 1}CC{i % 9 + 1}" for i in range(MAX_RINGS + 1)),
            "rings; the limit is",
        ),
    ],
    ids=["chain-20000", "chain-limit+1", "long-text", "many-rings"],
)
def test_molecules_beyond_the_limits_are_refused_with_a_reason(smiles, reason):
    parsed = parse_smiles(smiles)
    assert not parsed.ok and reason in parsed.error


def test_largest_allowed_chain_is_parsed():
    assert parse_smiles("C" * MAX_HEAVY_ATOMS).ok
