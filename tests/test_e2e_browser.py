"""End-to-end in Debian's chromium against a real ``caseload app`` server on a free loopback port.

Screenshots go to tests/_artifacts/ (gitignored) so a person can look at what the browser showed.
"""

from __future__ import annotations

import io
import re
from pathlib import Path

import openpyxl
import pandas as pd
import pytest
from _browser import ARTIFACTS, CHROMIUM_ARGS, ROOT, caseload_server, listening_addresses

from caseload.store import connect

pytestmark = pytest.mark.browser
playwright_api = pytest.importorskip("playwright.sync_api")

SAMPLE_CSV = ROOT / "sample_data" / "sample_caseload.csv"
SAMPLE_XLSX = ROOT / "sample_data" / "sample_caseload.xlsx"
VIEWPORT = {"width": 1400, "height": 1000}


@pytest.fixture
def browser(chromium):
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with playwright_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(chromium), args=CHROMIUM_ARGS)
        yield b
        b.close()


def _shot(page, name: str, height: int | None = None) -> Path:
    """Save a screenshot; ``height`` makes the window that tall first (Streamlit scrolls inside the page,
    so a full-page screenshot alone would stop at the window's edge)."""
    if height:
        page.set_viewport_size({"width": VIEWPORT["width"], "height": height})
    page.wait_for_timeout(1200)  # let charts finish drawing
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path))
    if height:
        page.set_viewport_size(VIEWPORT)
    return path


def _grid_cells(page, index: int = 0) -> list[str]:
    grid = page.locator('[data-testid="stDataFrame"]').nth(index)
    grid.wait_for(timeout=30_000)
    cells = grid.locator('[role="gridcell"]')
    cells.first.wait_for(state="attached", timeout=30_000)
    return [t.strip() for t in cells.all_inner_texts()]


def _click_first_row(page, index: int = 0) -> None:
    """Select the first data row of a dataframe by clicking its row-selection cell."""
    grid = page.locator('[data-testid="stDataFrame"]').nth(index)
    box = grid.bounding_box()
    assert box is not None
    page.mouse.click(box["x"] + 15, box["y"] + 35 + 17)  # header row 35 px, data rows 35 px


def _import_through_uploader(page, path: Path) -> None:
    page.get_by_role("link", name="Import", exact=True).click()
    page.get_by_role("heading", name="Import", exact=True).wait_for(timeout=30_000)
    page.locator('[data-testid="stFileUploader"] input[type="file"]').set_input_files(str(path))
    button = page.get_by_role("button", name="Import", exact=True)
    button.wait_for(timeout=60_000)
    button.click()
    page.get_by_text(f"{path.name}: ").first.wait_for(timeout=120_000)


def test_the_app_listens_on_loopback_only(tmp_path):
    with caseload_server(tmp_path / "store.duckdb") as url:
        port = int(url.rsplit(":", 1)[1])
        assert listening_addresses(port) == ["127.0.0.1"]


def test_a_new_user_imports_the_sample_export_and_sees_the_clients(browser, tmp_path):
    expected = sorted(pd.read_csv(SAMPLE_CSV, dtype=str)["client_id"].unique())
    with caseload_server(tmp_path / "store.duckdb") as url:
        page = browser.new_page(viewport=VIEWPORT)
        page.goto(url)
        page.get_by_role("button", name="Load sample caseload").wait_for(timeout=60_000)
        page.get_by_role("link", name="Import your export").wait_for()
        _shot(page, "e2e_01_start")

        _import_through_uploader(page, SAMPLE_CSV)
        assert page.get_by_text(re.compile(r"sample_caseload\.csv: [\d,]+ ratings stored")).count() == 1
        _shot(page, "e2e_02_imported_csv")

        page.get_by_role("link", name="Caseload", exact=True).click()
        page.get_by_text("Active clients").wait_for(timeout=60_000)
        cells = _grid_cells(page)
        shown = {c for c in cells if c in set(expected)}
        assert shown, "the caseload table shows client codes from the imported file"
        assert page.get_by_text(re.compile(r"\d+ rows \(one per client")).count() == 1
        _shot(page, "e2e_03_caseload_after_import")

        # The same export as Excel adds nothing new: every row is a duplicate of what is stored.
        _import_through_uploader(page, SAMPLE_XLSX)
        _shot(page, "e2e_04_imported_xlsx")
        assert page.get_by_text(re.compile(r"sample_caseload\.xlsx: 0 ratings stored")).count() == 1


