"""gate_core.transfer.member_pool: members side by side, their progress relayed on the calling
thread, a failure or a cancellation stopping the rest."""

from __future__ import annotations

import threading
import time

import pytest
import torch

from gate_core.transfer.member_pool import MemberStopped, run_members


def _job(value: int, steps: int = 5, fail_at: int | None = None):
    def job(report):
        for step in range(steps):
            if step == fail_at:
                raise RuntimeError(f"job {value} failed")
            report({"job": value, "step": step, "thread": threading.current_thread().name})
            time.sleep(0.01)
        return value * 10

    return job


@pytest.mark.parametrize("threads", [1, 2, 3])
def test_results_in_order_and_every_event_reaches_emit_on_the_calling_thread(threads):
    caller, events = threading.current_thread(), []

    def emit(event):
        assert threading.current_thread() is caller  # the registry's connection lives there
        events.append(event)

    assert run_members([_job(v) for v in range(4)], emit, threads) == [0, 10, 20, 30]
    assert sorted((e["job"], e["step"]) for e in events) == [
        (v, s) for v in range(4) for s in range(5)
    ]
    workers = {e["thread"] for e in events}
    assert (len(workers) > 1) == (threads > 1)


def test_torch_threads_are_one_per_member_and_restored_after():
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        seen = run_members([lambda report: torch.get_num_threads()] * 2, lambda e: None, 2)
        assert seen == [1, 1] and torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)


def test_a_failing_member_stops_the_others_and_its_error_is_raised():
    stopped = []

    def slow(report):
        try:
            for step in range(1000):
                report({"step": step})
                time.sleep(0.005)
        except MemberStopped:
            stopped.append(True)
            raise
        return "never"

    with pytest.raises(RuntimeError, match="job 1 failed"):
        run_members([slow, _job(1, fail_at=2)], lambda e: None, 2)
    assert stopped == [True]


def test_a_cancellation_raised_by_emit_stops_every_member():
    calls = []

    def emit(event):
        calls.append(event)
        if len(calls) == 3:
            raise InterruptedError("the run was cancelled")

    started = time.perf_counter()
    with pytest.raises(InterruptedError, match="cancelled"):
        run_members([_job(v, steps=1000) for v in range(2)], emit, 2)
    assert time.perf_counter() - started < 5  # stopped at the next report, not run to the end
