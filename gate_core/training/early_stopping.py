"""Keep the best weights seen on validation and say when patience has run out.

Why one helper: pre-training, fine-tuning, the relational head and task addition all stop the
same way (a validation value that must drop by ``min_delta`` to count, ``patience`` checks
without improvement, the best weights restored at the end); one copy keeps them consistent.
"""

from __future__ import annotations

import copy
import math

import torch


class EarlyStopping:
    """``if stopper.update(val, step): break`` in the loop, then ``stopper.restore()``."""

    def __init__(self, module: torch.nn.Module, patience: int, min_delta: float = 1e-5) -> None:
        self.module, self.patience, self.min_delta = module, patience, min_delta
        self.best = math.inf
        self.best_step = 0  # steps count from 1: 0 means no check improved
        self._best_state: dict | None = None
        self._bad = 0

    def update(self, value: float, step: int) -> bool:
        """Record one validation value; True when ``patience`` checks in a row brought no improvement."""
        if value < self.best - self.min_delta:
            self.best, self.best_step, self._bad = value, step, 0
            self._best_state = copy.deepcopy(self.module.state_dict())
            return False
        self._bad += 1
        return self._bad >= self.patience

    def restore(self) -> None:
        """Load the best weights back (no-op when no check improved, e.g. all values NaN)."""
        if self._best_state is not None:
            self.module.load_state_dict(self._best_state)

    def state(self) -> tuple[dict, dict[str, torch.Tensor] | None]:
        """``(counters, best weights)``: what a resumable run saves beside its epoch checkpoint."""
        return {"best": self.best, "best_step": self.best_step, "bad": self._bad}, self._best_state

    def load_state(self, counters: dict, best_state: dict[str, torch.Tensor] | None) -> None:
        self.best, self.best_step, self._bad = (
            counters["best"],
            counters["best_step"],
            counters["bad"],
        )
        self._best_state = best_state
