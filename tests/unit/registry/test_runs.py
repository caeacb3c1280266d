"""The training-run queue: states, progress, atomic claims and stale-run recovery."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from datetime import UTC
from pathlib import Path

import pandas as pd
import pytest

from gate_core.registry import (
    InvalidNameError,
    RegistryError,
    RunActiveError,
    RunNotFoundError,
    TaskRegistry,
)
from gate_core.registry.runs import HEARTBEAT_TIMEOUT_SECONDS

ROOT = Path(__file__).resolve().parents[3]


def run_python(code: str, *args: str) -> str:
    done = subprocess.run(
        [sys.executable, "-c", code, *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"},
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_enqueue_and_get(registry, dataset):
    run_id = registry.enqueue_run("logS", {"epochs": 5, "ratios": "learned"}, dataset)
    run = registry.get_run(run_id)
    assert run.status == "queued" and run.task_name == "logS" and not run.is_final
    assert run.options == {"epochs": 5, "ratios": "learned"} and run.progress == {}
    assert run.created.endswith("+00:00") and run.started is None
    pd.testing.assert_frame_equal(registry.load_dataset(run.dataset_hash), dataset)


def test_enqueue_validates(registry):
    with pytest.raises(InvalidNameError):
        registry.enqueue_run("../x", {})
    with pytest.raises(RegistryError, match="JSON"):
        registry.enqueue_run("ok", {"bad": object()})
    assert registry.list_runs() == []


def test_claim_is_fifo_and_empty_queue_gives_none(registry):
    assert registry.claim_next_run() is None
    ids = [registry.enqueue_run(f"t{i}") for i in range(3)]
    claimed = registry.claim_next_run()
    assert claimed.id == ids[0] and claimed.status == "running"
    assert claimed.started and claimed.owner.endswith(f":{__import__('os').getpid()}")
    assert [registry.claim_next_run().id for _ in range(2)] == ids[1:]
    assert registry.claim_next_run() is None


def test_progress_log_and_finish(registry):
    run_id = registry.enqueue_run("logS")
    registry.claim_next_run()
    progress = {
        "fraction": 0.5,
        "message": "epoch 5/10",
        "loss": [1.0, 0.5],
        "ratios": [[0.2, 0.8]],
    }
    assert registry.update_progress(run_id, progress, "epoch 5 done")
    assert registry.update_progress(run_id, None, "still going\n")
    run = registry.get_run(run_id)
    assert run.progress == progress and run.log == "epoch 5 done\nstill going\n"
    assert registry.finish_run(run_id, {"fraction": 1.0}, "finished")
    run = registry.get_run(run_id)
    assert (
        run.status == "done" and run.finished and run.progress == {"fraction": 1.0} and run.is_final
    )
    assert not registry.update_progress(run_id, {"fraction": 0.1})  # a finished run is not changed
    assert not registry.finish_run(run_id)
    assert registry.get_run(run_id).progress == {"fraction": 1.0}


def test_fail(registry):
    queued = registry.enqueue_run("a")
    running = registry.enqueue_run("b")
    registry.claim_next_run()  # claims `queued` (oldest)
    assert registry.fail_run(queued, "RDKit could not parse 3 rows", "error")
    assert registry.fail_run(running, "never started")  # a queued run can fail too
    run = registry.get_run(queued)
    assert (
        run.status == "failed"
        and run.error == "RDKit could not parse 3 rows"
        and run.log == "error\n"
    )
    assert not registry.fail_run(queued, "again")


def test_cancel_queued_and_running(registry):
    first, second = registry.enqueue_run("a"), registry.enqueue_run("b")
    assert registry.cancel_run(second)
    claimed = registry.claim_next_run()
    assert (
        claimed.id == first and registry.claim_next_run() is None
    )  # a cancelled run is never claimed
    assert registry.cancel_run(first)
    assert not registry.update_progress(first, {"fraction": 0.3})  # the worker learns it must stop
    assert not registry.finish_run(first)
    assert registry.get_run(first).status == "cancelled"
    assert not registry.cancel_run(first)


def test_unknown_run(registry):
    for call in (
        lambda: registry.get_run(999),
        lambda: registry.update_progress(999, {}),
        lambda: registry.finish_run(999),
        lambda: registry.fail_run(999, "x"),
        lambda: registry.cancel_run(999),
    ):
        with pytest.raises(RunNotFoundError):
            call()


def test_list_runs(registry):
    a1, b1 = registry.enqueue_run("a"), registry.enqueue_run("b")
    registry.cancel_run(a1)
    a2 = registry.enqueue_run("A")
    assert [r.id for r in registry.list_runs()] == [a2, b1, a1]
    assert [r.id for r in registry.list_runs(task="a")] == [a2, a1]
    registry.claim_next_run()
    assert [r.id for r in registry.list_runs(status="running")] == [b1]
    assert [r.id for r in registry.list_runs(limit=1)] == [a2]


def test_one_active_run_per_task(registry):
    first = registry.enqueue_run("logS")
    with pytest.raises(RunActiveError, match=f"run {first} for 'LOGS' is already queued"):
        registry.enqueue_run("LOGS")  # task names are case-insensitive
    registry.claim_next_run()
    with pytest.raises(RunActiveError, match="already running"):
        registry.enqueue_run("logS")
    registry.enqueue_run("other")  # another task is not held up
    registry.finish_run(first)
    second = registry.enqueue_run("logS")  # a finished run frees the task
    registry.cancel_run(second)
    assert registry.enqueue_run("logS") > second


@pytest.mark.parametrize("shared", [True, False], ids=["one-registry", "two-connections"])
def test_concurrent_starts_of_one_task_give_one_run(registry, shared):
    """The check and the insert are one transaction: of many simultaneous starts, one wins."""
    n = 8
    start = threading.Barrier(n)
    outcomes: list[object] = []

    def starter() -> None:
        reg = registry if shared else TaskRegistry(registry.data_dir)
        start.wait()
        try:
            outcomes.append(reg.enqueue_run("logS"))
        except RunActiveError as exc:
            outcomes.append(exc)

    threads = [threading.Thread(target=starter) for _ in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sum(isinstance(o, int) for o in outcomes) == 1
    assert sum(isinstance(o, RunActiveError) for o in outcomes) == n - 1
    assert len(registry.list_runs(task="logS")) == 1


@pytest.mark.parametrize("shared", [True, False], ids=["one-registry", "two-connections"])
def test_concurrent_claims_take_each_run_once(registry, shared):
    n = 150
    ids = {registry.enqueue_run(f"t{i}", {"i": i}) for i in range(n)}
    claimed: list[list[int]] = [[], []]
    errors: list[BaseException] = []
    start = threading.Barrier(2)

    def worker(slot: int) -> None:
        reg = registry if shared else TaskRegistry(registry.data_dir)
        try:
            start.wait()
            while (run := reg.claim_next_run()) is not None:
                claimed[slot].append(run.id)
                reg.finish_run(run.id)
        except BaseException as exc:  # noqa: BLE001 - surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(slot,)) for slot in (0, 1)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    everything = claimed[0] + claimed[1]
    assert len(everything) == n and set(everything) == ids
    assert {r.status for r in registry.list_runs()} == {"done"}


CLAIMER = """
import json, sys
from gate_core.registry import TaskRegistry
reg = TaskRegistry(sys.argv[1])
got = []
while (run := reg.claim_next_run()) is not None:
    got.append(run.id)
