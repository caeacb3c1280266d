"""gate_core.transfer.addition: checking the user's data and adding a task end to end (tiny configs)."""

from __future__ import annotations

import copy

import numpy as np
import pandas as pd
import pytest
import torch

from gate_core.data.table import MultiTaskTable
from gate_core.models.fingerprint import backbone_fingerprint
from gate_core.transfer.addition import (
    TaskAdditionConfig,
    TaskDataError,
    add_task,
    detect_task_type,
    text_target_problem,
    validate_task_table,
)
from gate_core.transfer.ratios import RatioSettings

from .conftest import DATA, SOURCE_TASKS

TINY = {"ensemble": 2, "max_steps": 20, "warmup_steps": 5, "outer_every": 5, "eval_every": 5}


def _config(**overrides) -> TaskAdditionConfig:
    return TaskAdditionConfig(**{**TINY, **overrides})


# ---- task type and data checks -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        ([0, 1, 1, 0], "classification"),
        ([1.0, 0.0], "classification"),
        ([0.0, 1.0, 2.0], "regression"),
        ([1.0, 1.0, 1.0], "regression"),
        ([0.0, 0.5, 1.0], "regression"),
        ([-1.0, 1.0], "regression"),
        ([-2.3, 4.1, 0.7], "regression"),
    ],
)
def test_detect_task_type(values, expected):
    assert detect_task_type(np.array(values, dtype=np.float32)) == expected


def _table(values) -> MultiTaskTable:
    smiles = ["C" * (i + 1) for i in range(len(values))]
    return MultiTaskTable.from_single_task(smiles, list(values), "t")


def test_validate_accepts_enough_varied_rows():
    validate_task_table(_table(np.linspace(0, 1, 20)), "regression")
    validate_task_table(_table([0, 1] * 10), "classification")


@pytest.mark.parametrize(
    ("values", "task_type", "match"),
    [
        (
            np.linspace(0, 1, 19),
            "regression",
            "only 19 valid molecules after cleaning; at least 20",
        ),
        ([3.5] * 25, "regression", "all labels are identical"),
        ([1] * 25, "classification", "all labels are identical"),
        ([0] * 24 + [1], "classification", "at least two molecules of each class"),
        ([0, 1, 2] * 8, "classification", "must be 0 or 1"),
    ],
    ids=["too-few", "identical", "one-class", "one-minority-molecule", "not-binary"],
)
def test_validate_errors(values, task_type, match):
    with pytest.raises(TaskDataError, match=match):
        validate_task_table(_table(values), task_type)


@pytest.mark.parametrize(
    ("options", "match"),
    [
        (
            {"task_type": "ordinal"},
            "unknown task type 'ordinal'; choose one of: regression, classification",
        ),
        ({"split": "by_date"}, "unknown split 'by_date'; choose one of: random, scaffold"),
        ({"test_fraction": 1.0}, "the test fraction must be from 0 to 0.5, got 1.0"),
        ({"test_fraction": 0.6}, "the test fraction must be from 0 to 0.5"),
        ({"ensemble": 0}, "the ensemble size must be a whole number from 1 to 10, got 0"),
        ({"ensemble": 11}, "the ensemble size must be a whole number from 1 to 10"),
        ({"ensemble": 2.5}, "the ensemble size must be a whole number"),
        ({"max_steps": 0}, "training steps per member must be a whole number from 1 to 5000"),
        ({"max_steps": 5001}, "training steps per member must be a whole number from 1 to 5000"),
    ],
)
def test_config_refuses_bad_options_when_built(options, match):
    """The CLI, the app's queued runs and the API all build this config: one refusal for all."""
    with pytest.raises(ValueError, match=match):
        TaskAdditionConfig(**options)


def test_add_task_refuses_too_little_data(backbone):
    with pytest.raises(TaskDataError, match="at least 20"):
        add_task(
            backbone, ["CCO", "CCC", "CCCC", "CCN", "CCCl"], [1, 2, 3, 4, 5], "tiny", _config()
        )


def test_add_task_refuses_single_class(backbone, target_frame):
    smiles = target_frame["smiles"].tolist()[:30]
    with pytest.raises(TaskDataError):
        add_task(backbone, smiles, [1] * 30, "one_class", _config(task_type="classification"))


