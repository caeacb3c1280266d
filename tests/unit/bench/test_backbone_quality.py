"""bench.backbone_quality: the winner per property and when it may be called clear."""

import numpy as np

from bench.backbone_quality import MIN_TEST_FOR_VERDICT, compare_property, markdown


def test_a_clear_winner_needs_enough_test_molecules():
    rng = np.random.default_rng(0)
    y = rng.normal(size=200)
    preds = {"gate": y + 0.1 * rng.normal(size=200), "rf": y + rng.normal(size=200)}
    out = compare_property(y, preds, 200, 0)
    assert out["winner"] == "gate" and out["runner_up"] == "rf" and out["winner_distinguishable"]
    lo, hi = out["methods"]["gate"]["rmse_ci95"]
    assert lo <= out["methods"]["gate"]["rmse"] <= hi
    few = compare_property(
        y[: MIN_TEST_FOR_VERDICT - 1], {k: p[:9] for k, p in preds.items()}, 200, 0
    )
    assert not few["winner_distinguishable"]


def test_markdown_names_the_winner_and_the_baselines():
    y = np.linspace(0, 1, 50)
    props = {"Tm_K": compare_property(y, {"gate": y + 0.01, "multitask": y + 0.3}, 100, 0)}
    result = {
        "backbone": "bb",
        "split": {"kind": "scaffold", "fractions": [0.8, 0.1, 0.1], "seed": 0, "data_hash": "h"}
        | {"train": 40, "val": 5, "test": 5},
        "settings": {"tasks": "Tm_K", "epochs": 2, "max_minutes": 1.0, "rf_trees": 20}
        | {"rf_max_features": 1.0},
        "details": {
            "multitask": {},
            "single_task": {},
            "rf": {"n_descriptors": 217},
        },
        "properties": props,
    }
    text = markdown(result)
    assert "GATE backbone (clear)" in text and "lower RMSE on 1 of 1 properties" in text
    assert "217 RDKit 2D descriptors" in text
