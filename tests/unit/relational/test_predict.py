"""gate_core.relational.predict and GateStudio: known values, fallback, added tasks, preview, input checks."""

from __future__ import annotations

import shutil
import warnings

import numpy as np
import pandas as pd
import pytest

from gate_core.relational.predict import (
    KnownTargetError,
    KnownValueError,
    KnownValueWarning,
    RelationalInputError,
    RelationalPredictor,
    UnknownTaskError,
    normalise_known,
    preview_new_task,
)

from .conftest import DATA

QUERY = ["CCO", "not a smiles", "c1ccccc1O", "CCCCCCO", "CC(=O)Oc1ccccc1C(=O)O"]
TARGETS = ["Tm_K", "Tc_K", "logKow"]


@pytest.fixture(scope="module")
def predictor(rel_backbone, rel_head):
    model, _ = rel_backbone
    head, meta = rel_head
    return RelationalPredictor(model, head, meta)


@pytest.fixture(scope="module")
def studio(rel_backbone_path, rel_head_path, tmp_path_factory):
    from gate_core.api import GateStudio

    return GateStudio(rel_backbone_path, tmp_path_factory.mktemp("registry"), "cpu")


# ---- parsing ------------------------------------------------------------------------------------


def test_normalise_known():
    assert normalise_known(None, 2) == [{}, {}]
    assert normalise_known({"Tb_K": "351.4", "logKow": None, "nD": float("nan")}, 2) == [
        {"Tb_K": 351.4},
        {"Tb_K": 351.4},
    ]
    assert normalise_known([{"Tb_K": 1}, None, {"nD": ""}], 3) == [{"Tb_K": 1.0}, {}, {}]
    with pytest.raises(KnownValueError, match="not a number: 'abc'"):
        normalise_known({"Tb_K": "abc"}, 1)
    with pytest.raises(KnownValueError, match="row 2"):
        normalise_known([{}, {"Tb_K": "x"}], 2)
    with pytest.raises(KnownValueError, match="one per molecule"):
        normalise_known([{}, {}], 3)
    with pytest.raises(KnownValueError, match="not finite"):
        normalise_known({"Tb_K": float("inf")}, 1)


# ---- checks ---------------------------------------------------------------------------------------


def test_unknown_task_is_refused(predictor):
    with pytest.raises(UnknownTaskError, match="nope"):
        predictor.predict(["CCO"], ["Tm_K"], {"nope": 1.0})
    with pytest.raises(UnknownTaskError, match="nope"):
        predictor.predict(["CCO"], ["nope"], {"Tb_K": 300.0})


def test_known_value_for_the_predicted_task_is_refused(predictor):
    with pytest.raises(KnownTargetError, match="Tm_K.*also being predicted"):
        predictor.predict(["CCO"], ["Tm_K", "Tc_K"], {"Tm_K": 200.0})


def test_far_out_of_range_value_warns_and_is_reported(predictor):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        frame = predictor.predict(["CCO", "CCCO"], ["Tm_K"], [{"Tb_K": 35140.0}, {"Tb_K": 351.0}])
    assert any(
        issubclass(w.category, KnownValueWarning) and "Tb_K" in str(w.message) for w in caught
    )
    assert "far outside" in frame["known_warning"][0] and frame["known_warning"][1] == ""


def test_errors_are_value_errors():
    for cls in (UnknownTaskError, KnownValueError, KnownTargetError):
        assert issubclass(cls, RelationalInputError) and issubclass(cls, ValueError)


# ---- fallback and behaviour ---------------------------------------------------------------------


def test_without_known_values_relational_equals_plain(predictor, rel_backbone):
    from gate_core.training.evaluate import predict

    model, _ = rel_backbone
    frame = predictor.predict(QUERY, TARGETS)
    plain = predict(model, [s for s in frame["smiles"] if isinstance(s, str)])
    ok = frame["error"].isna().to_numpy()
    for t in TARGETS:
        assert np.allclose(frame.loc[ok, t], plain[:, model.task_names.index(t)], rtol=1e-6)
        assert np.allclose(frame.loc[ok, f"{t}_relational"], frame.loc[ok, t], rtol=1e-6, atol=1e-6)
    assert frame.loc[~ok, [f"{t}_relational" for t in TARGETS]].isna().all().all()
    assert (frame["known_used"] == "").all()


