"""In Debian's chromium: the print view prints the summary without the app's menus, and the prompts ticked
on the Client page end up in the downloaded PDF."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest
from _browser import ARTIFACTS, CHROMIUM_ARGS, caseload_server
from _stores import sample_store

from caseload.engine import caseload_overview, client_detail
from caseload.guide import discussion_guide
from caseload.measures import load_measures
from caseload.store import connect

pytestmark = pytest.mark.browser
playwright_api = pytest.importorskip("playwright.sync_api")


@pytest.fixture(scope="module")
def sample_db(tmp_path_factory) -> Path:
    return sample_store(tmp_path_factory.mktemp("sample") / "sample.duckdb")


@pytest.fixture(scope="module")
def flagged(sample_db) -> tuple[str, list]:
    """An off-track (or otherwise alerted) client of the sample and its guide."""
    con = connect(sample_db)
    try:
        registry = load_measures()
        overview = caseload_overview(con, registry)
        off = overview[overview["status"] == "off_track"]
        client_id = str((off if not off.empty else overview)["client_id"].iloc[0])
        return client_id, discussion_guide(client_detail(con, registry, client_id), registry)
    finally:
        con.close()


@pytest.fixture
def browser(chromium):
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with playwright_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(chromium), args=CHROMIUM_ARGS)
        yield b
        b.close()


def _pdf_text(path: Path) -> str:
    return subprocess.run(
        ["pdftotext", "-raw", str(path), "-"], capture_output=True, text=True, check=True
    ).stdout


def test_printing_the_print_view_gives_the_summary_without_menus(browser, sample_db, flagged):
    client_id, guide = flagged
    topic = next(p for p in guide if p.section == "option")
    with caseload_server(sample_db) as url:
        page = browser.new_page(viewport={"width": 1200, "height": 1000})
        page.goto(f"{url}/print_summary?client={client_id}&prompts={topic.id}")
        page.get_by_text("Your feedback summary").wait_for(timeout=60_000)
        page.locator('[data-testid="stVegaLiteChart"]').first.wait_for(timeout=30_000)
        page.wait_for_timeout(1500)
        page.screenshot(path=str(ARTIFACTS / "print_view.png"), full_page=True)
        page.emulate_media(media="print")
        pdf_path = ARTIFACTS / "print_view.pdf"
        page.pdf(path=str(pdf_path), format="A4", print_background=True)
    text = _pdf_text(pdf_path)
    squeezed = re.sub(r"\s+", "", text)  # the browser's headings come out without word spaces
    assert f"Client code {client_id}" in text
    for heading in ("Where you started and where you are", "What we will talk about next"):
        assert heading.replace(" ", "") in squeezed
    assert topic.client.replace(" ", "") in squeezed
    # The app's navigation and the print hint stay on screen only.
    for menu in ("Supervision", "Measures & about", "Press Ctrl+P"):
        assert menu not in text, f"{menu!r} printed"
    pages = int(
        re.search(
            r"Pages:\s+(\d+)",
            subprocess.run(["pdfinfo", str(pdf_path)], capture_output=True, text=True).stdout,
        )[1]
    )
    assert pages == 1


def test_a_prompt_ticked_on_the_client_page_is_in_the_downloaded_summary(browser, sample_db, flagged):
    client_id, guide = flagged
    option = next(p for p in guide if p.section == "option")
    with caseload_server(sample_db) as url:
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.goto(f"{url}/client?client={client_id}")
        page.get_by_text("Prepare the next session").wait_for(timeout=60_000)
        box = page.get_by_role("checkbox", name=option.clinician)
        box.scroll_into_view_if_needed()
        box.check(force=True)
        page.get_by_text(re.compile(r"\d+ of \d+ prompts ticked")).wait_for()
        page.wait_for_timeout(1000)
        with page.expect_download(timeout=60_000) as download:
            page.get_by_role("button", name="Download client summary (PDF)").click()
        path = ARTIFACTS / "downloaded_summary.pdf"
        download.value.save_as(str(path))
        assert download.value.suggested_filename == f"{client_id}_summary.pdf"
    assert path.read_bytes().startswith(b"%PDF-")
    text = " ".join(_pdf_text(path).split())
    assert option.client in text
    assert f"Client code {client_id}" in text
