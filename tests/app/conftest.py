"""AppTest helpers: run a page script in-process, without a browser."""

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def run_page(monkeypatch, tmp_path):
    """Return ``run(script="app.py") -> AppTest`` that has run once without exception.

    GATE_DATA_DIR points at a fresh temp dir so no test touches a real registry.
    """
    monkeypatch.setenv("GATE_DATA_DIR", str(tmp_path / "gate_data"))

    def run(script: str = "app.py") -> AppTest:
        at = AppTest.from_file(str(ROOT / script), default_timeout=60)
        at.run()
        assert not at.exception, [e.value for e in at.exception]
        return at

    return run
