"""Predict page: typed SMILES (one or many) or a file, chosen tasks, value ± std, unit, domain
flag, CSV; the file's own columns, readable headers, filter and sort, parity against measured
columns; known measured values and recorded table labels through the relational head."""

import io
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

PAGE = "pages/4_Predict.py"
ROOT_DATA = Path(__file__).resolve().parents[1] / "data"


def known(*rows: tuple[str | None, str | None]) -> dict:
    """The known-values editor's edit state: its blank first row filled, further rows added."""
    cells = [{"property": p, "value": v} for p, v in rows]
    return {
        "edited_rows": {0: cells[0]} if cells else {},
        "added_rows": cells[1:],
        "deleted_rows": [],
    }


def csv_of(at) -> pd.DataFrame:
    return pd.read_csv(
        io.BytesIO(at.session_state["predict_csv"]), keep_default_na=False, na_values=[""]
    )


def messages(elements) -> str:
    return " | ".join(e.value for e in elements)


def result(at) -> pd.DataFrame | None:
    """The prediction table (the page's only read-only table), or None when the page shows none."""
    return next((d.value for d in at.dataframe if d.editing_mode == "read_only"), None)


def test_one_smiles_gives_every_task_with_units_and_a_drawing(run_page, add_tiny_task, studio):
    add_tiny_task("tiny_logs")
    at = run_page(PAGE)
    assert at.multiselect(key="predict_tasks").value == [
        "tiny_logs",
        *studio.backbone.property_names,
    ]  # descriptor families are sources, not properties
    at.text_area(key="predict_smiles").set_value("CCO").run()
    assert not at.exception and not at.error
    table = result(at)
    assert list(table["task"]) == ["tiny_logs", *studio.backbone.property_names]
    row = table.iloc[0]
    assert (
        row["unit"] == "log units"
        and float(row["± std"]) >= 0
        and row["in domain"] in ("yes", "no")
    )
    assert "None" not in table.astype(str).to_numpy()  # empty cells are blank
    assert table.set_index("task").loc["Tm_K", "unit"] == "K"
    assert len(at.image) == 1
    csv = pd.read_csv(io.BytesIO(at.session_state["predict_csv"]))
    assert csv.loc[0, "smiles"] == "CCO" and "tiny_logs_std" in csv.columns
    assert at.download_button(key="predict_download").label.startswith("Download")


def test_invalid_smiles_is_an_error(run_page):
    at = run_page(PAGE)
    at.text_area(key="predict_smiles").set_value("C1CC").run()
    assert not at.exception
    assert "Invalid SMILES" in at.error[0].value


def test_typed_molecules_obey_the_row_limit_of_an_uploaded_file(run_page, monkeypatch):
    monkeypatch.setenv("GATE_MAX_ROWS", "2")
    at = run_page(PAGE)
    at.text_area(key="predict_smiles").set_value("CCO\nCCN\nCCC").run()
    assert not at.exception
    assert "3 molecules were typed or pasted; the limit is 2" in at.error[0].value
    assert "predict_csv" not in at.session_state  # nothing was predicted


def test_file_keeps_invalid_rows_with_their_reason(run_page):
    at = run_page(PAGE)
    at.multiselect(key="predict_tasks").set_value(["Tm_K", "logKow"])
    at.radio(key="predict_mode").set_value("A file of SMILES").run()
    at.file_uploader(key="predict_file").upload(
        "mols.csv", b"name,structure\na,CCO\nb,not_a_smiles\nc,c1ccccc1O\n", "text/csv"
    )
    at.run()
    assert not at.exception and not at.error
    assert at.selectbox(key="predict_column").value == "structure"
    csv = pd.read_csv(io.BytesIO(at.session_state["predict_csv"]))
    assert list(csv["input"]) == ["CCO", "not_a_smiles", "c1ccccc1O"]
    assert csv["error"].notna().tolist() == [False, True, False]
    assert csv["Tm_K"].notna().tolist() == [True, False, True]
    assert "2 molecules predicted; 1 invalid row kept with its reason in 'error'" in messages(
        at.caption
    )
    assert "row 2 ('not_a_smiles')" in messages(at.warning)
    assert list(csv["name"]) == ["a", "b", "c"]  # the file's own columns are kept
    assert "no known values: plain GATE predictions" in messages(at.caption)
    assert "known_used" not in csv.columns


