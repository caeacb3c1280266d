"""Hostile and careless input through the app (issue 14): a giant molecule, a workbook of several
sheets, archives that must be refused, a broken task already registered, Markdown in a unit."""

import io
import json
import zipfile
from dataclasses import replace

import pandas as pd

GIANT = "C" * 20_000  # RDKit's canonical SMILES writer overflowed the stack on it: the server died


def messages(elements) -> str:
    return " | ".join(str(e.value) for e in elements)


def test_giant_molecule_upload_is_one_invalid_row_and_the_server_answers(run_page):
    at = run_page("pages/4_Predict.py", predict_tasks=["Tm_K"])
    at.radio(key="predict_mode").set_value("A file of SMILES").run()
    at.file_uploader(key="predict_file").upload(
        "giant.csv", f"smiles\nCCO\n{GIANT}\nc1ccccc1O\n".encode(), "text/csv"
    )
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    csv = pd.read_csv(io.BytesIO(at.session_state["predict_csv"]))
    assert len(csv) == 3 and csv["error"].notna().tolist() == [False, True, False]
    assert "20,000 characters" in csv.loc[1, "error"]
    mode = at.radio(key="predict_mode")
    mode.set_value(mode.options[0]).run()  # the same session still answers
    assert not at.exception


def test_workbook_sheet_is_chosen(run_page):
    buffer = io.BytesIO()
    with pd.ExcelWriter(buffer) as writer:
        pd.DataFrame({"note": ["see the other sheet"]}).to_excel(
            writer, sheet_name="notes", index=False
        )
        pd.DataFrame({"smiles": ["CCO", "c1ccccc1O"]}).to_excel(
            writer, sheet_name="molecules", index=False
        )
    at = run_page("pages/4_Predict.py", predict_tasks=["Tm_K"])
    at.radio(key="predict_mode").set_value("A file of SMILES").run()
    at.file_uploader(key="predict_file").upload(
        "book.xlsx", buffer.getvalue(), "application/octet-stream"
    )
    at.run()
    assert at.selectbox(key="predict_sheet").options == ["notes", "molecules"]
    at.selectbox(key="predict_sheet").set_value("molecules").run()
    assert not at.exception
    assert list(pd.read_csv(io.BytesIO(at.session_state["predict_csv"]))["input"]) == [
        "CCO",
        "c1ccccc1O",
    ]


def test_formula_cells_are_neutralised_in_the_download(run_page):
    at = run_page("pages/4_Predict.py", predict_tasks=["Tm_K"])
    at.radio(key="predict_mode").set_value("A file of SMILES").run()
    at.file_uploader(key="predict_file").upload(
        "inject.csv", b"smiles,note\nCCO,=cmd|' /C calc'!A0\n", "text/csv"
    )
    at.run()
    text = at.session_state["predict_csv"].decode()
    assert "'=cmd" in text and ",=cmd" not in text


def test_archive_named_after_a_backbone_property_is_refused(run_page, add_tiny_task, studio):
    add_tiny_task("alpha")
    buffer = io.BytesIO()
    studio.registry.export_task("alpha", buffer)
    at = run_page("pages/5_Tasks.py")
    at.file_uploader(key="tasks_import_file").upload(
        "alpha.zip", buffer.getvalue(), "application/zip"
    )
    at.text_input(key="tasks_import_name").set_value("tm_k")
    at.run()
    at.button(key="tasks_import").click().run()
    assert not at.exception
    assert "source property" in messages(at.error)
    assert [r.name for r in studio.added_tasks()] == ["alpha"]


def test_archive_with_a_bad_model_is_refused_and_leaves_nothing(run_page, add_tiny_task, studio):
    add_tiny_task("alpha")
    buffer = io.BytesIO()
    studio.registry.export_task("alpha", buffer)
    with zipfile.ZipFile(buffer) as zin:
        members = {i.filename: zin.read(i) for i in zin.infolist()}
    meta = json.loads(members["model/task.json"])
    meta["architecture"]["hidden"] = 2**20  # asked for terabytes before import loaded the model
    members["model/task.json"] = json.dumps(meta).encode()
    import hashlib

    manifest = json.loads(members.pop("manifest.json"))
    manifest["members"] = {n: hashlib.sha256(d).hexdigest() for n, d in members.items()}
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as zout:
        zout.writestr("manifest.json", json.dumps(manifest))
        for name, data in members.items():
            zout.writestr(name, data)
    at = run_page("pages/5_Tasks.py")
    at.file_uploader(key="tasks_import_file").upload(
        "crafted.zip", out.getvalue(), "application/zip"
    )
    at.text_input(key="tasks_import_name").set_value("crafted")
    at.run()
    at.button(key="tasks_import").click().run()
    assert not at.exception
    assert "model cannot be used" in messages(at.error)
    assert [r.name for r in studio.added_tasks()] == ["alpha"]