def test_a_new_user_walks_from_the_sample_to_a_client_supervision_and_excel(browser, tmp_path):
    with caseload_server(tmp_path / "store.duckdb") as url:
        page = browser.new_page(viewport=VIEWPORT)
        page.goto(url)
        page.get_by_role("button", name="Load sample caseload").click()
        page.get_by_text("Active clients").wait_for(timeout=120_000)
        page.get_by_text("synthetic sample caseload").first.wait_for()
        cells = _grid_cells(page)
        most_urgent = next(c for c in cells if re.fullmatch(r"S-\d{4}", c))
        _shot(page, "e2e_10_caseload_sample", height=1300)

        # The most urgent client opens from the table, with a URL that survives a reload.
        _click_first_row(page)
        page.wait_for_url(re.compile(r".*/client\?client=" + re.escape(most_urgent)), timeout=60_000)
        page.locator('[data-testid="stVegaLiteChart"]').first.wait_for(timeout=60_000)
        page.get_by_role("heading", name=re.compile(r"^Alerts \(\d+\)$")).wait_for()
        _shot(page, "e2e_11_client_most_urgent", height=1500)
        page.reload()
        page.locator('[data-testid="stVegaLiteChart"]').first.wait_for(timeout=60_000)
        assert f"client={most_urgent}" in page.url
        _shot(page, "e2e_11b_client_after_reload")
        page.get_by_text(most_urgent, exact=True).first.wait_for()

        # Switch the outcome measure (a client with several measures).
        switch = page.locator('[data-testid="stButtonGroup"]')
        if switch.count() == 0:
            page.goto(f"{url}/client?client=S-0037")
            page.locator('[data-testid="stVegaLiteChart"]').first.wait_for(timeout=60_000)
            switch = page.locator('[data-testid="stButtonGroup"]')
        options = switch.first.get_by_role("radio")
        assert options.count() >= 2
        target = options.nth(1).inner_text().strip()
        options.nth(1).click()
        page.wait_for_url(re.compile(r".*measure=" + re.escape(target.split(" ")[0])), timeout=60_000)
        page.wait_for_timeout(1500)
        _shot(page, "e2e_12_client_switched_measure", height=3400)

        # Supervision: the clinicians table, clients to discuss and the Excel export.
        page.get_by_role("link", name="Supervision", exact=True).click()
        page.get_by_role("heading", name=re.compile("^Clinicians on ")).wait_for(timeout=60_000)
        page.get_by_role("heading", name="Clients to discuss").wait_for()
        supervision_cells = _grid_cells(page, 0)
        assert "Whole team" in supervision_cells
        _shot(page, "e2e_13_supervision", height=1600)
        with page.expect_download(timeout=120_000) as download:
            page.get_by_role("button", name="Download Excel workbook").click()
        saved = tmp_path / download.value.suggested_filename
        download.value.save_as(saved)
        assert saved.name.startswith("caseload_supervision_") and saved.suffix == ".xlsx"
        wb = openpyxl.load_workbook(io.BytesIO(saved.read_bytes()))
        assert wb.sheetnames == ["Caseload", "Supervision", "Clients to discuss", "About"]
        assert wb["Caseload"].max_row > 10 and wb["Caseload"].freeze_panes == "C2"


def test_screenshots_for_the_readme(browser, tmp_path):
    """The Caseload and Client pages of the sample caseload, as in docs/screenshots/ (copied from here)."""
    from _stores import sample_store

    db = sample_store(tmp_path / "store.duckdb")
    with caseload_server(db) as url:
        page = browser.new_page(viewport=VIEWPORT)
        page.goto(url)
        page.get_by_text("Active clients").wait_for(timeout=60_000)
        _grid_cells(page)
        _shot(page, "readme_caseload", height=1150)

        page.goto(f"{url}/client?client=S-0005")
        page.locator('[data-testid="stVegaLiteChart"]').nth(1).wait_for(timeout=60_000)
        page.get_by_role("heading", name="Alliance").wait_for()
        assert page.get_by_text(re.compile(r"Off track|At risk|On track")).count() >= 1
        _shot(page, "readme_client", height=1450)


def test_a_clinician_records_how_an_episode_ended_in_the_browser(browser, tmp_path):
    db = tmp_path / "store.duckdb"
    with caseload_server(db) as url:
        page = browser.new_page(viewport=VIEWPORT)
        page.goto(url)
        page.get_by_role("button", name="Load sample caseload").click()
        page.get_by_text("Active clients").wait_for(timeout=120_000)
        # The app's sample is the committed one (same seed), dated to today: a client whose export gives
        # no ending.
        sample = pd.read_csv(SAMPLE_CSV, dtype=str)
        client = sorted(set(sample["client_id"]) - set(sample.loc[sample["ending"].notna(), "client_id"]))[0]
        page.goto(f"{url}/client?client={client}")
        page.locator('[data-testid="stVegaLiteChart"]').first.wait_for(timeout=60_000)
        page.get_by_text(re.compile(r"^Episodes \(\d+\), ending and settings")).click()
        page.get_by_text("How did", exact=False).first.wait_for()
        page.get_by_text("unplanned", exact=True).first.click()
        page.get_by_role("button", name="Save ending").click()
        page.get_by_text("ended unplanned", exact=False).first.wait_for(timeout=60_000)
        _shot(page, "e2e_20_client_episode_ended", height=1400)
    con = connect(db, read_only=True)
    try:
        assert con.execute("select client_id, ending from episode_endings").fetchall() == [
            (client, "unplanned")
        ]
    finally:
        con.close()