def test_unreadable_file_is_an_error(run_page):
    at = run_page(PAGE)
    at.radio(key="predict_mode").set_value("A file of SMILES").run()
    at.file_uploader(key="predict_file").upload(
        "bad.xlsx", b"this is not excel", "application/octet-stream"
    )
    at.run()
    assert not at.exception
    assert "Cannot read 'bad.xlsx'" in at.error[0].value


# ---- known values (relational head) -------------------------------------------------------------


def test_known_value_changes_the_prediction_and_is_listed_as_used(run_page):
    at = run_page(PAGE, predict_tasks=["Tm_K", "Tc_K", "logKow"], predict_smiles="CCO")
    plain = result(at).set_index("task")["value"]
    assert (
        not at.info and "known_used" not in csv_of(at).columns
    )  # nothing known: the plain prediction, as before
    at.session_state["predict_known"] = known(("Tb_K", "351.4"))
    at.run()
    assert not at.exception and not at.error, messages(at.error)
    table = result(at).set_index("task")
    assert np.allclose(table["GATE"].astype(float), plain.astype(float))
    assert "Known values used:** Tb_K = 351.4 K" in messages(at.info)
    csv = csv_of(at)
    assert csv.loc[0, "known_used"] == "Tb_K=351.4" and "Tm_K_relational" in csv.columns
    for task in (
        "Tm_K",
        "Tc_K",
        "logKow",
    ):  # each pair is corrected, or refused (plain value kept) with the reason
        corrected = not np.isclose(float(csv.loc[0, f"{task}_relational"]), float(csv.loc[0, task]))
        note = (
            str(csv.loc[0, f"{task}_relational_note"])
            if f"{task}_relational_note" in csv.columns
            else ""
        )
        assert corrected != ("no reliable relation" in note), (task, note)


@pytest.mark.parametrize(
    ("rows", "message"),
    [
        ((("no_such_task", "1.0"),), "unknown task(s): no_such_task"),
        ((("Tb_K", "351,4"),), "not a number: '351,4'"),
        ((("Tb_K", "351.4"), (None, "2.5")), "has a value (2.5) but no property"),
        ((("Tb_K", "351.4"), ("Tb_K", "352")), "'Tb_K' is given twice"),
    ],
)
def test_bad_known_values_are_errors_not_crashes(run_page, rows, message):
    at = run_page(PAGE, predict_tasks=["Tm_K"], predict_smiles="CCO", predict_known=known(*rows))
    assert message in messages(at.error), messages(at.error)
    assert "Known values refused" in messages(at.error)
    assert result(at) is None


def test_known_value_for_a_predicted_task_is_refused_with_a_fix(run_page):
    at = run_page(
        PAGE,
        predict_tasks=["Tm_K", "Tc_K"],
        predict_smiles="CCO",
        predict_known=known(("Tm_K", "159")),
    )
    assert "Tm_K, which is also being predicted" in messages(at.error)
    at.button(key="predict_drop_known").click().run()
    assert not at.exception and not at.error
    assert at.multiselect(key="predict_tasks").value == ["Tc_K"]
    assert "Known values used:** Tm_K = 159 K" in messages(at.info)


def test_far_out_known_value_is_a_warning(run_page):
    at = run_page(
        PAGE, predict_tasks=["Tm_K"], predict_smiles="CCO", predict_known=known(("Tb_K", "35140"))
    )
    assert not at.error
    assert "far outside its training labels" in messages(
        at.warning
    ) and "check the unit" in messages(at.warning)
    assert "Known values used:** Tb_K = 35140 K" in messages(at.info)


def test_recorded_table_labels_are_opt_in_and_marked(run_page):
    at = run_page(
        PAGE, predict_tasks=["Tc_K"], predict_smiles="CCBr"
    )  # CCBr has labels in the tiny table
    assert "known_from_table" not in csv_of(at).columns and not at.info
    at.checkbox(key="predict_table_labels").check().run()
    assert not at.exception and not at.error, messages(at.error)
    assert (
        "Recorded labels used** (the molecule is in the backbone's training table): Tm_K = "
        in messages(at.info)
    )
    csv = csv_of(at)
    assert (
        "Tm_K=" in csv.loc[0, "known_from_table"] and "Tc_K" not in csv.loc[0, "known_from_table"]
    )
    at.text_area(key="predict_smiles").set_value("OCC(O)CN1CCOCC1").run()  # not in the table
    assert "No recorded labels used" in messages(at.caption) and not at.info