def test_broken_task_is_listed_apart_and_can_be_deleted(run_page, add_tiny_task, studio):
    good = add_tiny_task("alpha")
    studio.registry.register_task(
        replace(good, name="broken", sizes=["n", 1]), studio.registry.task_dir("alpha")
    )
    at = run_page("pages/5_Tasks.py")
    assert list(at.dataframe[0].value["task"]) == [
        "alpha"
    ]  # the page (Delete, Import) still renders
    assert "broken: field 'sizes'" in messages(at.text)
    at.selectbox(key="tasks_unusable_select").set_value("broken")
    at.button(key="tasks_unusable_delete").click().run()
    assert not at.exception and "Deleted 'broken'" in at.success[0].value
    assert studio.unusable_tasks() == {}
    predict = run_page("pages/4_Predict.py", predict_smiles="CCO")
    assert not predict.exception


def test_markdown_in_a_unit_is_shown_as_text(run_page, add_tiny_task, studio):
    record = add_tiny_task("alpha")
    studio.registry.register_task(
        replace(record, unit="[click](http://evil.example) ![x](http://evil.example/p.png)"),
        studio.registry.task_dir("alpha"),
        replace=True,
    )
    for page in ("pages/5_Tasks.py", "pages/4_Predict.py"):
        at = run_page(page, predict_smiles="CCO") if "Predict" in page else run_page(page)
        rendered = messages(
            [*at.markdown, *at.caption, *at.info, *at.warning, *at.error, *at.success]
        )
        assert "[click](" not in rendered and "![x](" not in rendered, (
            page
        )  # only the escaped form, \\[click\\](…


CRASHER = "CC(C)(C)CC(C)(C)O"  # an ordinary molecule; the test hook makes the worker segfault on it


def test_predict_survives_a_crashing_molecule_worker(run_page, monkeypatch):
    """A real SIGSEGV in the worker (GATE_TEST_CRASH_SMILES) fails that prediction only."""
    from gate_core.data.untrusted import CRASH_ENV

    monkeypatch.setenv(CRASH_ENV, CRASHER)
    at = run_page("pages/4_Predict.py", predict_tasks=["Tm_K"])
    at.text_area(key="predict_smiles").set_value(f"CCO\n{CRASHER}\nc1ccccc1O").run()
    assert not at.exception, [e.value for e in at.exception]
    assert (
        "Nothing was predicted: the molecule worker crashed (signal 11 (SIGSEGV)) while reading rows 1-3 of 3"
        in messages(at.error)
    )
    at.text_area(key="predict_smiles").set_value(
        "CCO\nc1ccccc1O"
    ).run()  # the same server, a fresh worker
    assert not at.exception and not at.error
    assert list(pd.read_csv(io.BytesIO(at.session_state["predict_csv"]))["smiles"]) == [
        "CCO",
        "Oc1ccccc1",
    ]


def test_upload_check_survives_a_crashing_molecule_worker(run_page, monkeypatch):
    from gate_core.data.untrusted import CRASH_ENV

    monkeypatch.setenv(CRASH_ENV, CRASHER)
    molecules = ["C" * n + "O" for n in range(1, 25)] + [CRASHER]  # 25 distinct: enough to train
    rows = "\n".join(f"{s},{1.5 + 0.37 * i:.2f}" for i, s in enumerate(molecules))
    at = run_page("pages/1_Add_a_task.py")
    at.file_uploader(key="add_upload").upload(
        "crash.csv", f"smiles,value\n{rows}\n".encode(), "text/csv"
    )
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert "The molecules could not be checked: the molecule worker crashed" in messages(at.error)
    assert not [
        b for b in at.button if getattr(b, "key", None) == "add_start"
    ]  # nothing can be started
    monkeypatch.delenv(CRASH_ENV)
    at.run()  # the check is not cached after a crash: it runs again, in a fresh worker
    assert not at.exception and not at.error


def test_latent_space_survives_a_crashing_molecule_worker(run_page, monkeypatch):
    """Typed molecules are parsed in the worker: a crash places none of them, the map stays."""
    from gate_core.data.untrusted import CRASH_ENV

    monkeypatch.setenv(CRASH_ENV, CRASHER)
    at = run_page("pages/3_Latent_space.py")
    at.text_area(key="latent_query").set_value(f"CCO ethanol\n{CRASHER} crasher").run()
    assert not at.exception, [e.value for e in at.exception]
    assert "Your molecules were not placed: the molecule worker crashed" in messages(at.error)
    assert [c for c in at.get("plotly_chart") if c.key == "latent_plot"]  # the map is still drawn
    monkeypatch.delenv(CRASH_ENV)
    at.text_area(key="latent_query").set_value("CCO ethanol").run()  # a fresh worker
    assert not at.exception and not at.error
