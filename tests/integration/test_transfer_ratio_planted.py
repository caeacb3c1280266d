"""Planted sources: the transfer-ratio learner tested like any estimator (DESIGN §5, issue 11).

A tiny backbone is pre-trained, with real sources, on two planted ones: ``copy`` (the target
property plus 30 % noise) and ``noise`` (pure N(0, 1) labels). The target is then added, with
the real learner (``add_task``, learned λ), on *other* molecules. The target is a computed
property (RDKit's TPSA), so planting a copy of it on the pre-training molecules needs no data
beyond the test fixtures. A learner that chooses must end with the noise source lowest and the
copy highest.

Measured when this test was written (one-step look-ahead hypergradient, per-source Adam on φ):
here λ = copy 1.97, noise 1.97, Tb_K 0.47, density 0.45 — the learner raises both planted
sources alike and cannot tell the copy from the noise. With 6 pre-training epochs and K = 5 over
4 seeds the noise source ended lowest 4 of 4 times but the copy highest only once. The learner
does not yet choose, so the test is a strict xfail: it fails the run the day it passes, and the
marker must then go.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest


DATA = Path(__file__).resolve().parents[1] / "data"
SOURCES = ["Tb_K", "density_kgm3", "copy", "noise"]


def _tpsa(smiles: list[str]) -> np.ndarray:
    from rdkit import Chem
    from rdkit.Chem import Descriptors

    return np.array([Descriptors.TPSA(Chem.MolFromSmiles(s)) for s in smiles])


@pytest.fixture(scope="module")
def planted_backbone(tmp_path_factory: pytest.TempPathFactory):
    from gate_core.training.pretrain import PretrainConfig, pretrain

    table = pd.read_csv(DATA / "pretrain_tiny.csv.gz")
    molecules = sorted(table["smiles"].unique())
    rng = np.random.default_rng(0)
    tpsa = _tpsa(molecules)
    planted = pd.DataFrame({
        "smiles": molecules * 2,
        "task": ["copy"] * len(molecules) + ["noise"] * len(molecules),
        "value": np.concatenate([tpsa + rng.normal(scale=0.3 * tpsa.std(), size=len(tpsa)), rng.normal(size=len(tpsa))]),
        "source": "planted",
    })
    path: Path = tmp_path_factory.mktemp("planted") / "table.csv.gz"
    pd.concat([table, planted]).to_csv(path, index=False)
    config = PretrainConfig(table=str(path), tasks=SOURCES, epochs=4, hidden=32, depth=2, latent_dim=8, task_hidden=16, threads=1)
    return pretrain(config, progress=False)["model"].eval()


@pytest.mark.xfail(strict=True, reason="issue 11: the look-ahead learner does not tell the noisy copy from the noise source")
def test_learned_ratios_put_noise_lowest_and_the_noisy_copy_highest(planted_backbone):
    from gate_core.transfer.addition import TaskAdditionConfig, add_task

    target = pd.read_csv(DATA / "target_tiny.csv")["smiles"].tolist()
    result = add_task(planted_backbone, target, list(_tpsa(target)), "tpsa", TaskAdditionConfig(ensemble=2, seed=1))
    ratios = {s: r["ratio"] for s, r in result.task.metadata["ratios"].items()}
    assert min(ratios, key=ratios.get) == "noise", ratios
    assert max(ratios, key=ratios.get) == "copy", ratios
