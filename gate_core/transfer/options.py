"""The options a chemist sets when adding a task: each one's default and allowed range, once.

Why a module of its own: the Add-a-task page's widgets, the CLI's flags and
:class:`~gate_core.transfer.addition.TaskAdditionConfig` (which every interface builds, so its
check is the one refusal) read these numbers. Written in each of them, they drifted: the page
offered at most 10 members and a test fraction of at most 0.5, while the CLI and the API took
any. This module imports nothing, so the CLI can build its parser without importing torch.
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass


@dataclass(frozen=True)
class Option:
    """One numeric option: its ``default`` and the closed range ``[low, high]`` it may take
    (whole numbers only when ``integer``)."""

    what: str
    default: int | float
    low: int | float
    high: int | float
    integer: bool = False

    def check(self, value: object) -> int | float:
        """``value`` itself when it is a number in range, else ``ValueError`` saying the range."""
        kind = numbers.Integral if self.integer else numbers.Real
        if (
            isinstance(value, bool)
            or not isinstance(value, kind)
            or not math.isfinite(value)
            or not self.low <= value <= self.high
        ):
            whole = "a whole number " if self.integer else ""
            raise ValueError(
                f"{self.what} must be {whole}from {self.low:g} to {self.high:g}, got {value!r}"
            )
        return value


#: Members of the ensemble (K): the ± uncertainty comes from their spread.
ENSEMBLE = Option("the ensemble size", 5, 1, 10, integer=True)
#: Training steps per member at most (early stopping usually ends a member sooner).
MAX_STEPS = Option("the maximum number of training steps per member", 200, 1, 5000, integer=True)
#: Share of scaffolds held out as a separate test set (0: none; quality is estimated out of
#: fold). At most half: above that, the task trains on fewer molecules than it is tested on.
TEST_FRACTION = Option("the test fraction", 0.0, 0.0, 0.5)
#: λ of a source the chemist pins (1 is the uniform mode's weight).
PINNED_RATIO = Option("a pinned ratio", 1.0, 0.0, 10.0)
