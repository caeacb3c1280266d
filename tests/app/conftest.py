"""AppTest helpers: run a page script in-process, without a browser.

Every test gets a fresh registry (``GATE_DATA_DIR`` in a temp dir) and the session's tiny
backbone (``GATE_BACKBONE``) with its relational head next to it, as a deployment has; the
task worker threads a test started are stopped after it.
"""

import os
import time
from pathlib import Path

import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

os.environ.setdefault("OMP_NUM_THREADS", "1")

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "tests" / "data"
TINY_CONFIG = {"ensemble": 1, "max_steps": 20, "test_fraction": 0.15, "train_baseline": True}


@pytest.fixture
def app_env(monkeypatch, tmp_path, tiny_backbone, tiny_relational) -> Path:
    """Point the app at the tiny backbone and a fresh data folder; return that folder."""
    data_dir = tmp_path / "gate_data"
    monkeypatch.setenv("GATE_DATA_DIR", str(data_dir))
    monkeypatch.setenv("GATE_BACKBONE", str(tiny_backbone))
    monkeypatch.setenv("GATE_THREADS", "1")
    yield data_dir
    from gate_app.state import stop_workers

    stop_workers()


@pytest.fixture
def run_page(app_env):
    """Return ``run(script="app.py", **session_state) -> AppTest`` that has run once without exception.

    Keyword arguments preset ``st.session_state`` (widget keys included) before that first run.
    """

    def run(script: str = "app.py", **session_state) -> AppTest:
        at = AppTest.from_file(str(ROOT / script), default_timeout=60)
        for key, value in session_state.items():
            at.session_state[key] = value
        at.run()
        assert not at.exception, [e.value for e in at.exception]
        return at

    return run


@pytest.fixture
def studio(app_env, tiny_backbone):
    """A GateStudio on the test's registry (the app's own cached one shares the same folder)."""
    from gate_core.api import GateStudio

    return GateStudio(tiny_backbone, app_env)


@pytest.fixture
def add_tiny_task(studio):
    """``add(name="tiny_logs", **config) -> TaskRecord``: a finished task on target_tiny.csv, in about a second."""
    from gate_core.api import config_from_options

    def add(name: str = "tiny_logs", csv: str = "target_tiny.csv", **config):
        frame = pd.read_csv(DATA / csv)
        record, _ = studio.add_task(
            frame,
            "smiles",
            "value",
            name,
            unit="log units",
            config=config_from_options({**TINY_CONFIG, **config}),
        )
        return record

    return add


@pytest.fixture
def wait_for_run():
    """``wait(registry, run_id, timeout=120) -> RunRecord`` once the run is final."""
    return _wait_for_run


def _wait_for_run(registry, run_id: int, timeout: float = 120.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        run = registry.get_run(run_id)
        if run.is_final:
            return run
        time.sleep(0.25)
    raise AssertionError(f"run {run_id} still {registry.get_run(run_id).status} after {timeout} s")
