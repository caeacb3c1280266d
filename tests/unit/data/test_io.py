"""gate_core.data.io: reading the user's table in any supported format, and guessing its columns."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from rdkit import Chem

from gate_core.data.io import TableReadError, detect_smiles_column, detect_target_column, read_table

DATA = Path(__file__).resolve().parents[2] / "data"
ROWS = [("CCO", 1.5), ("c1ccccc1", -0.25), ("CC(=O)O", 3.0)]


def _csv(sep: str = ",") -> bytes:
    lines = [f"smiles{sep}value"] + [f"{s}{sep}{v}" for s, v in ROWS]
    return ("\n".join(lines) + "\n").encode()


def _assert_rows(frame: pd.DataFrame, smiles_col: str = "smiles", value_col: str = "value") -> None:
    assert frame[smiles_col].tolist() == [s for s, _ in ROWS]
    np.testing.assert_allclose(frame[value_col].astype(float), [v for _, v in ROWS])


# ---- formats -------------------------------------------------------------------------------------


def test_csv():
    frame = read_table(_csv(), "data.csv")
    assert list(frame.columns) == ["smiles", "value"]
    _assert_rows(frame)


@pytest.mark.parametrize(("sep", "name"), [("\t", "data.tsv"), ("\t", "data.csv"), (";", "data.txt"), ("|", "data.csv")])
def test_separator_is_detected(sep, name):
    frame = read_table(_csv(sep), name)
    assert list(frame.columns) == ["smiles", "value"]
    _assert_rows(frame)


def test_separator_inside_quotes_and_windows_line_ends():
    text = 'SMILES,Name,logS\r\n"CC(C)O","propan-2-ol, iso",1.5\r\nCCO,ethanol,2\r\n'
    frame = read_table(text.encode(), "data.csv")
    assert list(frame.columns) == ["SMILES", "Name", "logS"]
    assert frame["Name"].tolist() == ["propan-2-ol, iso", "ethanol"]


def test_one_column_file_is_not_split_on_a_letter():
    """A SMILES-only file (the usual prediction input) must stay one column called 'smiles'."""
    frame = read_table(b"smiles\nCCO\nc1ccccc1\nCC(=O)O\nCCCl\n", "molecules.csv")
    assert list(frame.columns) == ["smiles"]
    assert frame["smiles"].tolist() == ["CCO", "c1ccccc1", "CC(=O)O", "CCCl"]


def test_header_and_column_names_are_stripped():
    frame = read_table(b" smiles , value \nCCO,1\nCCC,2\n", "data.csv")
    assert list(frame.columns) == ["smiles", "value"]


def test_excel():
    buffer = io.BytesIO()
    pd.DataFrame(ROWS, columns=["smiles", "value"]).to_excel(buffer, index=False)
    frame = read_table(buffer.getvalue(), "data.xlsx")
    assert list(frame.columns) == ["smiles", "value"]
    _assert_rows(frame)


def test_sdf():
    text = io.StringIO()
    writer = Chem.SDWriter(text)
    for smiles, value in ROWS:
        mol = Chem.MolFromSmiles(smiles)
        mol.SetProp("_Name", f"mol-{smiles}")
        mol.SetProp("logS", str(value))
        writer.write(mol)
    writer.close()
    frame = read_table(text.getvalue().encode(), "data.sdf")
    assert list(frame.columns) == ["smiles", "logS"]
    assert frame["smiles"].tolist() == [Chem.CanonSmiles(s) for s, _ in ROWS]
    np.testing.assert_allclose(frame["logS"].astype(float), [v for _, v in ROWS])


def test_sdf_keeps_unreadable_records_as_rows():
    good = Chem.MolToMolBlock(Chem.MolFromSmiles("CCO")) + "$$$$\n"
    bad = "broken\n  junk\n\n  2  1  0  0  0  0  0  0  0  0999 V2000\nM  END\n$$$$\n"
    frame = read_table((good + bad + good).encode(), "data.sdf")
    assert len(frame) == 3
    assert frame["smiles"].isna().tolist() == [False, True, False]


def test_path_input_uses_the_file_name(tmp_path):
    path = tmp_path / "data.tsv"
    path.write_bytes(_csv("\t"))
    _assert_rows(read_table(path))
    _assert_rows(read_table(str(path)))


def test_project_test_data_reads():
    frame = read_table(DATA / "target_tiny.csv")
    assert list(frame.columns) == ["smiles", "value"] and len(frame) == 60


def test_latin1_encoded_csv():
    data = "smiles,name,value\nCCO,éthanol,1\nCCC,propane (naïve),2\n".encode("latin-1")
    with pytest.raises(UnicodeDecodeError):
        data.decode("utf-8")
    frame = read_table(data, "data.csv")
    assert frame["name"].tolist() == ["éthanol", "propane (naïve)"]


def test_utf8_bom_is_removed():
    frame = read_table(b"\xef\xbb\xbf" + _csv(), "data.csv")
    assert list(frame.columns) == ["smiles", "value"]


def test_one_row_file():
    frame = read_table(b"smiles,value\nCCO,1.0\n", "data.csv")
    assert frame.shape == (1, 2) and frame.loc[0, "smiles"] == "CCO"


# ---- errors ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "name", "match"),
    [
        (b"", "data.csv", "the file is empty"),
        (b"  \n\n\t\n", "data.csv", "the file is empty"),
        (b"smiles,value\n", "data.csv", "no data rows"),
        (bytes(range(256)) * 8, "data.csv", "not text"),
        ("smiles,value\nCCO,1\n".encode("utf-16"), "data.csv", "not text"),
        (bytes(range(256)) * 8, "data.xlsx", "not a readable Excel workbook"),
        (b"this is not a molecule file\n", "data.sdf", "could be read as a molecule"),
        (b"{}", "data.json", r"unsupported file type '\.json'.*\.csv"),
        (b"%PDF-1.4", "report.pdf", "unsupported file type '.pdf'"),
    ],
    ids=["empty", "whitespace", "header-only", "binary-csv", "utf16", "garbage-excel", "garbage-sdf", "json", "pdf"],
)
def test_read_errors(data, name, match):
    with pytest.raises(TableReadError, match=match):
        read_table(data, name)


def test_missing_file():
    with pytest.raises(TableReadError, match="file not found"):
        read_table("/no/such/dir/data.csv")


def test_max_rows():
    assert len(read_table(_csv(), "data.csv", max_rows=3)) == 3
    with pytest.raises(TableReadError, match="the table has 3 rows; the limit is 2"):
        read_table(_csv(), "data.csv", max_rows=2)


def test_ragged_rows_are_a_table_read_error():
    with pytest.raises(TableReadError, match="could not read the file as a table"):
        read_table(b"smiles,value\nCCO,1\nCCC,2,3,4\n", "data.csv")


# ---- column detection ---------------------------------------------------------------------------


def test_detect_smiles_column_by_content():
    frame = pd.DataFrame({"name": ["ethanol", "benzene", "acetic acid"], "structure": [s for s, _ in ROWS], "y": [1.0, 2.0, 3.0]})
    assert detect_smiles_column(frame) == "structure"


def test_detect_smiles_column_prefers_the_smiles_name():
    # "CO" / "CCO" parse as SMILES too: the column named like SMILES wins
    frame = pd.DataFrame({"code": ["CO", "CCO", "CCCO"], "Canonical_SMILES": ["CO", "CCO", "CCCO"]})
    assert detect_smiles_column(frame) == "Canonical_SMILES"


def test_detect_smiles_column_none_when_nothing_parses():
    frame = pd.DataFrame({"name": ["ethanol", "benzene"], "value": [1.0, 2.0]})
    assert detect_smiles_column(frame) is None


def test_detect_smiles_column_ignores_numeric_columns():
    frame = pd.DataFrame({"n": [1, 2, 3], "structure": [s for s, _ in ROWS]})
    assert detect_smiles_column(frame) == "structure"
    assert detect_smiles_column(pd.DataFrame({"n": [1, 2, 3]})) is None


def test_detect_target_column():
    frame = pd.DataFrame({"smiles": [s for s, _ in ROWS], "name": ["a", "b", "c"], "logS": [1.0, 2.0, 3.0]})
    assert detect_target_column(frame, "smiles") == "logS"


def test_detect_target_column_accepts_mostly_numeric_and_skips_constants():
    frame = pd.DataFrame(
        {
            "smiles": ["C"] * 10,
            "batch": [7] * 10,  # constant: not a target
            "pIC50": ["5.1", "6.2", "n/a", "7.0", "4.4", "5.5", "6.1", "5.9", "6.6", "7.7"],  # 90 % numeric
        }
    )
    assert detect_target_column(frame, "smiles") == "pIC50"


def test_detect_target_column_none_without_numbers():
    frame = pd.DataFrame({"smiles": ["CCO", "CCC"], "name": ["a", "b"]})
    assert detect_target_column(frame, "smiles") is None
