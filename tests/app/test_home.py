"""Home page renders and says what the tool is."""


def test_home_renders_title(run_page):
    at = run_page("app.py")
    assert at.title[0].value == "GATE Studio"
    assert "new task" in at.markdown[0].value
