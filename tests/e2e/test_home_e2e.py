"""Home page in a real browser; also produces docs/screenshots/home.png."""

import pytest
from playwright.sync_api import expect

pytestmark = pytest.mark.e2e


def test_home_in_browser(page, screenshot):
    page.goto("/")
    expect(page.get_by_role("heading", name="GATE Studio")).to_be_visible()
    expect(page.get_by_text("Add it as a new task")).to_be_visible()
    assert screenshot("home").stat().st_size > 0
