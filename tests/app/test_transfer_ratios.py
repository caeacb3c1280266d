"""Transfer ratios page: ranked λ with spread and share, trajectory, heatmap, and the caveat."""

PAGE = "pages/2_Transfer_ratios.py"
LEARNED = {
    "ratios": "learned",
    "ensemble": 2,
    "max_steps": 40,
    "warmup_steps": 10,
    "outer_every": 5,
}


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
    assert "learned" in at.caption[0].value and "2 members" in at.caption[0].value
    assert not any("λ was not learned" in i.value for i in at.info)
    at.radio(key="ratios_member").set_value("member 2").run()
    assert not at.exception
    # the sources the tiny backbone cannot predict on its own test fold are named as left out
    skill = studio.backbone.source_skill
    unskilled = [s for s in studio.backbone.task_names if skill.get(s, 1.0) <= 0.0]
    left_out = [i.value for i in at.info if i.value.startswith("Left out (λ = 0)")]
    assert bool(left_out) == bool(unskilled)
    for source in unskilled:
        assert source in left_out[0]
        assert table.loc[table["source"] == source, "λ"].item() == 0.0

    at.selectbox(key="ratios_task").set_value("second").run()
    assert not at.exception
    assert "ratios_trajectory" not in chart_keys(at)
    assert any("No trajectory" in c.value for c in at.caption)
    assert any("**uniform** ratios, so λ was not learned" in i.value for i in at.info)
    assert (at.dataframe[0].value["λ"] == 1.0).all()


def test_plain_words_close_ratios_marked_and_the_trajectory_highlights_the_top_sources(
    run_page, add_tiny_task, studio
):
    import json

    from gate_app.charts import OTHER_COLOUR, TOP_SOURCES

    add_tiny_task("first", **LEARNED)
    at = run_page(PAGE)
    words = " ".join(m.value for m in at.markdown)
    assert "λ = 1** is the default weight" in words and "share** is λ divided by the sum" in words
    table = at.dataframe[0].value
    assert table["share %"].is_monotonic_decreasing  # shares follow λ
    assert set(table["vs the next source"]) <= {"clearly higher", "within the spread", ""}
    assert "ensemble of 2 members" in at.caption[0].value
    chart = next(c for c in at.get("plotly_chart") if c.key == "ratios_trajectory")
    figure = json.loads(chart.proto.spec)
    assert figure["layout"]["xaxis"]["range"][0] == 0
    grey = [t for t in figure["data"] if t["line"]["color"] == OTHER_COLOUR]
    assert len(grey) == len(studio.backbone.task_names) - TOP_SOURCES and not any(
        t.get("showlegend", True) for t in grey
    )
