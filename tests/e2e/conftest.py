"""Browser end-to-end fixtures: a real ``streamlit run`` server and headless Chromium.

Chromium is Debian's (/usr/bin/chromium); Playwright's own browser download is never
used. Without Chromium the tests skip locally but FAIL under CI=true, so CI cannot
pass by silently skipping them.
"""

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect, sync_playwright

from bench.page_render import CHROMIUM, CHROMIUM_ARGS
from bench.page_render import streamlit_server as bench_streamlit_server

ROOT = Path(__file__).resolve().parents[2]
RESULTS = ROOT / "test-results"
SCREENSHOTS = ROOT / "docs" / "screenshots"
STARTUP_TIMEOUT_S = 90
TIMEOUT_MS = 120_000  # a 2-core box shared with training jobs needs far more than Playwright's 5 s default (a first page load took 3 min)

NAMED_TASK = "named_logs"

expect.set_options(timeout=TIMEOUT_MS)


@contextmanager
def streamlit_server(env: dict[str, str], log_name: str = "streamlit-server.log") -> Iterator[str]:
    """``streamlit run app.py`` with ``env`` added, started as the page_render bench starts it
    (its own process group, healthy before the URL is yielded, stopped with everything it
    started); yields its base URL. No page script has run yet: the first visit still loads the
    backbone."""
    RESULTS.mkdir(exist_ok=True)
    try:
        with bench_streamlit_server(
            {**os.environ, **env}, RESULTS / log_name, STARTUP_TIMEOUT_S
        ) as (url, _pid, _seconds):
            yield url
    except RuntimeError as exc:  # the server never became healthy: a failure, not an error
        if "streamlit not healthy" not in str(exc):
            raise
        pytest.fail(str(exc))


@pytest.fixture(scope="session")
def server_env(tmp_path_factory, tiny_backbone, tiny_relational) -> dict[str, str]:
    """The app server's settings: the session's tiny backbone (``GATE_BACKBONE``) with its
    relational head, an empty registry (``GATE_DATA_DIR``) and one torch thread, so a task
    addition takes seconds."""
    return {
        "GATE_DATA_DIR": str(tmp_path_factory.mktemp("gate_data")),
        "GATE_BACKBONE": str(tiny_backbone),
        "GATE_THREADS": "1",
        "OMP_NUM_THREADS": "1",
    }


@pytest.fixture(scope="session")
def app_url(server_env) -> Iterator[str]:
    """The base URL of the session's app server (see :func:`server_env`)."""
    with streamlit_server(server_env) as url:
        yield url


@pytest.fixture(scope="session")
def named_task(server_env) -> str:
    """A finished task in the server's registry whose file had a name column, added through the
    library in this process (seconds; no browser run to wait for): pages that show a task's
    results are tested on it. Its name is returned."""
    import pandas as pd

    from gate_core.api import GateStudio, config_from_options

    frame = pd.read_csv(ROOT / "tests" / "data" / "target_tiny.csv")
    frame["compound"] = [f"compound {i}" for i in range(1, len(frame) + 1)]
    studio = GateStudio(server_env["GATE_BACKBONE"], server_env["GATE_DATA_DIR"])
    # a separate test set too, so the Tasks page has test-set scores beside the out-of-fold
    # ones; 60 steps, so the ratios move after the 30 warm-up steps (a trajectory to draw)
    config = config_from_options(
        {
            "ratios": "learned",
            "ensemble": 2,
            "max_steps": 60,
            "test_fraction": 0.15,
            "train_baseline": True,
        }
    )
    studio.add_task(
        frame,
        "smiles",
        "value",
        NAMED_TASK,
        unit="log units",
        config=config,
        name_column="compound",
    )
    return NAMED_TASK


@pytest.fixture(scope="session")
def browser():
    """Headless Debian Chromium driven by Playwright's sync API."""
    if not os.access(CHROMIUM, os.X_OK):
        msg = f"{CHROMIUM} not found; install it with: apt-get install -y chromium fonts-liberation"
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail(msg)
        pytest.skip(msg)
    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.fixture
def page(browser, app_url) -> Page:
    """A fresh browser context per test, with ``page.goto('/')`` relative to the app."""
    context = browser.new_context(base_url=app_url, viewport={"width": 1280, "height": 900})
    context.set_default_timeout(TIMEOUT_MS)
    pg = context.new_page()
    yield pg
    context.close()


def wait_idle(page: Page) -> None:
    """Wait until the Streamlit script run has finished (no 'Running...' state)."""
    expect(page.locator('[data-testid="stApp"]')).to_have_attribute(
        "data-test-script-state", "notRunning"
    )


def save_screenshot(page: Page, name: str) -> Path:
    """Save a full-page PNG to docs/screenshots/<name>.png once the app is idle.

    Streamlit scrolls inside its main container, so ``full_page`` alone would only
    capture the viewport: grow the viewport to the content height first.
    """
    wait_idle(page)
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    size = page.viewport_size
    height = page.evaluate(
        "() => Math.max(document.body.scrollHeight,"
        " document.querySelector('[data-testid=\"stMain\"]')?.scrollHeight ?? 0)"
    )
    page.set_viewport_size({"width": size["width"], "height": max(size["height"], height)})
    page.wait_for_timeout(
        500
    )  # let widgets that re-layout on resize paint (no skeletons in the PNG)
    wait_idle(page)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    page.set_viewport_size(size)
    return path


@pytest.fixture
def screenshot(page):
    """``screenshot(name)`` saves the current page to docs/screenshots/<name>.png."""
    return lambda name: save_screenshot(page, name)
