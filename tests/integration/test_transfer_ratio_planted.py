"""Planted sources: the transfer-ratio learner tested like any estimator (DESIGN §5, issue 11).

A tiny backbone is pre-trained, with real sources, on two planted ones: ``copy`` (the target
property plus 30 % noise) and ``noise`` (pure N(0, 1) labels). The target is then added, with
the real learner (``add_task``, learned λ), on *other* molecules. The target is a computed
property (RDKit's TPSA), so planting a copy of it on the pre-training molecules needs no data
beyond the test fixtures. A learner that chooses must end with the noise source lowest and the
copy highest.

Measured before the transferability start (one-step look-ahead hypergradient from λ = 1,
per-source Adam on φ): λ = copy 1.97, noise 1.97, Tb_K 0.47, density 0.45 — the learner raised
both planted sources alike. Since each member starts from what each source's own prediction
explains of the target on its training fold (leave-one-out ridge R², ``transfer/ratios.py``),
the copy ends far above every other source (λ ≈ 4.1 vs ≤ 0.95 here). The noise source did not
end lowest from that start alone: its head, fitted to noise for 4 epochs on 400 molecules, is a
random function of h that happens to explain 27 % of TPSA's variance on the target molecules
(density explains 0 %), and the look-ahead steps raised it further. What gives it away is its
own held-out R² (≤ 0: its head predicts its own labels no better than their mean), which the
learner now checks first (``transfer.ratios.without_unskilled``): it ends at λ = 0.
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
    planted = pd.DataFrame(
        {
            "smiles": molecules * 2,
            "task": ["copy"] * len(molecules) + ["noise"] * len(molecules),
            "value": np.concatenate(
                [
                    tpsa + rng.normal(scale=0.3 * tpsa.std(), size=len(tpsa)),
                    rng.normal(size=len(tpsa)),
                ]
            ),
            "source": "planted",
        }
    )
    path: Path = tmp_path_factory.mktemp("planted") / "table.csv.gz"
    pd.concat([table, planted]).to_csv(path, index=False)
    config = PretrainConfig(
        table=str(path),
        tasks=SOURCES,
        epochs=4,
        hidden=32,
        depth=2,
        latent_dim=8,
        task_hidden=16,
        threads=1,
    )
    return pretrain(config, progress=False).model.eval()


@pytest.fixture(scope="module")
def planted_ratios(planted_backbone) -> dict[str, float]:
    from gate_core.transfer.addition import TaskAdditionConfig, add_task
    from gate_core.transfer.ratios import RatioSettings

    target = pd.read_csv(DATA / "target_tiny.csv")["smiles"].tolist()
    result = add_task(
        planted_backbone,
        target,
        list(_tpsa(target)),
        "tpsa",
        TaskAdditionConfig(ratios=RatioSettings(mode="learned"), ensemble=2, seed=1),
    )
    return {s: r["ratio"] for s, r in result.task.metadata["ratios"].items()}


def test_learned_ratios_put_the_noisy_copy_of_the_target_highest(planted_ratios):
    assert max(planted_ratios, key=planted_ratios.get) == "copy", planted_ratios
    runner_up = max(v for s, v in planted_ratios.items() if s != "copy")
    assert planted_ratios["copy"] > 2 * runner_up, planted_ratios


def test_learned_ratios_put_the_noise_source_lowest(planted_ratios):
    assert min(planted_ratios, key=planted_ratios.get) == "noise", planted_ratios
    assert planted_ratios["noise"] < min(v for s, v in planted_ratios.items() if s != "noise")


def test_the_noise_source_has_no_held_out_skill_and_the_real_ones_do(planted_backbone):
    """The check the learner relies on: the backbone's own test fold tells noise from signal."""
    skill = planted_backbone.source_skill
    assert skill["noise"] <= 0.0 < min(skill["Tb_K"], skill["density_kgm3"], skill["copy"]), skill
