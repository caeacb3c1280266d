"""gate_core.transfer.added_task: saving, loading and predicting with an added task."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pandas as pd
import pytest
import torch

from gate_core.models.fingerprint import backbone_fingerprint
from gate_core.transfer.added_task import METADATA_FILE, WEIGHTS_FILE, AddedTask, AddedTaskError
from gate_core.transfer.addition import TaskAdditionConfig, add_task
from gate_core.transfer.frozen import compute_frozen_sources

TINY = {"ensemble": 2, "max_steps": 20, "warmup_steps": 5, "outer_every": 5, "eval_every": 5}
QUERY = ["CCO", "not a smiles", "c1ccccc1O", "", "CC(=O)Oc1ccccc1C(=O)O", None, "OCC", "C1CC"]


@pytest.fixture(scope="module")
def added(backbone, target_frame) -> AddedTask:
    result = add_task(
        backbone,
        target_frame["smiles"].tolist(),
        target_frame["value"].tolist(),
        "logS",
        TaskAdditionConfig(**TINY),
    )
    return result.task


@pytest.fixture(scope="module")
def saved(added, tmp_path_factory):
    return added.save(tmp_path_factory.mktemp("task") / "logS")


def test_save_writes_weights_and_metadata(saved, added):
    assert (saved / WEIGHTS_FILE).is_file() and (saved / METADATA_FILE).is_file()
    meta = json.loads((saved / METADATA_FILE).read_text())
    assert meta["backbone_id"] == added.backbone_id
    assert meta["n_members"] == 2
    assert meta["info"]["name"] == "logS"
    assert set(meta["ratios"]) == {"Tm_K", "Tb_K", "logKow", "density_kgm3"}


def test_round_trip_gives_identical_predictions(saved, added, backbone, canonical_targets):
    loaded = AddedTask.load(saved, backbone_fingerprint(backbone))
    assert loaded.info == added.info
    assert (loaded.y_mean, loaded.y_std, loaded.backbone_id) == (
        added.y_mean,
        added.y_std,
        added.backbone_id,
    )
    assert loaded.domain.threshold == added.domain.threshold
    assert torch.equal(loaded.domain.reference, added.domain.reference)
    assert len(loaded.members) == len(added.members)
    for a, b in zip(added.members, loaded.members):
        for (name, pa), (_, pb) in zip(a.state_dict().items(), b.state_dict().items()):
            assert torch.equal(pa, pb), name
    assert loaded.metadata["ratios"] == added.metadata["ratios"]

    frozen = compute_frozen_sources(backbone, canonical_targets[:15])
    before = added.predict_from_representation(frozen.h, frozen.common_chart)
    after = loaded.predict_from_representation(frozen.h, frozen.common_chart)
    for key in ("mean", "std", "ad_score", "in_domain"):
        assert np.array_equal(before[key], after[key]), key
    pd.testing.assert_frame_equal(
        added.predict(backbone, QUERY), loaded.predict(backbone, QUERY), check_exact=True
    )


def test_load_without_backbone_id_skips_the_check(saved, added):
    assert AddedTask.load(saved).backbone_id == added.backbone_id


def test_wrong_backbone_is_refused_naming_both_ids(saved, added):
    with pytest.raises(AddedTaskError) as info:
        AddedTask.load(saved, "0123456789abcdef")
    message = str(info.value)
    assert added.backbone_id in message and "0123456789abcdef" in message and "logS" in message


def _copy(saved, tmp_path):
    dest = tmp_path / "copy"
    shutil.copytree(saved, dest)
    return dest


@pytest.mark.parametrize(
    "damage",
    ["garbage", "truncated", "empty", "missing"],
)
def test_corrupt_weights_raise_added_task_error(saved, tmp_path, damage):
    path = _copy(saved, tmp_path)
    weights = path / WEIGHTS_FILE
    if damage == "garbage":
        weights.write_bytes(b"\x00\xffnot safetensors at all" * 10)
    elif damage == "truncated":
        weights.write_bytes(weights.read_bytes()[: weights.stat().st_size // 2])
    elif damage == "empty":
        weights.write_bytes(b"")
    else:
        weights.unlink()
    with pytest.raises(AddedTaskError, match=WEIGHTS_FILE):
        AddedTask.load(path)


def test_weights_not_matching_the_architecture_raise(saved, tmp_path):
    path = _copy(saved, tmp_path)
    meta = json.loads((path / METADATA_FILE).read_text())
    meta["architecture"]["hidden"] += 1
    (path / METADATA_FILE).write_text(json.dumps(meta))
    with pytest.raises(AddedTaskError, match="does not match its architecture"):
        AddedTask.load(path)


@pytest.mark.parametrize("damage", ["missing", "not-json", "wrong-version"])
def test_bad_metadata_raises_added_task_error(saved, tmp_path, damage):
    path = _copy(saved, tmp_path)
    meta_path = path / METADATA_FILE
    if damage == "missing":
        meta_path.unlink()
    elif damage == "not-json":
        meta_path.write_bytes(b'{"format_version": 1, \x89')
    else:
        meta = json.loads(meta_path.read_text())
        meta["format_version"] = 99
        meta_path.write_text(json.dumps(meta))
    with pytest.raises(AddedTaskError):
        AddedTask.load(path)


def test_predict_keeps_invalid_rows_in_input_order(added, backbone):
    frame = added.predict(backbone, QUERY)
    assert len(frame) == len(QUERY)
    assert frame["input"].tolist() == ["" if q is None else q for q in QUERY]
    invalid = [1, 3, 5, 7]  # "not a smiles", "", None, "C1CC" (unclosed ring)
    assert frame["error"].notna().tolist() == [i in invalid for i in range(len(QUERY))]
    assert frame.loc[invalid, "mean"].isna().all() and frame.loc[invalid, "in_domain"].isna().all()
    valid = [i for i in range(len(QUERY)) if i not in invalid]
    assert np.isfinite(frame.loc[valid, ["mean", "std", "ad_score"]].to_numpy(dtype=float)).all()
    assert frame.loc[valid, "in_domain"].map(type).eq(bool).all()
    assert frame.loc[0, "smiles"] == "CCO" and frame.loc[6, "smiles"] == "CCO"  # OCC canonicalised
    assert frame.loc[0, "mean"] == pytest.approx(frame.loc[6, "mean"], abs=1e-6)

    # each valid row's prediction is that molecule's own, whatever else is in the batch
    for i in valid:
        alone = added.predict(backbone, [QUERY[i]])
        assert alone.loc[0, "mean"] == pytest.approx(frame.loc[i, "mean"], rel=1e-5, abs=1e-6)
    reversed_frame = added.predict(backbone, QUERY[::-1])
    assert reversed_frame["input"].tolist() == frame["input"].tolist()[::-1]
    np.testing.assert_allclose(
        reversed_frame["mean"].to_numpy()[::-1], frame["mean"].to_numpy(), rtol=1e-5, equal_nan=True
    )


def test_predict_with_only_invalid_rows(added, backbone):
    frame = added.predict(backbone, ["xyz", ""])
    assert len(frame) == 2 and frame["error"].notna().all() and frame["mean"].isna().all()
    assert len(added.predict(backbone, [])) == 0


def test_ensemble_prediction_is_mean_and_std_of_members(added, backbone, canonical_targets):
    frozen = compute_frozen_sources(backbone, canonical_targets[:10])
    out = added.predict_from_representation(frozen.h, frozen.common_chart)
    with torch.no_grad():
        members = np.stack(
            [
                (m.head(m.latent(frozen.h)) * added.y_std + added.y_mean).numpy()
                for m in added.members
            ]
        )
    np.testing.assert_allclose(out["mean"], members.mean(axis=0), rtol=1e-6)
    np.testing.assert_allclose(out["std"], members.std(axis=0), rtol=1e-5, atol=1e-7)
    assert np.array_equal(out["in_domain"], out["ad_score"] <= 1.0)


def test_probe_members_and_the_chosen_model_survive_a_round_trip(
    backbone, target_frame, canonical_targets, tmp_path
):
    result = add_task(
        backbone,
        target_frame["smiles"].tolist(),
        target_frame["value"].tolist(),
        "logS",
        TaskAdditionConfig(**TINY, train_baseline=True),
    )
    task = result.task
    task.metadata["model"] = "probe"
    loaded = AddedTask.load(task.save(tmp_path / "t"), backbone_fingerprint(backbone))
    assert (
        len(loaded.probe_members) == 2
        and loaded.model == "probe"
        and loaded.available_models() == ["gate", "probe"]
    )
    frozen = compute_frozen_sources(backbone, canonical_targets[:10])
    probe = loaded.predict_from_representation(frozen.h, frozen.common_chart)
    gate = loaded.predict_from_representation(frozen.h, frozen.common_chart, "gate")
    assert not np.allclose(probe["mean"], gate["mean"])
    np.testing.assert_allclose(
        probe["mean"],
        task.predict_from_representation(frozen.h, frozen.common_chart, "probe")["mean"],
    )
    assert loaded.calibration("probe") != loaded.calibration(
        "gate"
    )  # each model has its own out-of-fold calibration
    with pytest.raises(ValueError, match="relational head"):
        loaded.predict_from_representation(frozen.h, frozen.common_chart, "preview")