def test_add_task_refuses_a_target_column_of_mostly_text(backbone, target_frame):
    """The upload check's rule, in task addition itself: with 25 numbers among 60 cells the
    rows would pass every other check, and the CLI and the API trained on them."""
    values = ["see note"] * 35 + target_frame["value"].tolist()[35:]
    with pytest.raises(
        TaskDataError, match=r"the target column holds text, not numbers \(e\.g\. 'see note'"
    ):
        add_task(backbone, target_frame["smiles"].tolist(), values, "t", _config())
    assert text_target_problem(values, "value").startswith("the target column 'value' holds text")
    assert text_target_problem(["see note"] * 30 + [1.0] * 30) is None  # half: rows skipped


def test_add_task_refuses_too_small_training_set_after_test_holdout(backbone, target_frame):
    smiles, values = target_frame["smiles"].tolist()[:22], target_frame["value"].tolist()[:22]
    with pytest.raises(TaskDataError, match="left for training"):
        add_task(backbone, smiles, values, "t", _config(test_fraction=0.3))


# ---- end to end ----------------------------------------------------------------------------------


def test_invalid_rows_are_reported_by_row_and_the_rest_trains(backbone, target_frame):
    smiles = target_frame["smiles"].tolist()
    values = target_frame["value"].tolist()
    smiles[2] = "this is not a molecule"  # row 3
    values[9] = "n/a"  # row 10
    smiles[11] = ""  # row 12
    values[20] = float("nan")  # row 21
    result = add_task(backbone, smiles, values, "logS", _config())
    assert [r.row for r in result.invalid] == [3, 10, 12, 21]
    reasons = {r.row: r.reason for r in result.invalid}
    assert (
        "parse" in reasons[3]
        and "not a number" in reasons[10]
        and "empty" in reasons[12]
        and "missing" in reasons[21]
    )  # a NaN label reads as a missing value
    assert result.invalid[0].smiles == "this is not a molecule"
    assert result.task.metadata["n_invalid_rows"] == 4
    assert result.task.metadata["n_test"] == 0
    assert result.task.metadata["n_train"] == len(smiles) - 4 - result.n_duplicates_merged
    out = result.task.predict(backbone, ["CCO", "c1ccccc1"])
    assert np.isfinite(out["mean"].to_numpy(dtype=float)).all()


def test_duplicates_are_merged_and_counted(backbone, target_frame, canonical_targets):
    assert "CCO" not in canonical_targets
    smiles = target_frame["smiles"].tolist() + ["OCC", "CCO", "C(O)C"]  # three spellings of ethanol
    values = target_frame["value"].tolist() + [0.5, 1.5, 9.0]
    result = add_task(backbone, smiles, values, "dup", _config(ensemble=1, max_steps=5))
    assert result.n_duplicates_merged == 2
    assert result.task.metadata["n_train"] == len(target_frame) + 1


def test_classification_end_to_end_gives_probabilities(backbone):
    frame = pd.read_csv(DATA / "target_tiny_classification.csv")
    result = add_task(
        backbone,
        frame["smiles"].tolist(),
        frame["value"].tolist(),
        "active",
        _config(test_fraction=0.2, train_baseline=True),
    )
    task = result.task
    assert task.info.task_type == "classification" and task.classification
    assert (task.y_mean, task.y_std) == (0.0, 1.0)
    mean = np.asarray(result.test_predictions["mean"])
    assert len(mean) == result.task.metadata["n_test"] > 0
    assert ((mean >= 0) & (mean <= 1)).all()
    baseline = np.asarray(result.test_predictions["baseline"])
    assert ((baseline >= 0) & (baseline <= 1)).all()
    assert {"roc_auc", "accuracy"} <= set(result.test_metrics)
    assert set(result.baseline_test_metrics) == set(result.test_metrics)
    predicted = task.predict(backbone, frame["smiles"].tolist()[:10])["mean"].to_numpy(dtype=float)
    assert ((predicted >= 0) & (predicted <= 1)).all()


def test_regression_predictions_come_back_in_user_units(backbone, target_frame):
    shifted = (target_frame["value"] * 10 + 1000).tolist()
    result = add_task(backbone, target_frame["smiles"].tolist(), shifted, "shifted", _config())
    assert result.task.y_mean == pytest.approx(np.mean(shifted), rel=1e-4)
    mean = result.task.predict(backbone, target_frame["smiles"].tolist()[:10])["mean"].to_numpy(
        dtype=float
    )
    assert (np.abs(mean - 1000) < 200).all(), "predictions should be on the scale of the labels"


