"""Shared by the bench tests that stop processes: has a process ended?"""

from __future__ import annotations

import time
from collections.abc import Callable

import psutil
import pytest


@pytest.fixture
def ended() -> Callable[[int], bool]:
    """``ended(pid)``: whether that process ends within 10 s (a zombie counts: it runs no more).

    SIGKILL is sent at once, but the kernel ends the process a moment later."""

    def check(pid: int) -> bool:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                if psutil.Process(pid).status() == psutil.STATUS_ZOMBIE:
                    return True
            except psutil.NoSuchProcess:
                return True
            time.sleep(0.1)
        return False

    return check
