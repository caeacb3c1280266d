"""Home page in a real browser: every backbone property in view; also produces docs/screenshots/home.png."""

import pytest
from playwright.sync_api import expect

pytestmark = pytest.mark.e2e


def test_home_in_browser(page, screenshot):
    page.goto("/")
    expect(page.get_by_role("heading", name="GATE Studio")).to_be_visible()
    expect(page.get_by_text("Add it as a new task")).to_be_visible()
    expect(page.get_by_text("Experimental properties")).to_be_visible()
    table = page.locator('[data-testid="stDataFrame"]').first  # the experimental properties
    rows = int(page.locator("p", has_text="Experimental properties").inner_text().split("(")[1].rstrip(")"))
    assert table.bounding_box()["height"] >= 36 * (rows + 1)  # every backbone property shows without scrolling
    assert screenshot("home").stat().st_size > 0
