"""gate_core.data.io: reading the user's table in any supported format, and guessing its columns."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from rdkit import Chem

from gate_core.data.io import (
    TableReadError,
    detect_smiles_column,
    excel_sheets,
    read_table,
    spreadsheet_safe,
)
from gate_core.limits import MAX_HEAVY_ATOMS, MAX_LINE_CHARS

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


@pytest.mark.parametrize(
    ("sep", "name"), [("\t", "data.tsv"), ("\t", "data.csv"), (";", "data.txt"), ("|", "data.csv")]
)
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
        (bytes(range(256)) * 8, "data.xlsx", "not a readable Excel workbook"),
        (b"this is not a molecule file\n", "data.sdf", "could be read as a molecule"),
        (b"{}", "data.json", r"unsupported file type '\.json'.*\.csv"),
        (b"%PDF-1.4", "report.pdf", "unsupported file type '.pdf'"),
    ],
    ids=[
        "empty",
        "whitespace",
        "header-only",
        "binary-csv",
        "garbage-excel",
        "garbage-sdf",
        "json",
        "pdf",
    ],
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


def test_ragged_rows_are_refused_by_row_number():
    with pytest.raises(
        TableReadError, match=r"1 row\(s\) have more fields than the header's 2 \(data rows 2\)"
    ):
        read_table(b"smiles,value\nCCO,1\nCCC,2,3,4\n", "data.csv")


def test_extra_field_in_the_first_row_does_not_become_the_index():
    """pandas would move the SMILES into the index and every row would come out invalid."""
    with pytest.raises(TableReadError, match="data rows 1"):
        read_table(b"smiles,value\nCCO,1,extra\nCCC,2\n", "data.csv")


def test_trailing_empty_fields_are_dropped():
    frame = read_table(b"smiles,value\nCCO,1,\nCCC,2,,\n", "data.csv")
    assert list(frame.columns) == ["smiles", "value"] and frame["smiles"].tolist() == ["CCO", "CCC"]


def test_short_rows_keep_their_place_with_missing_values():
    frame = read_table(b"smiles,value\nCCO\nCCC,2\n", "data.csv")
    assert frame["smiles"].tolist() == ["CCO", "CCC"] and np.isnan(frame.loc[0, "value"])


# ---- no silent row changes (issue 14) -------------------------------------------------------


def test_headerless_file_keeps_its_first_molecule():
    frame = read_table(b"CCO,1.5\nc1ccccc1,-0.25\nCC(=O)O,3.0\n", "data.csv")
    assert list(frame.columns) == ["smiles", "value"]
    _assert_rows(frame)


def test_headerless_smiles_list_keeps_its_first_molecule():
    frame = read_table(b"CCO\nc1ccccc1\nCC(=O)O\n", "molecules.txt")
    assert frame["smiles"].tolist() == ["CCO", "c1ccccc1", "CC(=O)O"]


def test_headerless_excel_keeps_its_first_molecule():
    buffer = io.BytesIO()
    pd.DataFrame(ROWS).to_excel(buffer, index=False, header=False)
    frame = read_table(buffer.getvalue(), "data.xlsx")
    assert list(frame.columns) == ["smiles", "value"]
    _assert_rows(frame)


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-le", "utf-16-be", "utf-8-sig"])
def test_unicode_encodings_and_byte_order_marks(encoding):
    frame = read_table(_csv().decode().encode(encoding), "data.csv")
    assert list(frame.columns) == ["smiles", "value"]
    _assert_rows(frame)


@pytest.mark.parametrize("sep", [";", "\t"])
def test_decimal_commas(sep):
    text = f"smiles{sep}value{sep}note\n" + "".join(
        f"{s}{sep}{str(v).replace('.', ',')}{sep}a,b\n" for s, v in ROWS
    )
    frame = read_table(text.encode(), "data.csv")
    _assert_rows(frame)
    assert frame["value"].dtype == float and frame["note"].tolist() == ["a,b"] * 3


def test_underscore_number_stays_text():
    """``1_000`` is not a number for pandas, so it must not be one for training either (see table.py)."""
    frame = read_table(b"smiles,value\nCCO,1_000\nCCC,2\n", "data.csv")
    assert frame["value"].tolist() == ["1_000", "2"]


def test_excel_sheet_is_chosen_by_name():
    buffer = io.BytesIO()
    with pd.ExcelWriter(buffer) as writer:
        pd.DataFrame({"x": [1]}).to_excel(writer, sheet_name="notes", index=False)
        pd.DataFrame(ROWS, columns=["smiles", "value"]).to_excel(
            writer, sheet_name="data", index=False
        )
    data = buffer.getvalue()
    assert excel_sheets(data) == ["notes", "data"]
    _assert_rows(read_table(data, "data.xlsx", sheet="data"))
    assert list(read_table(data, "data.xlsx").columns) == ["x"]
    with pytest.raises(TableReadError, match="no sheet 'other'; its sheets are: notes, data"):
        read_table(data, "data.xlsx", sheet="other")


def test_xls_reader_is_installed():
    """``.xls`` is advertised, so garbage is refused as a workbook, not for a missing reader."""
    with pytest.raises(TableReadError, match="not a readable Excel workbook") as caught:
        read_table(b"\xd0\xcf\x11\xe0 not really", "data.xls")
    assert "xlrd" not in str(caught.value)


def test_broken_sdf_record_does_not_swallow_the_next():
    good = [
        Chem.MolToMolBlock(Chem.MolFromSmiles(s)) + f">  <v>\n{i}\n\n$$$$\n"
        for i, s in enumerate(["CCO", "c1ccccc1", "CC(=O)O"])
    ]
    lying = "broken\n  junk\n\n  9  8  0  0  0  0  0  0  0  0999 V2000\nM  END\n$$$$\n"  # counts claim more atoms than follow
    frame = read_table((good[0] + lying + good[1] + good[2]).encode(), "data.sdf")
    assert len(frame) == 4
    assert frame["smiles"].tolist()[2:] == ["c1ccccc1", "CC(=O)O"] and frame[
        "smiles"
    ].isna().tolist() == [False, True, False, False]
    assert frame.loc[1, "sdf_error"].startswith("SDF record 2:")


def test_sdf_record_beyond_the_atom_limit_is_a_row_with_its_reason():
    big = Chem.MolToMolBlock(Chem.MolFromSmiles("C" * (MAX_HEAVY_ATOMS + 1))) + "$$$$\n"
    good = Chem.MolToMolBlock(Chem.MolFromSmiles("CCO")) + "$$$$\n"
    frame = read_table((good + big).encode(), "data.sdf")
    assert frame["smiles"].tolist()[0] == "CCO" and frame["smiles"].isna().tolist() == [False, True]
    assert "heavy atoms" in frame.loc[1, "sdf_error"]


def test_too_many_columns_fail_before_parsing():
    header = ",".join("c" * 200_000)
    with pytest.raises(TableReadError, match="200,000 columns; the limit is 1,000"):
        read_table((header + "\n" + "1," * 3 + "\n").encode(), "data.csv")


def test_too_long_line_is_refused():
    with pytest.raises(TableReadError, match="line 2 has"):
        read_table(b"smiles,value\n" + b"C" * (MAX_LINE_CHARS + 1) + b",1\n", "data.csv")


def test_max_rows_and_size_default_to_the_environment(monkeypatch):
    monkeypatch.setenv("GATE_MAX_ROWS", "2")
    with pytest.raises(TableReadError, match="the limit is 2"):
        read_table(_csv(), "data.csv")
    monkeypatch.setenv("GATE_MAX_ROWS", "100")
    monkeypatch.setenv("GATE_MAX_UPLOAD_MB", "1")
    with pytest.raises(TableReadError, match="MB; the limit is 1 MB"):
        read_table(b"smiles,value\n" + b"CCO,1\n" * 200_000, "data.csv")
    just_over = b"smiles,value\n" + b"CCO,1\n" * 166_665  # 1,000,003 bytes: over 10⁶, under 2²⁰
    with pytest.raises(TableReadError, match=r"the file is 1.0 MB; the limit is 1 MB \(split"):
        read_table(just_over, "data.csv", max_rows=200_000)


# ---- column detection ---------------------------------------------------------------------------


def test_detect_smiles_column_by_content():
    frame = pd.DataFrame(
        {
            "name": ["ethanol", "benzene", "acetic acid"],
            "structure": [s for s, _ in ROWS],
            "y": [1.0, 2.0, 3.0],
        }
    )
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


def test_spreadsheet_safe_neutralises_text_formulas_and_keeps_numbers():
    frame = pd.DataFrame(
        {
            "input": ["=cmd|' /C calc'!A0", "+1+1", "-2+3", "@SUM(A1)", "\tx", "CCO", None],
            "value": [-1.5, 2.0, -3.0, 4.0, 5.0, 6.0, 7.0],
        }
    )
    safe = spreadsheet_safe(frame)
    assert safe["input"].tolist()[:6] == [
        "'=cmd|' /C calc'!A0",
        "'+1+1",
        "'-2+3",
        "'@SUM(A1)",
        "'\tx",
        "CCO",
    ] and pd.isna(safe["input"].iloc[6])
    assert safe["value"].tolist() == frame["value"].tolist() and frame["input"].iloc[0].startswith(
        "="
    )
    assert list(spreadsheet_safe(pd.DataFrame(columns=["=HYPERLINK()"])).columns) == [
        "'=HYPERLINK()"
    ]


def test_spreadsheet_safe_leaves_numbers_written_as_text_alone():
    """A streamed file's own columns are text: a measured ``-0.31`` must not become ``'-0.31``."""
    frame = pd.DataFrame({"logKow": ["-0.31", "+2", "-1e-3", "-", "-1-1", "--2"]})
    assert spreadsheet_safe(frame)["logKow"].tolist() == [
        "-0.31",
        "+2",
        "-1e-3",
        "'-",
        "'-1-1",
        "'--2",
    ]
