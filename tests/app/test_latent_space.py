"""Latent space page: 2-D maps of molecules, colours, query overlay, side-by-side spaces."""

import json

PAGE = "pages/3_Latent_space.py"


def charts(at) -> dict[str, dict]:
    return {e.key: json.loads(e.proto.spec) for e in at.get("plotly_chart")}


def test_backbone_sample_in_the_common_chart_with_pca(run_page):
    at = run_page(PAGE, latent_method="PCA")
    assert at.selectbox(key="latent_sample").value == "sample of the backbone's table"
    at.slider(key="latent_n").set_value(100)
    at.selectbox(key="latent_colour").set_value("measured Tb_K")
    at.text_area(key="latent_query").set_value("CCO\nnot_a_smiles")
    at.run()
    assert not at.exception
    assert "not_a_smiles" in at.warning[0].value
    figure = charts(at)["latent_plot"]
    assert all(trace["type"] == "scattergl" for trace in figure["data"])
    assert figure["data"][-1]["name"] == "your molecules" and figure["data"][-1]["text"] == ["CCO"]
    assert sum(len(t["text"]) for t in figure["data"][:-1]) == 100
    assert "PCA of the common chart" in figure["layout"]["title"]["text"]


def test_typed_molecules_obey_the_row_limit_of_an_uploaded_file(run_page, monkeypatch):
    monkeypatch.setenv("GATE_MAX_ROWS", "1")
    at = run_page(PAGE, latent_method="PCA")
    at.text_area(key="latent_query").set_value("CCO ethanol\nc1ccccc1O phenol").run()
    assert not at.exception
    assert "2 molecules were typed or pasted; the limit is 1" in at.error[0].value
    assert charts(at)["latent_plot"]["data"][-1]["name"] != "your molecules"


def test_task_training_set_side_by_side_with_in_domain_colours(run_page, add_tiny_task):
    add_tiny_task("tiny_logs")
    at = run_page(PAGE, latent_method="PCA")
    assert at.selectbox(key="latent_sample").value == "training set of tiny_logs"
    at.selectbox(key="latent_space").set_value("tiny_logs")
    at.selectbox(key="latent_colour").set_value("in domain of tiny_logs")
    at.checkbox(key="latent_compare").check()
    at.run()
    at.selectbox(key="latent_space2").set_value("Tm_K").run()
    assert not at.exception
    figures = charts(at)
    assert set(figures) == {"latent_plot", "latent_plot2"}
    assert "latent space of tiny_logs" in figures["latent_plot"]["layout"]["title"]["text"]
    assert "latent space of Tm_K" in figures["latent_plot2"]["layout"]["title"]["text"]
    assert {t["name"] for t in figures["latent_plot"]["data"]} <= {
        "in domain of tiny_logs: in domain",
        "in domain of tiny_logs: out of domain",
    }


def test_umap_projection(run_page):
    import numpy as np

    from gate_app.projection import fit_projection

    # the first UMAP of a process compiles numba's kernels: minutes on a fresh venv with the CPU
    # shared (CI), so that happens here, outside the page's timed run (same n, same code path)
    points = np.random.default_rng(0).normal(size=(50, 8)).astype(np.float32)
    fit_projection(points, "UMAP").transform(points[:2])
    at = run_page(PAGE, latent_method="PCA", latent_n=50)
    at.radio(key="latent_method").set_value("UMAP")
    at.run(timeout=300)
    assert not at.exception
    figure = charts(at)["latent_plot"]
    assert "UMAP of the common chart" in figure["layout"]["title"]["text"]
    assert (
        sum(len(t["text"]) for t in figure["data"]) == 50
    )  # coloured by a measured value: "no value" and valued traces


def test_all_task_training_sets_coloured_by_task(run_page, add_tiny_task):
    add_tiny_task("first")
    add_tiny_task("second", csv="target_tiny_classification.csv")
    at = run_page(PAGE, latent_method="PCA")
    at.selectbox(key="latent_sample").set_value("training sets of all added tasks").run()
    at.selectbox(key="latent_colour").set_value("task").run()
    assert not at.exception
    names = {t["name"] for t in charts(at)["latent_plot"]["data"]}
    assert names == {"task: first", "task: second"}


def test_training_set_with_invalid_rows_is_cleaned(run_page, studio):
    from pathlib import Path

    import pandas as pd

    from gate_core.api import config_from_options

    frame = pd.read_csv(
        Path(__file__).resolve().parents[2] / "tests" / "data" / "target_tiny.csv"
    ).astype({"value": object})
    frame.loc[0, "value"], frame.loc[1, "smiles"] = "n/a", "not_a_smiles"
    studio.add_task(
        frame,
        "smiles",
        "value",
        "messy",
        config=config_from_options({"ensemble": 1, "max_steps": 20}),
    )
    at = run_page(PAGE, latent_method="PCA", latent_colour="measured messy")
    assert not at.exception
    assert sum(len(t["text"]) for t in charts(at)["latent_plot"]["data"]) == 58


def test_your_molecules_are_placed_on_the_fitted_map_labelled_and_colour_defaults_to_a_measured_value(
    run_page,
):
    at = run_page(PAGE, latent_method="PCA", latent_n=100)
    assert at.selectbox(key="latent_colour").value.startswith(
        "measured "
    )  # the measured value, not "none"
    before = charts(at)["latent_plot"]
    at.text_area(key="latent_query").set_value("CCO\nc1ccccc1O").run()
    after = charts(at)["latent_plot"]
    mine = after["data"][-1]
    assert (
        mine["name"] == "your molecules"
        and mine["mode"] == "markers+text"
        and mine["text"] == ["CCO", "Oc1ccccc1"]
    )
    assert [t["x"] for t in after["data"][:-1]] == [
        t["x"] for t in before["data"]
    ]  # the map did not move
    at.slider(key="latent_n").set_value(
        150
    ).run()  # another molecule set: the colour stays a measured value
    assert at.selectbox(key="latent_colour").value.startswith("measured ")


def test_a_selection_rings_the_same_molecules_in_both_panels(run_page):
    at = run_page(PAGE, latent_method="PCA", latent_n=50, latent_compare=True)
    assert not any(t["name"] == "selected" for f in charts(at).values() for t in f["data"])
    picked = charts(at)["latent_plot"]["data"][-1]["text"][
        :2
    ]  # two molecules' SMILES (no names here)
    at.session_state["latent_selected"] = picked  # what a box selection in either panel stores
    at.run()
    assert not at.exception
    figures = charts(at)
    assert set(figures) == {"latent_plot", "latent_plot2"}
    rings = [next(t for t in f["data"] if t["name"] == "selected") for f in figures.values()]
    assert sorted(rings[0]["text"]) == sorted(rings[1]["text"]) == sorted(picked)
    assert "2 selected" in " ".join(m.value for m in at.markdown)
