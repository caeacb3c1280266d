"""Issue 14 in a real browser: a 20,000-atom molecule uploaded to the Predict page is one
invalid row, and the server (which it used to kill with signal 11) still answers."""

import re

import pytest
from playwright.sync_api import Page, expect

pytestmark = pytest.mark.e2e


def test_giant_molecule_upload_leaves_the_server_running(page: Page, tmp_path):
    data = tmp_path / "giant.csv"
    data.write_text("smiles\nCCO\n" + "C" * 20_000 + "\nc1ccccc1O\n")
    page.goto("/Predict")
    expect(page.get_by_role("heading", name="Predict")).to_be_visible()
    page.get_by_text("A file of SMILES").click()
    page.locator(".st-key-predict_file").locator('input[type="file"]').set_input_files(str(data))
    expect(page.get_by_text(re.compile(r"20,000 characters; the limit is 10,000"))).to_be_visible()
    page.goto("/")  # a new page load is served: the process is alive
    expect(page.get_by_role("heading", name="GATE Studio")).to_be_visible()