def test_file_columns_named_after_tasks_are_known_values(run_page):
    at = run_page(PAGE, predict_tasks=["Tm_K"], predict_mode="A file of SMILES")
    data = b"smiles,Tb_K,note\nCCO,351.4,a\nCCCCO,,b\nnot_a_smiles,300,c\n"
    at.file_uploader(key="predict_file").upload("known.csv", data, "text/csv")
    at.run()
    assert not at.exception and not at.error, messages(at.error)
    assert "Known values from the column(s) **Tb_K** (K)" in messages(at.caption)
    assert "Known values used** for 1 of 3 molecules" in messages(at.info)
    csv = csv_of(at)
    assert csv["known_used"].fillna("").tolist() == ["Tb_K=351.4", "", ""]
    assert np.isfinite(csv["Tm_K_relational"][:2]).all() and np.isnan(csv["Tm_K_relational"][2])

    at.file_uploader(key="predict_file").upload(
        "bad.csv", b"smiles,Tb_K\nCCO,351.4\nCCCO,hot\n", "text/csv"
    )
    at.run()
    assert not at.exception
    assert "known value for 'Tb_K' (row 2) is not a number: 'hot'" in messages(at.error)


@pytest.fixture
def headless_backbone(app_env, tiny_backbone, tmp_path, monkeypatch):
    """A copy of the tiny backbone without a relational head next to it."""
    copy = tmp_path / "headless" / "backbone"
    shutil.copytree(tiny_backbone, copy)
    monkeypatch.setenv("GATE_BACKBONE", str(copy))
    return copy


def test_without_a_relational_head_known_values_are_an_error_and_plain_prediction_works(
    headless_backbone, run_page
):
    at = run_page(PAGE, predict_tasks=["Tm_K"], predict_smiles="CCCO")
    assert not at.error and result(at).loc[0, "value"] > 0
    at.session_state["predict_known"] = known(("Tb_K", "351.4"))
    at.run()
    assert not at.exception
    assert "cannot be used here" in messages(at.error) and "no relational head" in messages(
        at.error
    )


# ---- many molecules: positions, readable table, the file's columns, parity ----------------------


def test_many_typed_smiles_report_invalid_entries_by_position_and_predict_the_rest(run_page):
    at = run_page(PAGE, predict_tasks=["Tm_K", "logKow"])
    at.text_area(key="predict_smiles").set_value("CCO, not_a_smiles\tc1ccccc1O\nC1CC\n").run()
    assert not at.exception and not at.error, messages(at.error)
    warning = messages(at.warning)
    assert (
        "2 invalid entries of 4, not predicted: entry 2 ('not_a_smiles')" in warning
        and "entry 4 ('C1CC')" in warning
    )
    assert "The other 2 entries are predicted" in warning
    table = result(at)
    assert (
        "Tm_K (K)" in table.columns
        and "Tm_K ± std (ensemble spread) (K)" in table.columns
        and "Tm_K_std" not in table.columns
    )
    assert table["error"].tolist()[0] == "" and "None" not in table["note"].tolist()
    assert table["structure"].str.startswith("data:image/svg+xml;base64,").tolist() == [
        True,
        False,
        True,
        False,
    ]
    csv = csv_of(at)
    assert list(csv["input"]) == ["CCO", "not_a_smiles", "c1ccccc1O", "C1CC"] and csv[
        "Tm_K"
    ].notna().tolist() == [True, False, True, False]


def test_one_valid_entry_keeps_the_single_molecule_view(run_page):
    at = run_page(PAGE, predict_tasks=["Tm_K"], predict_smiles="  CCO \n")
    assert len(at.image) == 1 and list(result(at)["task"]) == ["Tm_K"]


QUERY = b"id,name,smiles,Tm_K,assay\n7,ethanol,CCO,159,x\n8,phenol,c1ccccc1O,314,y\n9,broken,not_a_smiles,,z\n10,propanol,CCCO,147,x\n"