def test_known_values_move_the_prediction_of_that_row_only(predictor):
    frame = predictor.predict(QUERY, TARGETS, [{"Tb_K": 400.0}, None, None, {}, None])
    assert frame["known_used"][0] == "Tb_K=400"
    assert not np.allclose(
        frame.loc[0, [f"{t}_relational" for t in TARGETS]].astype(float),
        frame.loc[0, TARGETS].astype(float),
    )
    for i in (2, 3, 4):
        assert np.allclose(
            frame.loc[i, [f"{t}_relational" for t in TARGETS]].astype(float),
            frame.loc[i, TARGETS].astype(float),
            atol=1e-6,
        )


# ---- added tasks and preview ------------------------------------------------------------------------


def test_added_task_node_from_support(rel_backbone, rel_head):
    model, _ = rel_backbone
    head, meta = rel_head
    predictor = RelationalPredictor(model, head, meta)
    frame = pd.read_csv(DATA / "target_tiny.csv")
    spec = predictor.add_task_node("logS", frame["smiles"], frame["value"])
    assert (
        spec.kind == "preview"
        and spec.n_support == len(set(frame["smiles"]))
        and not spec.classification
    )
    out = predictor.predict(QUERY, ["logS", "Tm_K"], {"Tb_K": 350.0})
    assert np.isfinite(
        out.loc[out["error"].isna(), ["logS_relational", "Tm_K_relational"]].to_numpy(float)
    ).all()
    # the new task can also be a known value for a backbone task
    out2 = predictor.predict(["CCO"], ["Tm_K"], {"logS": 0.5})
    assert np.isfinite(out2["Tm_K_relational"][0])
    with pytest.raises(RelationalInputError, match="backbone task"):
        predictor.add_task_node("Tm_K", frame["smiles"], frame["value"])
    with pytest.raises(RelationalInputError, match="at least"):
        predictor.add_task_node("few", frame["smiles"][:3], frame["value"][:3])


def test_preview_regression(rel_backbone, rel_head):
    model, _ = rel_backbone
    head, _ = rel_head
    frame = pd.read_csv(DATA / "target_tiny.csv")
    out = preview_new_task(
        model,
        head,
        frame["smiles"][:45],
        frame["value"][:45],
        list(frame["smiles"][45:]) + ["bad smiles"],
    )
    assert list(out.columns[:3]) == ["input", "smiles", "error"] and "prediction" in out.columns
    assert out["prediction"][:-1].notna().all() and np.isnan(out["prediction"].iloc[-1])
    assert (
        out.attrs["n_support"] == 45
        and out.attrs["task_type"] == "regression"
        and out.attrs["seconds"] < 30
    )
    assert out["prediction"][:-1].between(frame["value"].min() - 5, frame["value"].max() + 5).all()


def test_preview_classification_gives_probabilities(rel_backbone, rel_head):
    model, _ = rel_backbone
    head, _ = rel_head
    frame = pd.read_csv(DATA / "target_tiny_classification.csv")
    smiles_col, value_col = frame.columns[:2]
    out = preview_new_task(
        model, head, frame[smiles_col][:40], frame[value_col][:40], frame[smiles_col][40:]
    )
    assert out.attrs["task_type"] == "classification"
    p = out["prediction"].dropna()
    assert len(p) and p.between(0, 1).all()
    with pytest.raises(RelationalInputError, match="0 or 1"):
        preview_new_task(
            model,
            head,
            frame[smiles_col][:40],
            [0.5] * 20 + [1.0] * 20,
            ["CCO"],
            task_type="classification",
        )


def test_preview_refuses_mismatched_columns(rel_backbone, rel_head):
    model, _ = rel_backbone
    with pytest.raises(RelationalInputError, match="SMILES but"):
        preview_new_task(model, rel_head[0], ["CCO", "CCC"], [1.0], ["CCO"])


# ---- through GateStudio ---------------------------------------------------------------------------


def test_studio_predict_without_known_is_unchanged(studio):
    before = studio.predict(QUERY, TARGETS)
    assert not any(c.endswith("_relational") for c in before.columns)
    with_empty = studio.predict(QUERY, TARGETS, known={})
    pd.testing.assert_frame_equal(with_empty[before.columns], before)
    for t in TARGETS:
        ok = with_empty["error"].isna()
        assert np.allclose(with_empty.loc[ok, f"{t}_relational"], with_empty.loc[ok, t], atol=1e-6)


