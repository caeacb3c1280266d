"""Backbone v2 end to end on tiny real data: corpus → descriptor-family tasks → checkpoint → resume."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import torch

from gate_core.data.builders.corpus import read_corpus
from gate_core.models.checkpoint import load_checkpoint
from gate_core.training import pretrain as pretrain_module
from gate_core.training.pretrain import PRETRAINING_TASKS, PretrainConfig, load_table, pretrain
from gate_core.transfer.frozen import compute_frozen_sources
from gate_core.transfer.objective import FrozenSourceReadout

from .conftest import ROOT, SMALL, TINY_TABLE

pytestmark = pytest.mark.integration

TINY_CORPUS = ROOT / "tests" / "data" / "corpus_tiny"


def _config(**overrides) -> PretrainConfig:
    return PretrainConfig.from_dict(
        {**SMALL, "table": str(TINY_TABLE), "corpus": str(TINY_CORPUS), "epochs": 2, **overrides}
    )


def test_corpus_molecules_join_the_measured_table_with_nan_measured_labels():
    smiles, labels, manifest = read_corpus(TINY_CORPUS)
    table = load_table(_config(families=["size", "rings"]))
    assert set(smiles) <= set(table.smiles)
    n_measured = len(PRETRAINING_TASKS)
    assert table.tasks[:n_measured] == PRETRAINING_TASKS
    assert table.tasks[n_measured:] == [f"size:{d}" for d in manifest["families"]["size"]] + [
        f"rings:{d}" for d in manifest["families"]["rings"]
    ]
    corpus_only = [
        i for i, s in enumerate(table.smiles) if not np.isfinite(table.Y[i, :n_measured]).any()
    ]
    assert corpus_only, "the MOSES molecules of the fixture have no measured label"
    assert np.isfinite(table.Y[corpus_only, n_measured:]).all()


def test_unknown_family_is_refused_by_name():
    with pytest.raises(ValueError, match="not_a_family"):
        load_table(_config(families=["not_a_family"]))


def test_v2_pretraining_gives_vector_tasks_that_round_trip(tmp_path):
    result = pretrain(_config(), out_dir=tmp_path / "v2", progress=False)
    model, meta = load_checkpoint(tmp_path / "v2")
    _, _, manifest = read_corpus(TINY_CORPUS)
    assert model.property_names == PRETRAINING_TASKS
    assert model.task_names == [*PRETRAINING_TASKS, *manifest["families"]]
    kinds = {t.name: t.kind for t in model.config.tasks}
    assert all(kinds[f] == "computed" for f in manifest["families"])
    assert len(model.output_names) == len(PRETRAINING_TASKS) + len(manifest["columns"])
    assert set(result.family_test_metrics) == set(manifest["families"])
    assert all(np.isfinite(m["r2_mean"]) for m in result.family_test_metrics.values())
    assert set(meta["scalers"]) == set(model.output_names)
    assert not (tmp_path / "v2.resume").exists(), "a finished run leaves no resume state"

    # the frozen-source cache and the batched readout handle heads of different widths
    smiles = load_table(_config()).smiles[:10]
    frozen = compute_frozen_sources(model, smiles, noise_samples=2)
    readout = FrozenSourceReadout(list(model.tasks.values()))
    via = readout(frozen.u[0])
    z, _ = model.latents(frozen.h)
    for k, module in enumerate(model.tasks.values()):
        expected = module.head_columns(module.inverse_chart(frozen.u[0]))
        torch.testing.assert_close(via[k, :, : module.width], expected, rtol=1e-4, atol=1e-5)
        assert readout.column_mask[k].sum().item() == module.width
        torch.testing.assert_close(
            frozen.y_hat[k, :, : module.width],
            module.head_columns(z[k]),
            rtol=1e-4,
            atol=1e-5,
        )


def test_an_interrupted_run_resumes_from_its_last_epoch(tmp_path, monkeypatch):
    out = tmp_path / "bb"
    config = _config(epochs=3, patience=50)
    real_save = pretrain_module.save_resume_state

    def save_then_die(directory, state, *args, **kwargs):
        real_save(directory, state, *args, **kwargs)
        if state.epoch == 2:
            raise KeyboardInterrupt  # the machine goes away after epoch 2 was saved

    monkeypatch.setattr(pretrain_module, "save_resume_state", save_then_die)
    with pytest.raises(KeyboardInterrupt):
        pretrain(config, out_dir=out, progress=False)
    assert (tmp_path / "bb.resume").is_dir() and not out.exists()
    saved = json.loads((tmp_path / "bb.resume" / "resume.json").read_text())
    assert saved["epoch"] == 2
    shutil.copytree(
        tmp_path / "bb.resume", tmp_path / "other.resume"
    )  # the same state beside another run

    monkeypatch.setattr(pretrain_module, "save_resume_state", real_save)
    result = pretrain(config, out_dir=out, progress=False)
    assert [h["epoch"] for h in result.history] == [1, 2, 3], (
        "epochs 1-2 come from the saved state, only 3 runs"
    )
    assert result.history[:2] == saved["history"]

    # a run with another config does not pick up that state
    fresh = pretrain(_config(epochs=1, lr=5e-4), out_dir=tmp_path / "other", progress=False)
    assert [h["epoch"] for h in fresh.history] == [1]


def test_memory_mapped_graph_store_trains_exactly_like_in_memory_graphs(tmp_path):
    """The GPU-scale data path (store on disk, loader workers) on the CPU: same molecules, same losses."""
    config = _config(epochs=1, families=["size"], max_molecules=200)
    in_memory = pretrain(config, progress=False)
    stored = pretrain(
        _config(
            epochs=1,
            families=["size"],
            max_molecules=200,
            graph_store=str(tmp_path / "store"),
            loader_workers=1,
        ),
        progress=False,
    )
    assert (tmp_path / "store" / "store.json").is_file()
    assert stored.history[0]["val_reg"] == pytest.approx(in_memory.history[0]["val_reg"], rel=1e-5)
    assert stored.history[0]["train_total"] == pytest.approx(
        in_memory.history[0]["train_total"], rel=1e-5
    )
    # a second run reuses the store instead of featurising again
    mtime = (tmp_path / "store" / "x.npy").stat().st_mtime_ns
    pretrain(
        _config(
            epochs=1, families=["size"], max_molecules=200, graph_store=str(tmp_path / "store")
        ),
        progress=False,
    )
    assert (tmp_path / "store" / "x.npy").stat().st_mtime_ns == mtime


def test_a_task_added_on_v1_is_refused_on_v2_with_a_clear_message(tmp_path):
    """Same registry, backbone swapped from v1 (measured tasks only) to v2: the old task is named and refused."""
    import pandas as pd

    from gate_core.api import GateStudio
    from gate_core.models.checkpoint import save_checkpoint
    from gate_core.transfer.addition import TaskAdditionConfig

    small = {**SMALL, "table": str(TINY_TABLE), "epochs": 1}
    v1 = pretrain(PretrainConfig.from_dict(small), progress=False).model
    v2 = pretrain(
        PretrainConfig.from_dict(
            {**small, "corpus": str(TINY_CORPUS), "families": ["size", "rings"]}
        ),
        progress=False,
    ).model
    save_checkpoint(v1, tmp_path / "v1")
    save_checkpoint(v2, tmp_path / "v2")
    frame = pd.read_csv(ROOT / "tests" / "data" / "target_tiny.csv")
    GateStudio(tmp_path / "v1", data_dir=tmp_path / "data").add_task(
        frame,
        "smiles",
        "value",
        name="hydration",
        config=TaskAdditionConfig(ensemble=2, max_steps=20),
    )

    on_v2 = GateStudio(tmp_path / "v2", data_dir=tmp_path / "data")
    assert "hydration" not in [r.name for r in on_v2.added_tasks()]
    problem = on_v2.unusable_tasks()["hydration"]
    assert "backbone" in problem and "retrain" in problem.lower(), problem
    with pytest.raises(Exception, match="(?i)backbone"):
        on_v2.predict(["CCO"], tasks=["hydration"])


def test_corpus_build_is_byte_identical_on_rerun_and_reuses_its_descriptor_cache(tmp_path):
    from gate_core.data.builders.corpus import build_corpus

    chemicals = read_corpus(TINY_CORPUS)[0][:40]
    first = build_corpus(
        chemicals, tmp_path / "a", n_moses=20, workers=1, chembl=False, cache_dir=tmp_path / "cache"
    )
    cached = list((tmp_path / "cache").glob("*.npy"))
    assert len(cached) == 1
    second = build_corpus(
        chemicals, tmp_path / "b", n_moses=20, workers=2, chembl=False, cache_dir=tmp_path / "cache"
    )
    for name in ("smiles.txt", "labels.npy", "manifest.json"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes(), name
    assert first["molecules_by_source"] == {"chemicals": 40, "chembl": 0, "moses": 20}
    assert second["n_molecules"] == len((tmp_path / "a" / "smiles.txt").read_text().splitlines())
    assert (
        list((tmp_path / "cache").glob("*.npy")) == cached
    )  # the second build computed nothing new
