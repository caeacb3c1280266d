"""Home page: what the tool is, the backbone card, added tasks, links to the next steps."""

from pathlib import Path

from streamlit.testing.v1 import AppTest

ROOT = Path(__file__).resolve().parents[2]


def test_home_renders_title(run_page):
    at = run_page("app.py")
    assert at.title[0].value == "GATE Studio"
    assert "new task" in at.markdown[0].value


def test_home_backbone_card_lists_every_property(run_page, studio):
    at = run_page("app.py")
    card = at.dataframe[0].value
    assert list(card["property"]) == studio.backbone.property_names
    assert {"unit", "molecules", "test RMSE", "test R²"} <= set(card.columns)
    assert card["molecules"].notna().all()
    sources = [
        m.value for m in at.markdown if m.value.startswith("**") and m.value.endswith(")")
    ]  # grouped by kind, every source listed
    assert sources[0] == f"**Experimental properties** ({len(studio.backbone.property_names)})"
    assert sum(int(s.rsplit("(", 1)[1].rstrip(")")) for s in sources) == len(studio.source_tasks)
    assert [h.value for h in at.header] == ["Backbone", "Added tasks", "Next steps"]
    assert any("No tasks added yet" in i.value for i in at.info)
    assert len(at.get("page_link")) == 5


def test_home_lists_added_tasks_with_metrics(run_page, add_tiny_task):
    add_tiny_task("tiny_logs")
    at = run_page("app.py")
    tasks = next(d.value for d in at.dataframe if "task" in d.value.columns)
    assert list(tasks["task"]) == ["tiny_logs"]
    assert tasks.loc[0, "status"] == "ready"
    for heading in ("test-set R², new task", "test-set R², frozen backbone + new head"):
        assert tasks.loc[0, heading] == tasks.loc[0, heading], heading  # a number, not NaN
    assert not {"metric", "test", "baseline"} & set(tasks.columns)  # headings say what they are


def test_home_without_backbone_warns_instead_of_crashing(app_env, monkeypatch, tmp_path):
    monkeypatch.setenv("GATE_BACKBONE", str(tmp_path / "no_backbone_here"))
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60).run()
    assert not at.exception
    assert "No backbone found" in at.warning[0].value
    assert at.title[0].value == "GATE Studio"