@pytest.mark.parametrize("mode", ["off", "uniform", "learned"])
def test_ratio_modes(backbone, target_frame, mode, monkeypatch):
    # the tiny backbone's heads barely predict their own properties (held-out R² ≤ 0 for most):
    # the modes' mechanics are tested with every source counted as skilled
    monkeypatch.setattr(backbone, "source_skill", {})
    result = add_task(
        backbone,
        target_frame["smiles"].tolist(),
        target_frame["value"].tolist(),
        "logS",
        _config(ratios=RatioSettings(mode=mode)),
    )
    meta = result.task.metadata
    ratios = meta["ratios"]
    assert list(ratios) == SOURCE_TASKS
    values = np.array([ratios[s]["ratio"] for s in SOURCE_TASKS])
    trajectories = meta["ratio_trajectories"]
    assert meta["ratio_mode"] == mode and len(trajectories) == 2
    if mode == "off":
        assert (values == 0).all()
        assert all(ratios[s]["share"] == 0 for s in SOURCE_TASKS)
        assert trajectories == [[], []]
    elif mode == "uniform":
        assert (values == 1).all()
        assert all(ratios[s]["share"] == pytest.approx(0.25) for s in SOURCE_TASKS)
        assert trajectories == [[], []]
    else:
        assert (values > 0).all()
        assert all(len(t) > 0 for t in trajectories)
        for trajectory in trajectories:
            assert (
                trajectory[0]["step"] == 0
            )  # the transferability start, then the look-ahead steps after warm-up
            assert all(len(point["ratios"]) == len(SOURCE_TASKS) for point in trajectory)
            assert all(point["step"] > TINY["warmup_steps"] for point in trajectory[1:])
        assert not np.allclose(values, 1.0), (
            "the outer steps should have moved λ away from its start"
        )
        assert sum(ratios[s]["share"] for s in SOURCE_TASKS) == pytest.approx(1.0)


def test_pinned_and_excluded_ratios_are_kept(backbone, target_frame, monkeypatch):
    monkeypatch.setattr(backbone, "source_skill", {})  # as in test_ratio_modes
    settings = RatioSettings(mode="learned", pinned={"Tm_K": 0.3}, excluded=["Tb_K"])
    result = add_task(
        backbone,
        target_frame["smiles"].tolist(),
        target_frame["value"].tolist(),
        "logS",
        _config(ratios=settings),
    )
    ratios = result.task.metadata["ratios"]
    assert ratios["Tm_K"]["ratio"] == pytest.approx(0.3) and ratios["Tm_K"][
        "ratio_std"
    ] == pytest.approx(0.0, abs=1e-7)
    assert ratios["Tb_K"]["ratio"] == 0.0
    assert ratios["logKow"]["ratio"] > 0 and ratios["density_kgm3"]["ratio"] > 0
    for trajectory in result.task.metadata["ratio_trajectories"]:
        assert trajectory and all(
            p["ratios"][0] == pytest.approx(0.3) and p["ratios"][1] == 0.0 for p in trajectory
        )


def test_ensemble_has_k_distinct_members_and_spread(backbone, target_frame):
    result = add_task(
        backbone,
        target_frame["smiles"].tolist(),
        target_frame["value"].tolist(),
        "logS",
        _config(ensemble=3, ratios=RatioSettings(mode="uniform")),
    )
    task = result.task
    assert len(task.members) == 3 and len(task.metadata["members"]) == 3
    first = [p.clone() for p in task.members[0].parameters()]
    for member in task.members[1:]:
        assert any(not torch.equal(a, b) for a, b in zip(first, member.parameters()))
    std = task.predict(backbone, target_frame["smiles"].tolist()[:10])["std"].to_numpy(dtype=float)
    assert np.isfinite(std).all() and (std > 0).all()


def test_single_member_has_zero_spread(backbone, target_frame):
    result = add_task(
        backbone,
        target_frame["smiles"].tolist(),
        target_frame["value"].tolist(),
        "logS",
        _config(ensemble=1),
    )
    assert len(result.task.members) == 1
    std = result.task.predict(backbone, ["CCO", "CCCC"])["std"].to_numpy(dtype=float)
    assert (std == 0).all()


