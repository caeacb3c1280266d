"""A background worker thread that executes queued task-addition runs one at a time.

Why a thread over the registry queue: the app's script thread must never block, jobs must
survive page reloads and be visible to every browser session, and only one training may use
the CPU at a time. The queue and each run's progress live in the registry (SQLite), so any
session can read them; the thread only claims, runs and reports.
"""

from __future__ import annotations

import logging
import threading
import time
import traceback

from gate_core.api import GateStudio
from gate_core.threads import configure_threads

log = logging.getLogger(__name__)
#: How often the worker looks for runs whose worker died (gone, or silent past the heartbeat timeout).
RECOVER_EVERY_SECONDS = 60.0


class TaskWorker(threading.Thread):
    """Claims queued runs from ``studio.registry`` and trains them, until :meth:`stop`."""

    def __init__(
        self, studio: GateStudio, poll_seconds: float = 0.5, threads: int | None = None
    ) -> None:
        """``threads``: CPU threads while training (default: :func:`~gate_core.threads.thread_count`)."""
        super().__init__(name="gate-task-worker", daemon=True)
        self.studio = studio
        self.poll_seconds = poll_seconds
        self.threads = threads
        self._stop_event = threading.Event()

    def stop(self) -> None:
        self._stop_event.set()

    def run_once(self) -> bool:
        """Run the next queued job if there is one; returns whether one ran."""
        run = self.studio.registry.claim_next_run()
        if run is None:
            return False
        try:
            self.studio.run_job(run)
        except Exception as exc:  # every failure must end up in the run record, not kill the thread
            log.warning("run %s failed: %s", run.id, exc)
            self.studio.registry.fail_run(run.id, str(exc), log_line=traceback.format_exc(limit=3))
        return True

    def run(self) -> None:
        configure_threads(self.threads)
        # the backbone properties' intervals are computed once per backbone (then read from the data folder):
        # start now, beside the queue, so the first prediction does not wait for them
        threading.Thread(
            target=self.studio.backbone_calibration, name="gate-calibration-warmup", daemon=True
        ).start()
        last_recovery = float("-inf")
        while not self._stop_event.is_set():
            if (
                time.monotonic() - last_recovery > RECOVER_EVERY_SECONDS
            ):  # a dead worker elsewhere must not block a name for ever
                self.studio.registry.recover_stale_runs()
                last_recovery = time.monotonic()
            if not self.run_once():
                self._stop_event.wait(self.poll_seconds)