def test_studio_predict_with_known_columns(studio):
    out = studio.predict(QUERY, None, known={"Tb_K": 351.4, "logKow": -0.31})
    assert (
        "Tb_K" not in out.columns and "logKow" not in out.columns
    )  # known tasks are not predicted by default
    columns = list(out.columns)
    assert (
        columns[columns.index("Tm_K") : columns.index("Tm_K") + 10]
        == [
            "Tm_K",
            "Tm_K_std",
            "Tm_K_lo90",
            "Tm_K_hi90",
            "Tm_K_ad_score",
            "Tm_K_domain",
            "Tm_K_in_domain",
            "Tm_K_relational",
            "Tm_K_relational_lo90",
            "Tm_K_relational_hi90",
        ]
        and columns[columns.index("Tm_K") + 10] == "Tm_K_relational_note"
    )
    assert out["known_used"][0] == "Tb_K=351.4; logKow=-0.31" and out["known_used"][1] == ""
    with pytest.raises(KnownTargetError):
        studio.predict(QUERY, ["Tb_K"], known={"Tb_K": 351.4})


def test_table_labels_are_opt_in_and_never_for_a_target(studio, rel_backbone):
    _model, meta = rel_backbone
    table = pd.read_csv(meta["pretraining"]["config"]["table"])
    counts = table.groupby("smiles")["task"].nunique()
    smiles = counts[counts >= 3].index[0]
    labels = studio.table_labels(smiles)
    assert len(labels) >= 3
    target = next(iter(labels))
    plain = studio.predict([smiles], [target], known={})
    out = studio.predict([smiles], [target], use_table_labels=True)
    used = out["known_from_table"][0]
    assert used and target not in [item.split("=")[0] for item in used.split("; ")]
    assert out["known_used"][0] == ""
    # the recorded labels reach the pair check: each one either corrects the target or is refused, by name
    note = out[f"{target}_relational_note"][0]
    assert note and all(item.split("=")[0] in note for item in used.split("; "))
    assert plain[f"{target}_relational_note"][0] == ""
    # the recorded label of the target itself must not matter
    original = dict(studio._table_labels[smiles])
    try:
        studio._table_labels[smiles][target] = original[target] * 10 + 1000
        again = studio.predict([smiles], [target], use_table_labels=True)
    finally:
        studio._table_labels[smiles] = original
    assert again[f"{target}_relational"][0] == out[f"{target}_relational"][0]


def test_registered_added_task_takes_part(studio):
    from gate_core.transfer.addition import TaskAdditionConfig

    frame = pd.read_csv(DATA / "target_tiny.csv")
    config = TaskAdditionConfig(
        ensemble=2, max_steps=10, warmup_steps=2, outer_every=5, eval_every=5
    )
    studio.add_task(frame, "smiles", "value", "logS", config=config)
    out = studio.predict(QUERY, ["logS", "Tm_K"], known={"Tb_K": 351.4})
    ok = out["error"].isna()
    assert out.loc[ok, "logS_relational"].notna().all() and "logS_ad_score" in out.columns
    none = studio.predict(QUERY, ["logS"], known={})
    assert np.allclose(none.loc[ok, "logS_relational"], none.loc[ok, "logS"], atol=1e-5)
    as_known = studio.predict(["CCO"], ["Tm_K"], known={"logS": 0.3})
    assert as_known["known_used"][0] == "logS=0.3"


def test_missing_head_is_a_clear_error(rel_backbone_path, tmp_path):
    from gate_core.api import GateStudio
    from gate_core.relational.io import RelationalHeadError

    lone = tmp_path / "bb"
    shutil.copytree(rel_backbone_path, lone)
    studio = GateStudio(lone, tmp_path / "reg", "cpu")
    assert studio.predict(["CCO"], ["Tm_K"]).shape[0] == 1  # plain prediction needs no head
    with pytest.raises(RelationalHeadError, match="pretrain-relational"):
        studio.predict(["CCO"], ["Tm_K"], known={"Tb_K": 300})
