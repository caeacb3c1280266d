"""Home page in a real browser: a spinner, not a blank page, while a fresh server loads its
libraries; every backbone property in view, grouped by kind; also produces
docs/screenshots/home.png."""

import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import streamlit_server

pytestmark = pytest.mark.e2e


def test_home_in_browser(page, screenshot):
    page.goto("/")
    expect(page.get_by_role("heading", name="GATE Studio")).to_be_visible()
    expect(page.get_by_text("Add it as a new task")).to_be_visible()
    for group in ("Experimental properties", "Computed descriptors"):
        label = page.locator("p", has_text=group)
        expect(label).to_be_visible()
        rows = int(label.inner_text().split("(")[1].rstrip(")"))
        # the group's table follows its label and shows every one of its properties without scrolling
        table = label.locator("xpath=following::*[@data-testid='stDataFrame'][1]")
        assert table.bounding_box()["height"] >= 36 * (rows + 1), group
    assert screenshot("home").stat().st_size > 0


def test_a_fresh_server_shows_a_spinner_while_it_loads(browser, server_env):
    with streamlit_server(server_env, log_name="streamlit-fresh-server.log") as url:
        context = browser.new_context(base_url=url)
        page = context.new_page()
        try:
            page.goto("/")
            expect(
                page.get_by_text("Starting GATE Studio: loading the chemistry and model libraries")
            ).to_be_visible()
            expect(page.get_by_role("heading", name="GATE Studio")).to_be_visible()
        finally:
            context.close()
