"""Predict page: one SMILES or a file, chosen tasks, value ± std, unit, domain flag, CSV."""

import io

import pandas as pd

PAGE = "pages/4_Predict.py"


def test_one_smiles_gives_every_task_with_units_and_a_drawing(run_page, add_tiny_task, studio):
    add_tiny_task("tiny_logs")
    at = run_page(PAGE)
    assert at.multiselect(key="predict_tasks").value == ["tiny_logs", *studio.backbone.task_names]
    at.text_input(key="predict_smiles").set_value("CCO").run()
    assert not at.exception and not at.error
    table = at.dataframe[0].value
    assert list(table["task"]) == ["tiny_logs", *studio.backbone.task_names]
    row = table.iloc[0]
    assert row["unit"] == "log units" and float(row["± std"]) >= 0 and row["in domain"] in (True, False)
    assert table.set_index("task").loc["Tm_K", "unit"] == "K"
    assert len(at.image) == 1
    csv = pd.read_csv(io.BytesIO(at.session_state["predict_csv"]))
    assert csv.loc[0, "smiles"] == "CCO" and "tiny_logs_std" in csv.columns
    assert at.download_button(key="predict_download").label.startswith("Download")


def test_invalid_smiles_is_an_error(run_page):
    at = run_page(PAGE)
    at.text_input(key="predict_smiles").set_value("C1CC").run()
    assert not at.exception
    assert "Invalid SMILES" in at.error[0].value


def test_file_keeps_invalid_rows_with_their_reason(run_page):
    at = run_page(PAGE)
    at.multiselect(key="predict_tasks").set_value(["Tm_K", "logKow"])
    at.radio(key="predict_mode").set_value("A file of SMILES").run()
    at.file_uploader(key="predict_file").upload("mols.csv", b"name,structure\na,CCO\nb,not_a_smiles\nc,c1ccccc1O\n", "text/csv")
    at.run()
    assert not at.exception and not at.error
    assert at.selectbox(key="predict_column").value == "structure"
    csv = pd.read_csv(io.BytesIO(at.session_state["predict_csv"]))
    assert list(csv["input"]) == ["CCO", "not_a_smiles", "c1ccccc1O"]
    assert csv["error"].notna().tolist() == [False, True, False]
    assert csv["Tm_K"].notna().tolist() == [True, False, True]
    assert "1 invalid rows kept" in at.caption[0].value


def test_unreadable_file_is_an_error(run_page):
    at = run_page(PAGE)
    at.radio(key="predict_mode").set_value("A file of SMILES").run()
    at.file_uploader(key="predict_file").upload("bad.xlsx", b"this is not excel", "application/octet-stream")
    at.run()
    assert not at.exception
    assert "Cannot read 'bad.xlsx'" in at.error[0].value