print(json.dumps(got))
"""


def test_concurrent_claims_across_processes(registry):
    ids = {registry.enqueue_run(f"t{i}") for i in range(200)}
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", CLAIMER, str(registry.data_dir)],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            text=True,
            env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"},
        )
        for _ in range(3)
    ]
    outputs = [json.loads(p.communicate(timeout=60)[0]) for p in procs]
    everything = [run_id for out in outputs for run_id in out]
    assert sorted(everything) == sorted(ids)


def test_runs_of_a_dead_worker_are_failed(registry):
    run_id = registry.enqueue_run("logS")
    registry.enqueue_run("waiting")
    # another process claims the run and dies without finishing it
    run_python(
        "import sys; from gate_core.registry import TaskRegistry; TaskRegistry(sys.argv[1]).claim_next_run()",
        str(registry.data_dir),
    )
    assert registry.get_run(run_id).status == "running"
    assert registry.recover_stale_runs() == [run_id]
    run = registry.get_run(run_id)
    assert run.status == "failed" and run.error.startswith("Interrupted: the worker process")
    assert "Start the run again" in run.error and "Interrupted" in run.log
    assert registry.list_runs(status="queued")[0].task_name == "waiting"  # untouched
    assert registry.recover_stale_runs() == []


def test_open_recovers_dead_runs(registry):
    run_id = registry.enqueue_run("logS")
    run_python(
        "import sys; from gate_core.registry import TaskRegistry; TaskRegistry(sys.argv[1]).claim_next_run()",
        str(registry.data_dir),
    )
    assert TaskRegistry(registry.data_dir).get_run(run_id).status == "failed"


def test_live_worker_is_stale_only_after_heartbeat_timeout(registry):
    run_id = registry.enqueue_run("logS")
    registry.claim_next_run()
    assert registry.recover_stale_runs() == []  # this process is alive and its heartbeat is fresh
    assert registry.recover_stale_runs(heartbeat_timeout=3600) == []
    assert registry.recover_stale_runs(heartbeat_timeout=-1) == [run_id]
    assert "sent no progress" in registry.get_run(run_id).error
    assert not registry.update_progress(
        run_id, {"fraction": 0.9}
    )  # the slow worker is told to stop


def test_live_pid_with_an_old_heartbeat_is_stale_by_default(registry):
    """PIDs are reused (containers): an owner that looks alive but has been silent for longer than
    the heartbeat timeout no longer blocks its task's name."""
    from datetime import datetime, timedelta

    run_id = registry.enqueue_run("logS")
    registry.claim_next_run()  # owned by this (live) process
    old = (datetime.now(UTC) - timedelta(seconds=HEARTBEAT_TIMEOUT_SECONDS + 60)).isoformat()
    with registry._write() as conn:
        conn.execute("UPDATE runs SET heartbeat = ? WHERE id = ?", (old, run_id))
    assert (
        registry.recover_stale_runs(heartbeat_timeout=None) == []
    )  # the PID check alone is fooled
    assert registry.recover_stale_runs() == [run_id]
    assert "sent no progress for" in registry.get_run(run_id).error


def test_remaining_seconds_follows_the_pace_so_far(registry):
    from datetime import datetime, timedelta

    run_id = registry.enqueue_run("logS")
    assert registry.get_run(run_id).remaining_seconds() is None  # queued
    registry.claim_next_run()
    registry.update_progress(run_id, {"fraction": 0.01})
    assert registry.get_run(run_id).remaining_seconds() is None  # too early to say
    registry.update_progress(run_id, {"fraction": 0.25})
    run = registry.get_run(run_id)
    later = datetime.fromisoformat(run.started) + timedelta(seconds=30)
    assert run.remaining_seconds(later) == pytest.approx(90.0)
