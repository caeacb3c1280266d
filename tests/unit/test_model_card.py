"""Model cards: every part the issue asks for, intervals that contain the estimate, user text escaped."""

import re

import numpy as np

from gate_core.model_card import metric_intervals, model_card
from gate_core.registry import TaskRecord


def record(**changes) -> TaskRecord:
    base = dict(
        name="logS_demo",
        task_type="regression",
        unit="log mol/L",
        description="Aqueous solubility, **in-house** <script>x</script>",
        backbone_id="abc123",
        sizes={
            "n_rows": 152,
            "n_valid": 150,
            "n_train": 150,
            "n_test": 0,
            "n_invalid": 1,
            "n_duplicates_merged": 1,
        },
        metrics={
            "comparison": {
                "gate": {"r2": 0.8, "rmse": 0.6, "mae": 0.45, "n": 150},
                "probe": {"r2": 0.7, "rmse": 0.7, "mae": 0.5, "n": 150},
            },
            "model": "gate",
        },
        ratios={
            f"src{i}": {"ratio": 1.0 + i / 10, "ratio_std": 0.1, "share": 0.1} for i in range(8)
        },
        created="2026-11-30T08:00:00+00:00",
    )
    return TaskRecord(**{**base, **changes})


def metadata(n: int = 150) -> dict:
    rng = np.random.default_rng(0)
    y = rng.normal(-3, 1.5, n)
    return {
        "config": {"ensemble": 5, "max_steps": 200},
        "ratio_mode": "learned",
        "oof": {
            "y_true": y.tolist(),
            "fold": (np.arange(n) % 5).tolist(),
            "gate": (y + rng.normal(0, 0.6, n)).tolist(),
            "probe": (y + rng.normal(0, 0.8, n)).tolist(),
        },
        "domain": {"neighbours": 5},
        "format_version": 2,
    }


def test_card_has_data_split_metrics_with_intervals_domain_ratios_and_versions():
    text = model_card(
        record(), metadata(), {"n_sources": 21, "kinds": "16 measured, 5 computed"}
    ).markdown()
    for part in (
        "## Data",
        "## Split",
        "## Quality",
        "## Applicability domain",
        "## Top 5 transfer ratios",
        "## Backbone and versions",
    ):
        assert part in text
    assert (
        "152 rows in the uploaded table; 150 molecules used; 1 invalid row skipped" in text
        and "1 duplicate row merged" in text
    )
    assert "no separate test set" in text and "Ensemble of 5 members" in text
    assert (
        "trained task (GATE) · answers predictions" in text and "0.8 (" in text
    )  # R² with its interval
    assert "| src7 | 1.7 |" in text and "src2" not in text  # the top 5 only
    assert (
        "abc123" in text
        and "21 (16 measured, 5 computed)" in text
        and "gate_core" in text
        and "RDKit" in text
    )


def test_user_text_is_escaped_in_markdown_and_html():
    card = model_card(record(), metadata())
    assert r"\*\*in\-house\*\* \<script\>x\</script\>" in card.markdown()
    page = card.html()
    assert (
        "<script>" not in page
        and "&lt;script&gt;x&lt;/script&gt;" in page
        and "**in-house**" in page
    )
    assert (
        page.startswith("<!DOCTYPE html>")
        and "<h2>Quality</h2>" in page
        and "<b>" not in page.split("<h2>Summary</h2>")[1].split("</p>")[0]
    )


def test_intervals_contain_the_estimate_and_narrow_with_more_data():
    rng = np.random.default_rng(1)
    y = rng.normal(0, 1, 400)
    pred = y + rng.normal(0, 0.5, 400)
    wide = metric_intervals(y[:40], pred[:40], "regression")
    narrow = metric_intervals(y, pred, "regression")
    assert wide["rmse"][0] < 0.5 < wide["rmse"][1]
    assert narrow["rmse"][1] - narrow["rmse"][0] < wide["rmse"][1] - wide["rmse"][0]
    assert metric_intervals(y[:3], pred[:3], "regression") == {}


def test_a_task_without_stored_quality_says_so():
    text = model_card(record(metrics={}, ratios={}), {}).markdown()
    assert "No quality estimate was stored" in text and "No transfer ratios were stored" in text


def test_every_field_from_a_record_or_imported_metadata_is_plain_text():
    """An imported task's record and metadata.json are untrusted: no field may add a link,
    an image, a heading, a list, a colour directive or a table break to the card."""
    evil = "x\n# heading\n1. item ![img](http://e.x/p.png) [link](http://e.x) <img src=x> :red[c] $m$ a|b &lt;"
    hostile = record(
        name="ok_name",
        unit=evil,
        description=evil,
        task_type=evil,
        backbone_id=evil,
        created=evil,
        ratios={evil: {"ratio": 1.0, "ratio_std": 0.1, "share": 1.0}},
        metrics={"comparison": {evil: {"rmse": 0.5, "n": 3}}, "model": evil},
    )
    meta = {
        **metadata(),
        "ratio_mode": evil,
        "format_version": evil,
        "config": {"ensemble": 2, "max_steps": evil},
        "domain": {"neighbours": evil},
    }
    card = model_card(hostile, meta, {"n_sources": 3, "kinds": evil})
    text = card.markdown()
    for active in (
        "![",
        "](",
        "<img",
        "\n#",
        "\n1.",
        ":red[",
        "$m",
        "|b",
        "&lt;",
    ):  # unless backslash-escaped
        count = len(re.findall(r"(?<!\\)" + re.escape(active), text))
        assert count == (text.count("\n## ") if active == "\n#" else 0), (
            active,
            count,
        )  # only the card's own headings
    page = card.html()
    assert (
        "<img" not in page and "<a " not in page and "&amp;lt;" in page
    )  # '&lt;' typed by the user stays literal
    assert page.count("<b>") == 0
