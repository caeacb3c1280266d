"""The zero-training preview of a new task, scored on molecules it never saw (DESIGN §6).

Why here, above the relational head: the preview is scored on the very test molecules task
addition would hold out (:func:`gate_core.data.splits.holdout_split`, same split kind and seed),
so the trained result can be read against it; that rule belongs to the library, not to a page.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from gate_core.data.splits import holdout_split
from gate_core.data.table import MultiTaskTable
from gate_core.transfer.addition import TaskAdditionConfig

if TYPE_CHECKING:
    from gate_core.api import GateStudio

#: Share of scaffolds the preview is scored on. Training itself holds nothing out by default
#: (``TaskAdditionConfig.test_fraction`` is 0: every molecule trains the model).
PREVIEW_TEST_FRACTION = 0.15
#: Larger uploads are previewed on a random sample of rows, so the preview stays within seconds.
PREVIEW_MAX_ROWS = 500


@dataclass
class TaskPreview:
    """Relational-head predictions for molecules held out of the new task's support edges.

    ``same_split``: the held-out molecules are the test set task addition holds out with the
    same test fraction and seed. ``n_rows_used`` < ``n_rows`` when a large upload was previewed
    on a sample of its rows.
    """

    smiles: list[str]
    measured: np.ndarray
    predicted: np.ndarray
    n_support: int
    task_type: str
    seconds: float
    n_rows: int
    n_rows_used: int
    same_split: bool

    def metrics(self) -> dict[str, float]:
        """Held-out R²/RMSE/MAE, or ROC-AUC/accuracy: the numbers the trained task is judged by."""
        from gate_core.training.evaluate import classification_metrics, regression_metrics

        if self.task_type == "classification":
            return classification_metrics(self.measured, self.predicted)
        return regression_metrics(self.measured, self.predicted)


def task_preview(
    studio: GateStudio,
    smiles: list[object],
    values: list[object],
    task_type: str | None = None,
    test_fraction: float = PREVIEW_TEST_FRACTION,
    seed: int = 0,
) -> TaskPreview:
    """Zero-training preview of a new task, scored honestly: support and query molecules never overlap.

    The molecules are merged and held out exactly as task addition does; the task node is built
    from the training part alone and the test part is predicted. A split with fewer than two
    test molecules (one big scaffold group) falls back to a random one (``same_split`` False).
    Raises ``RelationalInputError`` / ``RelationalHeadError``.
    """
    started = time.perf_counter()
    n_rows = len(smiles)
    if n_rows > PREVIEW_MAX_ROWS:
        keep = np.sort(np.random.default_rng(seed).choice(n_rows, PREVIEW_MAX_ROWS, replace=False))
        smiles, values = [smiles[i] for i in keep], [values[i] for i in keep]
    table = MultiTaskTable.from_single_task(list(smiles), list(values), "preview")
    fit, test = holdout_split(table.smiles, test_fraction, TaskAdditionConfig.split, seed)
    same_split = n_rows <= PREVIEW_MAX_ROWS
    if len(test) < 2:
        fit, test = holdout_split(table.smiles, test_fraction, "random", seed)
        same_split = False
    y = table.Y[:, 0].astype(float)
    frame = studio.preview_task(
        [table.smiles[i] for i in fit], y[fit].tolist(), [table.smiles[i] for i in test], task_type
    )
    return TaskPreview(
        smiles=[table.smiles[i] for i in test],
        measured=y[test],
        predicted=frame["prediction"].to_numpy(dtype=float),
        n_support=int(frame.attrs["n_support"]),
        task_type=str(frame.attrs["task_type"]),
        seconds=time.perf_counter() - started,
        n_rows=n_rows,
        n_rows_used=len(smiles),
        same_split=same_split,
    )
