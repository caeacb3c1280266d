"""gate_core.transfer.upload: what task addition would make of a table, said before training."""

import pandas as pd
import pytest

from gate_core.transfer.upload import task_name_and_unit, validate_upload

SMILES = [
    "CCO",
    "CCC",
    "CCN",
    "CCCl",
    "c1ccccc1",
    "CC(=O)O",
    "CCOC",
    "CCCC",
    "CCCN",
    "OCCO",
    "CC(C)O",
    "C1CCCCC1",
] * 2
UNIQUE = SMILES[:12] + [
    "CCCCC",
    "CCCCO",
    "CCCCN",
    "c1ccncc1",
    "Oc1ccccc1",
    "Nc1ccccc1",
    "CC#N",
    "C=CC",
    "ClCCl",
    "BrCC",
    "ICC",
    "FCC",
]


def test_report_lists_invalid_rows_and_merges_duplicates_by_median():
    frame = pd.DataFrame(
        {"smiles": ["CCO", "OCC", "bad(", *UNIQUE[1:22]], "y": [1.0, 3.0, 2.0, "x", *range(20)]}
    )
    report = validate_upload(frame, "smiles", "y")
    assert [(r.row, r.reason.split()[0]) for r in report.invalid] == [(3, "RDKit"), (4, "value")]
    assert report.n_duplicates_merged == 1
    dup = report.duplicate_groups.iloc[0]
    assert (dup["smiles"], dup["rows"], dup["median"]) == ("CCO", 2, 2.0)
    assert report.n_valid == 21 and report.ok, report.errors


def test_conflicting_duplicates_are_reported_as_such():
    """Each molecule measured as 0 and 1 merges to 0.5: that is a conflict, not identical labels."""
    frame = pd.DataFrame({"smiles": UNIQUE * 2, "y": [0.0] * len(UNIQUE) + [1.0] * len(UNIQUE)})
    report = validate_upload(frame, "smiles", "y")
    assert "24 molecule(s) appear more than once with conflicting labels" in report.errors[0]
    assert any("conflicting labels" in w for w in report.warnings)


def test_underscore_numbers_count_the_same_in_the_report_and_in_training():
    frame = pd.DataFrame({"smiles": UNIQUE, "y": ["1_000", *map(str, range(23))]})
    report = validate_upload(frame, "smiles", "y")
    assert (
        report.n_non_numeric_values == 1
        and [r.row for r in report.invalid] == [1]
        and report.n_valid == 23
    )


def test_report_refuses_text_targets_same_columns_and_tiny_tables():
    frame = pd.DataFrame({"smiles": UNIQUE, "y": ["high"] * len(UNIQUE)})
    assert "holds text" in validate_upload(frame, "smiles", "y").errors[0]
    assert "must be different" in validate_upload(frame, "smiles", "smiles").errors[0]
    assert (
        "at least 20" in validate_upload(frame.head(3).assign(y=[1, 2, 3]), "smiles", "y").errors[0]
    )


def test_report_detects_classification_and_counts_classes():
    frame = pd.DataFrame({"smiles": UNIQUE, "y": [0, 1] * 12})
    report = validate_upload(frame, "smiles", "y")
    assert report.task_type == "classification" and report.class_counts() == {"0": 12, "1": 12}
    assert validate_upload(frame, "smiles", "y", task_type="regression").class_counts() is None


@pytest.mark.parametrize(
    ("header", "filename", "expected"),
    [
        ("logS (mol/L)", "data.csv", ("logS", "mol/L")),
        ("Tm [K]", "data.csv", ("Tm", "K")),
        ("pIC50", "assay.xlsx", ("pIC50", "")),
        ("value", "Huuskonen logS.csv", ("Huuskonen_logS", "")),
        ("Y", "dir/set-1.tsv", ("set-1", "")),
        (None, "a.b.csv", ("a.b", "")),
        ("", "", ("task", "")),
    ],
)
def test_task_name_and_unit_from_the_target_header(header, filename, expected):
    assert task_name_and_unit(header, filename) == expected
