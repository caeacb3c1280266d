"""Transfer ratios page: ranked λ with spread and share, trajectory, heatmap, and the caveat."""

PAGE = "pages/2_Transfer_ratios.py"
LEARNED = {"ensemble": 2, "max_steps": 40, "warmup_steps": 10, "outer_every": 5}


def chart_keys(at) -> set[str]:
    return {e.key for e in at.get("plotly_chart")}


def test_without_tasks_says_so(run_page):
    at = run_page(PAGE)
    assert "No tasks added yet" in at.warning[0].value
    assert "not evidence of a physical or causal link" in at.info[0].value


def test_learned_ratios_are_ranked_with_trajectory_and_heatmap(run_page, add_tiny_task, studio):
    add_tiny_task("first", **LEARNED)
    add_tiny_task("second", ratios="uniform")
    at = run_page(PAGE)
    assert at.selectbox(key="ratios_task").value == "first"
    assert {"ratios_bars", "ratios_trajectory", "ratios_heatmap"} <= chart_keys(at)
    table = at.dataframe[0].value
    assert list(table["source"]) == list(table.sort_values("λ", ascending=False)["source"])
    assert len(table) == len(studio.backbone.task_names)
    assert abs(table["share %"].sum() - 100) < 1e-3
    assert "learned" in at.caption[0].value and "2 member(s)" in at.caption[0].value
    at.radio(key="ratios_member").set_value("member 2").run()
    assert not at.exception

    at.selectbox(key="ratios_task").set_value("second").run()
    assert not at.exception
    assert "ratios_trajectory" not in chart_keys(at)
    assert any("No trajectory" in c.value for c in at.caption)
    assert (at.dataframe[0].value["λ"] == 1.0).all()