def test_file_columns_are_kept_and_a_measured_column_gets_a_parity_plot(run_page, add_tiny_task):
    add_tiny_task("tiny_logs")
    at = run_page(PAGE, predict_tasks=["tiny_logs", "Tm_K"], predict_mode="A file of SMILES")
    at.file_uploader(key="predict_file").upload("query.csv", QUERY, "text/csv")
    at.run()
    assert not at.exception and not at.error, messages(at.error)
    assert "no known values" in messages(
        at.caption
    )  # Tm_K is predicted, so its column is measured values, not known ones
    table = result(at)
    assert list(table.columns[:6]) == [
        "structure",
        "id",
        "name",
        "Tm_K (from file)",
        "assay",
        "input",
    ]
    assert (
        "tiny_logs domain distance (≤ 1: inside)" in table.columns
        and "tiny_logs (log units)" in table.columns
    )
    csv = csv_of(at)
    assert list(csv.columns[:5]) == ["id", "name", "Tm_K (from file)", "assay", "input"] and list(
        csv["id"]
    ) == [7, 8, 9, 10]
    assert "**Tm_K** vs column **Tm_K**: R²" in messages(
        at.markdown
    ) and "(3 molecules)" in messages(at.markdown)
    assert len(at.get("plotly_chart")) == 1

    at.selectbox(key="predict_measured_column").set_value("id")  # the chemist's own pairing
    at.selectbox(key="predict_measured_task").set_value("tiny_logs").run()
    assert (
        "**tiny_logs** vs column **id**" in messages(at.markdown)
        and len(at.get("plotly_chart")) == 2
    )


def test_a_classification_task_is_compared_by_roc_auc_not_r2(run_page, add_tiny_task):
    """A 0/1 column of a classification task: ROC-AUC · PR-AUC · accuracy and a ROC curve (as
    the CLI scores it), never R²/RMSE of probabilities; a column of other numbers is refused."""
    add_tiny_task("tiny_toxic", csv="target_tiny_classification.csv")
    data = pd.read_csv(ROOT_DATA / "target_tiny_classification.csv").head(12)
    data = data.rename(columns={"value": "tiny_toxic"}).astype({"tiny_toxic": float})
    at = run_page(PAGE, predict_tasks=["tiny_toxic"], predict_mode="A file of SMILES")
    at.file_uploader(key="predict_file").upload(
        "toxic.csv", data.to_csv(index=False).encode(), "text/csv"
    )
    at.run()
    assert not at.exception and not at.error, messages(at.error)
    said = messages(at.markdown)
    assert "**tiny_toxic** vs column **tiny_toxic**: ROC-AUC " in said and "(12 molecules)" in said
    assert "PR-AUC" in said and "accuracy" in said and "R²" not in said
    assert len(at.get("plotly_chart")) == 1  # the ROC curve, no parity plot

    data.loc[3, "tiny_toxic"] = 6.5
    at.file_uploader(key="predict_file").upload(
        "toxic2.csv", data.to_csv(index=False).encode(), "text/csv"
    )
    at.run()
    assert not at.exception and "ROC-AUC" not in messages(at.markdown)
    assert "not compared: column tiny_toxic holds 6.5, not 0 or 1" in messages(at.warning)


def test_results_filter_and_sort(run_page):
    at = run_page(PAGE, predict_tasks=["Tm_K"], predict_mode="A file of SMILES")
    at.file_uploader(key="predict_file").upload("query.csv", QUERY, "text/csv")
    at.run()
    at.text_input(key="predict_filter").set_value("X").run()  # case-insensitive, any column
    assert list(result(at)["name"]) == ["ethanol", "propanol"] and "2 of 4 rows shown" in messages(
        at.caption
    )
    at.text_input(key="predict_filter").set_value("").run()
    at.selectbox(key="predict_sort").set_value("Tm_K (K)").run()
    at.toggle(key="predict_descending").set_value(True).run()
    values = result(at)["Tm_K (K)"].tolist()
    assert values[:3] == sorted(values[:3], reverse=True) and np.isnan(
        values[3]
    )  # invalid rows last
    assert len(csv_of(at)) == 4  # the download keeps every row
