"""The zero-training preview is scored on the very molecules task addition holds out."""

from __future__ import annotations

import pandas as pd

from gate_core.preview import PREVIEW_TEST_FRACTION, task_preview
from gate_core.transfer.addition import TaskAdditionConfig, add_task

TINY = {"ensemble": 1, "max_steps": 10, "warmup_steps": 2, "outer_every": 5, "eval_every": 5}


class RecordingStudio:
    """Stands in for ``GateStudio.preview_task``: records the support and query molecules."""

    def __init__(self) -> None:
        self.support: list[str] = []

    def preview_task(self, support, values, query, task_type=None) -> pd.DataFrame:
        self.support = list(support)
        frame = pd.DataFrame({"prediction": [0.0] * len(query)})
        frame.attrs.update(n_support=len(support), task_type=task_type or "regression")
        return frame


def test_preview_scores_the_test_set_task_addition_holds_out(backbone, target_frame):
    smiles, values = target_frame["smiles"].tolist(), target_frame["value"].tolist()
    studio = RecordingStudio()
    preview = task_preview(studio, smiles, values, seed=3)
    config = TaskAdditionConfig(**TINY, test_fraction=PREVIEW_TEST_FRACTION, seed=3)
    result = add_task(backbone, smiles, values, "t", config)
    assert preview.same_split and len(preview.smiles) >= 2
    assert sorted(preview.smiles) == sorted(result.test_predictions["smiles"])
    assert not set(studio.support) & set(
        preview.smiles
    )  # the task node never saw a scored molecule