def test_add_task_leaves_the_backbone_unchanged_and_reports_progress(backbone, target_frame):
    model = copy.deepcopy(backbone)
    for p in model.parameters():
        p.requires_grad_(True)  # add_task must freeze it itself
    before = {k: v.clone() for k, v in model.state_dict().items()}
    fingerprint = backbone_fingerprint(model)
    events = []
    result = add_task(
        model,
        target_frame["smiles"].tolist(),
        target_frame["value"].tolist(),
        "logS",
        _config(),
        progress=events.append,
    )
    for k, v in model.state_dict().items():
        assert torch.equal(v, before[k]), k
    assert all(p.grad is None for p in model.parameters())
    assert backbone_fingerprint(model) == fingerprint == result.task.backbone_id
    fractions = [e["fraction"] for e in events]
    assert fractions == sorted(fractions) and fractions[-1] == 1.0 and events[-1]["stage"] == "done"
    stages = {e["stage"] for e in events}
    assert {"validating", "featurising", "training", "done"} <= stages
    training = [e for e in events if e["stage"] == "training"]
    assert {e["member"] for e in training} == {0, 1}
    assert all(
        np.isfinite(e["val_loss"]) and len(e["ratios"]) == len(SOURCE_TASKS) for e in training
    )
    assert set(result.timings) == {"featurize_seconds", "train_seconds", "total_seconds"}


def test_training_fits_the_training_molecules(backbone, target_frame):
    """Overfit check: with enough steps and no held-out fold pressure the fit beats the mean."""
    smiles, values = target_frame["smiles"].tolist(), target_frame["value"].to_numpy()
    result = add_task(
        backbone,
        smiles,
        values.tolist(),
        "logS",
        _config(ensemble=1, max_steps=150, patience=100, lr=1e-2, ratios=RatioSettings(mode="off")),
    )
    pred = result.task.predict(backbone, smiles)["mean"].to_numpy(dtype=float)
    rmse = float(np.sqrt(np.mean((pred - values) ** 2)))
    assert rmse < 0.6 * float(values.std()), f"RMSE {rmse:.3f} vs label std {values.std():.3f}"


def test_alignment_subsample_sees_every_training_molecule(backbone, canonical_targets, monkeypatch):
    """l_cons/l_map/l_dis run on the first ``align_subsample`` molecules of each batch. When the
    whole (sorted) training set is the batch, the batch must be shuffled each step, or the same
    molecules are aligned every step and the rest never are."""
    from gate_core.transfer.addition import train_member
    from gate_core.transfer.frozen import compute_frozen_sources
    from gate_core.transfer.objective import TaskAdditionLoss

    frozen = compute_frozen_sources(backbone, canonical_targets[:40], noise_samples=2)
    y = torch.arange(40, dtype=torch.float32)  # y identifies the molecule
    seen: set[float] = set()
    original = TaskAdditionLoss.forward

    def spy(self, frozen_batch, y_batch, mask):
        seen.update(y_batch[: self.align_subsample].tolist())
        return original(self, frozen_batch, y_batch, mask)

    monkeypatch.setattr(TaskAdditionLoss, "forward", spy)
    config = _config(
        batch_size=128,
        align_subsample=8,
        max_steps=12,
        eval_every=100,
        ratios=RatioSettings(mode="uniform"),
    )
    train_idx, val_idx = np.arange(0, 32), np.arange(32, 40)
    train_member(backbone, frozen, y, train_idx, val_idx, False, config, config.ratios, seed=0)
    assert seen <= set(range(32)), "validation molecules must never be trained on"
    assert len(seen) > 24, f"only {len(seen)} of 32 training molecules were ever aligned"


# ---- every molecule used, out-of-fold quality and calibration (issue 12) ------------------------


