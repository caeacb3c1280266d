"""Benchmarks page in Chromium: the chemist-facing summary comes first, a result's details open
by its link (``?result=<name>``), and machine, code and command stay folded until asked for,
with no temporary path or dirty-tree flag anywhere.

Its own server: the page loads no model, so it needs no tiny backbone, only a results folder
(``GATE_BENCH_RESULTS``) holding the stored results plus one from a dirty tree run in /tmp.
"""

import json
import shutil

import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import ROOT, SCREENSHOTS, TIMEOUT_MS, streamlit_server, wait_idle

pytestmark = pytest.mark.e2e

COMMIT = "fedcba9876543210"


@pytest.fixture(scope="module")
def bench_url(tmp_path_factory):
    folder = tmp_path_factory.mktemp("bench_results")
    for path in (ROOT / "bench" / "results").glob("*.json"):
        shutil.copy(path, folder / path.name)
        if path.with_suffix(".md").exists():
            shutil.copy(path.with_suffix(".md"), folder / path.with_suffix(".md").name)
    dirty = json.loads((ROOT / "bench" / "results" / "preview_time.json").read_text())
    dirty["machine"] = {**dirty["machine"], "git_commit": COMMIT, "git_dirty": True}
    dirty["command"] = "python -m bench preview_time --results-dir /tmp/trial_xyz"
    (folder / "preview_time.json").write_text(json.dumps(dirty))
    env = {
        "GATE_BENCH_RESULTS": str(folder),
        "GATE_THREADS": "1",
        "OMP_NUM_THREADS": "1",
        "GATE_DATA_DIR": str(tmp_path_factory.mktemp("gate_data")),
    }
    with streamlit_server(env, "streamlit-bench-server.log") as url:
        yield url


def test_summary_first_and_provenance_folded(browser, bench_url):
    context = browser.new_context(base_url=bench_url, viewport={"width": 1280, "height": 900})
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    try:
        page.goto("/Benchmarks")
        wait_idle(page)
        summary = page.get_by_role("heading", name="What to expect on your data")
        details = page.get_by_role("heading", name="Details", exact=True)
        expect(summary).to_be_visible()
        assert summary.bounding_box()["y"] < details.bounding_box()["y"]
        table = page.locator("table").first
        expect(table).to_contain_text("GATE ÷ best alternative")
        expect(table).to_contain_text("random forest")
        assert table.bounding_box()["y"] < details.bounding_box()["y"]
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)  # the first screen: title and summary
        page.screenshot(path=str(SCREENSHOTS / "benchmarks.png"))

        # the details show one result at a time: the dirty-tree run, by its link
        page.goto("/Benchmarks?result=preview_time")
        wait_idle(page)
        commit = page.get_by_text(COMMIT[:10])
        expect(commit).to_be_hidden()  # folded away
        section = (
            page.locator('[data-testid="stExpander"]')
            .filter(has_text="Machine, code and command")
            .filter(has=page.get_by_text(COMMIT[:10]))
        )
        section.get_by_text("Machine, code and command").click()
        expect(commit).to_be_visible()
        text = page.locator("body").text_content()  # folded sections included
        assert "/tmp/" not in text and "uncommitted" not in text
        assert "<temporary folder>" in text
    finally:
        context.close()
