"""Tasks page: list, rename, delete with confirmation, export, import (with clear errors)."""

import io

import pytest

PAGE = "pages/5_Tasks.py"


def test_lists_tasks(run_page, add_tiny_task):
    add_tiny_task("alpha")
    add_tiny_task("beta")
    at = run_page(PAGE)
    assert list(at.dataframe[0].value["task"]) == ["alpha", "beta"]
    assert at.selectbox(key="tasks_select").value == "alpha"
    assert at.download_button(key="tasks_export").label == "Download alpha.zip"


def test_rename_and_refuse_a_clash(run_page, add_tiny_task, studio):
    add_tiny_task("alpha")
    add_tiny_task("beta")
    at = run_page(PAGE)
    at.text_input(key="tasks_new_name").set_value("beta")
    at.button(key="tasks_rename").click().run()
    assert "already exists" in at.error[0].value
    at.text_input(key="tasks_new_name").set_value("gamma")
    at.button(key="tasks_rename").click().run()
    assert not at.exception
    assert "Renamed 'alpha' to 'gamma'" in at.success[0].value
    assert [r.name for r in studio.added_tasks()] == ["beta", "gamma"]


def test_rename_to_a_backbone_property_is_refused_by_the_api_and_the_page(
    run_page, add_tiny_task, studio
):
    """The rule lives in GateStudio.rename_task; the page (and any other caller) goes through it."""
    from gate_core.registry import TaskExistsError

    add_tiny_task("alpha")
    with pytest.raises(TaskExistsError, match="backbone's source property 'Tb_K'"):
        studio.rename_task("alpha", "tb_k")
    at = run_page(PAGE)
    at.text_input(key="tasks_new_name").set_value("Tb_K")
    at.button(key="tasks_rename").click().run()
    assert "backbone's source property" in at.error[0].value
    assert [r.name for r in studio.added_tasks()] == ["alpha"]
    studio.rename_task("alpha", "Alpha")  # a change of case only is allowed
    assert [r.name for r in studio.added_tasks()] == ["Alpha"]


def test_delete_needs_confirmation(run_page, add_tiny_task, studio):
    add_tiny_task("alpha")
    at = run_page(PAGE)
    assert at.button(key="tasks_delete").disabled
    at.checkbox(key="tasks_confirm_delete").check().run()
    at.button(key="tasks_delete").click().run()
    assert not at.exception
    assert "Deleted 'alpha'" in at.success[0].value
    assert studio.added_tasks() == []


def test_export_then_import_round_trip(run_page, add_tiny_task, studio):
    add_tiny_task("alpha")
    buffer = io.BytesIO()
    studio.registry.export_task("alpha", buffer)
    at = run_page(PAGE)
    at.file_uploader(key="tasks_import_file").upload(
        "alpha.gate-task.zip", buffer.getvalue(), "application/zip"
    )
    at.text_input(key="tasks_import_name").set_value("alpha_copy")
    at.run()
    at.button(key="tasks_import").click().run()
    assert not at.exception and not at.error
    assert "Imported 'alpha_copy'" in at.success[0].value
    assert [r.name for r in studio.added_tasks()] == ["alpha", "alpha_copy"]
    assert studio.predict(["CCO"], ["alpha_copy"])["alpha_copy"].notna().all()


def test_import_of_a_bad_file_is_a_clear_error(run_page, studio):
    at = run_page(PAGE)
    at.file_uploader(key="tasks_import_file").upload(
        "junk.zip", b"not a zip at all", "application/zip"
    )
    at.run()
    at.button(key="tasks_import").click().run()
    assert not at.exception
    assert "not a zip file" in at.error[0].value
    assert studio.added_tasks() == []


def test_model_card_is_shown_downloadable_and_inside_the_export(run_page, add_tiny_task, studio):
    import zipfile

    add_tiny_task("alpha")
    at = run_page(PAGE)
    shown = " ".join(m.value for m in at.markdown)
    for part in (
        "# Model card: alpha",
        "## Data",
        "## Split",
        "## Quality",
        "## Applicability domain",
        "transfer ratios",
        "## Backbone and versions",
    ):
        assert part in shown, part
    assert studio.backbone_id in shown
    assert at.download_button(key="tasks_card_md").label == "Model card (Markdown)"
    assert at.download_button(key="tasks_card_html").label == "Model card (HTML)"

    buffer = io.BytesIO()
    studio.export_task("alpha", buffer)
    with zipfile.ZipFile(buffer) as archive:
        assert archive.read("model_card.md").decode() == studio.model_card("alpha").markdown()
        assert archive.read("model_card.html").decode().startswith("<!DOCTYPE html>")
    imported = studio.registry.import_task(
        io.BytesIO(buffer.getvalue()), studio.backbone_id, name="alpha_copy"
    )
    assert (
        imported.name == "alpha_copy"
    )  # the card travels with the task and does not stop an import