def test_default_trains_on_every_molecule_with_scaffold_out_of_fold_predictions(
    backbone, target_frame
):
    from gate_core.data.splits import bemis_murcko_scaffold

    result = add_task(
        backbone,
        target_frame["smiles"].tolist(),
        target_frame["value"].tolist(),
        "logS",
        _config(ensemble=3, train_baseline=True),
    )
    meta, oof = result.task.metadata, result.oof
    assert (
        meta["n_test"] == 0 and meta["n_train"] == len(target_frame) and result.test_metrics is None
    )
    assert len(oof["smiles"]) == meta["n_train"] and sorted(set(oof["fold"])) == [0, 1, 2]
    for model in (
        "gate",
        "probe",
    ):  # each molecule predicted by the member that did not train on it
        assert np.isfinite(oof[model]).all()
        assert meta["oof_metrics"][model]["n"] == meta["n_train"]
    assert np.isfinite(oof["ad_score"]).all()
    fold_by_scaffold: dict[str, set] = {}
    for s, k in zip(oof["smiles"], oof["fold"]):
        fold_by_scaffold.setdefault(bemis_murcko_scaffold(s), set()).add(k)
    assert (
        sum(len(v) > 1 for v in fold_by_scaffold.values()) <= 1
    )  # only a dealt-out dominant group may straddle folds
    # the quality estimate is the out-of-fold error of the members
    rmse = float(np.sqrt(np.mean((np.asarray(oof["gate"]) - np.asarray(oof["y_true"])) ** 2)))
    assert meta["oof_metrics"]["gate"]["rmse"] == pytest.approx(rmse, rel=1e-6)
    assert len(result.task.probe_members) == 3 and result.task.available_models() == [
        "gate",
        "probe",
    ]


def test_regression_predictions_carry_a_calibrated_interval_and_domain_words(
    backbone, target_frame
):
    result = add_task(
        backbone,
        target_frame["smiles"].tolist(),
        target_frame["value"].tolist(),
        "logS",
        _config(ensemble=3),
    )
    cal = result.task.calibration()
    assert (
        cal.interval is not None
        and cal.interval.level == 0.9
        and cal.interval.n_calibration == len(target_frame)
    )
    out = result.task.predict(
        backbone, ["CCO", "c1ccccc1O", "FC(F)(F)C(F)(F)C(F)(F)C(F)(F)C(F)(F)C(F)(F)C(F)(F)F"]
    )
    lo, mean, hi = (out[c].to_numpy(dtype=float) for c in ("lo", "mean", "hi"))
    assert (lo < mean).all() and (mean < hi).all()
    np.testing.assert_allclose(
        hi - mean, cal.interval.half_width(out["ad_score"].to_numpy(dtype=float))
    )
    assert set(out["domain"]) <= {"inside", "near the edge", "outside the training data"}
    # on the training molecules themselves, the out-of-fold interval covers most labels
    train = result.task.predict(backbone, target_frame["smiles"].tolist())
    y = target_frame["value"].to_numpy(dtype=float)
    assert ((train["lo"] <= y) & (y <= train["hi"])).mean() >= 0.8


def test_classification_probabilities_are_platt_calibrated_from_out_of_fold(backbone):
    frame = pd.read_csv(DATA / "target_tiny_classification.csv")
    result = add_task(
        backbone, frame["smiles"].tolist(), frame["value"].tolist(), "active", _config(ensemble=3)
    )
    cal = result.task.calibration()
    assert cal.platt is not None and cal.interval is None
    out = result.task.predict(backbone, frame["smiles"].tolist()[:8])
    raw = (
        result.task.raw_predictions(
            __import__("gate_core.training.evaluate", fromlist=["embed"]).embed(
                backbone, out["smiles"].tolist()
            )
        )
        .mean(0)
        .numpy()
    )
    np.testing.assert_allclose(out["mean"].to_numpy(dtype=float), cal.platt(raw), rtol=1e-5)
    assert out["lo"].isna().all()


def test_learned_mode_leaves_out_the_sources_the_backbone_cannot_predict(
    backbone, target_frame, monkeypatch
):
    """A source whose head has no held-out skill at its own property ends at λ = 0, and the
    added task says which sources were left out; a pin by the user still stands."""
    skill = {"Tm_K": 0.6, "Tb_K": -0.2, "logKow": 0.0, "density_kgm3": 0.4}
    monkeypatch.setattr(backbone, "source_skill", skill)
    result = add_task(
        backbone,
        target_frame["smiles"].tolist(),
        target_frame["value"].tolist(),
        "t",
        _config(ratios=RatioSettings(mode="learned", pinned={"logKow": 0.5})),
    )
    meta = result.task.metadata
    ratios = meta["ratios"]
    assert meta["unskilled_sources"] == ["Tb_K"]
    assert ratios["Tb_K"]["ratio"] == 0.0 and ratios["logKow"]["ratio"] == pytest.approx(0.5)
    assert ratios["Tm_K"]["ratio"] > 0 and ratios["density_kgm3"]["ratio"] > 0
    assert meta["ratio_settings"]["excluded"] == []  # what the user asked for, unchanged
