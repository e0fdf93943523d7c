"""Client feedback summary and supervision packet PDFs, checked by their extracted text, pages and bytes."""

from __future__ import annotations

import io
import re
import shutil
import subprocess
from datetime import date
from pathlib import Path

import pytest
import vl_convert
from _details import alert, alliance, detail, off_track_client, outcome
from PIL import Image

from caseload.guide import discussion_guide
from caseload.reports import pdf as P
from caseload.reports.client_summary import JARGON, client_chart, client_summary_pdf, summary_content

needs_poppler = pytest.mark.skipif(shutil.which("pdftotext") is None, reason="poppler-utils not installed")
TODAY = date(2026, 11, 20)


def pdf_text(data: bytes, tmp_path: Path, name: str = "out.pdf") -> str:
    path = tmp_path / name
    path.write_bytes(data)
    return subprocess.run(
        ["pdftotext", "-raw", str(path), "-"], capture_output=True, text=True, check=True
    ).stdout


def pdf_info(data: bytes, tmp_path: Path) -> dict[str, str]:
    path = tmp_path / "info.pdf"
    path.write_bytes(data)
    out = subprocess.run(["pdfinfo", str(path)], capture_output=True, text=True, check=True).stdout
    return {k.strip(): v.strip() for k, v in (line.split(":", 1) for line in out.splitlines() if ":" in line)}


def flat(text: str) -> str:
    """Extracted text with line breaks and runs of spaces collapsed, so wrapped sentences can be matched."""
    return re.sub(r"\s+", " ", text)


def strings_in(spec: object) -> list[str]:
    if isinstance(spec, str):
        return [spec]
    if isinstance(spec, dict):
        return [s for k, v in spec.items() for s in strings_in(k) + strings_in(v)]
    if isinstance(spec, list):
        return [s for v in spec for s in strings_in(v)]
    return []


# --- client summary -------------------------------------------------------------------------------------


@needs_poppler
def test_the_client_summary_is_one_page_with_the_clients_own_numbers_and_chosen_topics(registry, tmp_path):
    d = off_track_client()
    guide = discussion_guide(d, registry)
    chosen = ["below_expected.data:ORS", "alliance.goals", "alliance.repair"]
    data = client_summary_pdf(d, registry, chosen)
    assert pdf_info(data, tmp_path)["Pages"] == "1"
    text = flat(pdf_text(data, tmp_path))
    assert "Your feedback summary" in text and "Client code C-0042" in text
    assert "When we started (session 1) your score was 14 out of 40" in text
    assert "Your latest score (session 5) is 16" in text
    for part, first, latest in (
        ("Individual", "3", "4.5"),
        ("Interpersonal", "3.5", "3.5"),
        ("Social", "4", "4"),
    ):
        assert re.search(rf"{part} {first} {latest}", text), part
    assert "How our sessions have felt to you" in text
    assert "ranged from 34.5 to 39 out of 40" in text
    assert "'Goals and topics' (7)" in text
    assert "What we will talk about next" in text
    for pid in chosen:
        assert flat(next(p.client for p in guide if p.id == pid)) in text
    not_chosen = next(p for p in guide if p.id == "consultation.referral")
    assert not_chosen.client[:40] not in text


@needs_poppler
def test_the_client_summary_shows_no_identifier_but_the_client_code_and_no_jargon(registry, tmp_path):
    d = off_track_client()
    all_ids = [p.id for p in discussion_guide(d, registry)]
    data = client_summary_pdf(d, registry, all_ids)
    text = pdf_text(data, tmp_path)
    assert "C-0042" in text
    assert "T-SECRET-7" not in text and b"T-SECRET-7" not in data
    for day in ("2026-03-02", "2026-03-30", "02/03/2026", "3/2/2026", "Mar 2026", "March"):
        assert day not in text, f"a session date ({day}) leaked into the client summary"
    lowered = text.lower()
    for word in JARGON:
        assert word.lower() not in lowered, f"jargon {word!r} in the client summary"
    info = pdf_info(data, tmp_path)
    assert "T-SECRET-7" not in " ".join(info.values())


def test_the_browser_chart_speaks_plainly_and_draws_in_grey_only(registry):
    content = summary_content(off_track_client(), registry)
    chart = client_chart(content.course)
    words = " ".join(strings_in(chart.to_dict())).lower()
    for word in JARGON:
        # Short codes (RCI, ETR, p25) as whole words; longer terms anywhere.
        pattern = rf"\b{re.escape(word.lower())}\b" if len(word) <= 4 else re.escape(word.lower())
        assert not re.search(pattern, words), f"jargon {word!r} in the chart"
    png = Image.open(io.BytesIO(vl_convert.vegalite_to_png(chart.to_dict(), scale=1))).convert("RGB")
    colours = {px for px in set(png.get_flattened_data()) if max(px) - min(px) > 6}
    assert not colours, f"{len(colours)} coloured pixels: the chart must read in greyscale"
    assert [k for k, _ in content.chart_key] == ["score", "band", "line"]


@needs_poppler
def test_the_printed_summary_uses_no_colour_at_all(registry, tmp_path):
    path = tmp_path / "summary.pdf"
    path.write_bytes(client_summary_pdf(off_track_client(), registry, ["alliance.goals"]))
    subprocess.run(["pdftoppm", "-r", "40", "-png", str(path), str(tmp_path / "page")], check=True)
    page = Image.open(tmp_path / "page-1.png").convert("RGB")
    coloured = [px for px in set(page.get_flattened_data()) if max(px) - min(px) > 6]
    assert not coloured, f"{len(coloured)} coloured pixel values on a page meant for greyscale printers"


def test_the_same_data_gives_the_same_pdf_bytes(registry):
    d = off_track_client()
    chosen = ["alliance.goals"]
    first = client_summary_pdf(d, registry, chosen)
    assert client_summary_pdf(d, registry, chosen) == first
    assert client_summary_pdf(d, registry, chosen, paper="Letter") != first
    assert first.startswith(b"%PDF-")


@needs_poppler
@pytest.mark.parametrize(
    ("paper", "size"), [("A4", "595.28 x 841.89 pts (A4)"), ("letter", "612 x 792 pts (letter)")]
)
def test_the_client_summary_prints_on_a4_and_us_letter(registry, tmp_path, paper, size):
    d = off_track_client()
    every = [p.id for p in discussion_guide(d, registry)]
    info = pdf_info(client_summary_pdf(d, registry, every, paper=paper), tmp_path)
    assert info["Pages"] == "1"
    assert info["Page size"] == size


def test_an_unknown_paper_size_is_refused_by_name(registry):
    with pytest.raises(P.ReportError, match="Unknown paper size 'A5'"):
        client_summary_pdf(off_track_client(), registry, paper="A5")


@needs_poppler
def test_unicode_client_codes_and_item_labels_print_with_the_shipped_font(registry, tmp_path):
    d = detail(outcome("ORS", [12, 14.5]), client_id="Ž-ørn-042 — β")
    text = pdf_text(client_summary_pdf(d, registry), tmp_path)
    assert "Ž-ørn-042 — β" in text
    info = subprocess.run(["pdffonts", "-"], input=client_summary_pdf(d, registry), capture_output=True)
    if info.returncode == 0:  # pdffonts reads stdin in newer poppler only
        assert b"DejaVuSans" in info.stdout


@needs_poppler
def test_several_questionnaires_each_get_a_row_and_a_missing_alliance_is_said_plainly(registry, tmp_path):
    d = detail(
        outcome("PHQ9", [18, 15, 11], category="improved"),
        outcome("GAD7", [12, 12, 11]),
        alerts=[alert("no_reliable_change", "GAD7 has moved -1 point.", measure="GAD7", session=3)],
    )
    text = flat(pdf_text(client_summary_pdf(d, registry), tmp_path))
    assert "Patient Health Questionnaire-9" in text and "Generalized Anxiety Disorder-7" in text
    assert re.search(r"18 \(session 1\) 11 \(session 3\) −7", text)
    assert re.search(r"12 \(session 1\) 11 \(session 3\) −1", text)
    assert "Better: a change big enough to be fairly sure it is real" in text
    assert "A little better, not yet a clear change" in text
    assert "We have not yet used the short rating of how each session went for you" in text


@needs_poppler
def test_a_first_session_summary_has_one_score_and_no_change_claim(registry, tmp_path):
    d = detail(
        outcome("ORS", [19.5], status="not_enough_data", category="not_enough_data"), alliance("SRS", [37])
    )
    text = flat(pdf_text(client_summary_pdf(d, registry), tmp_path))
    assert "When we started (session 1) your score was 19.5 out of 40" in text
    assert "One score so far" in text
    assert "At the end of session 1 you rated how the session went for you: 37 out of 40." in text


# --- with the engine on the synthetic sample ------------------------------------------------------------


@pytest.fixture(scope="module")
def sample_store(registry):
    from caseload.sample import load_sample
    from caseload.store import connect

    con = connect(":memory:")
    load_sample(con, registry, n_clients=16, seed=7, today=TODAY)
    yield con
    con.close()


def test_every_alert_the_engine_raises_appears_as_a_trigger_in_the_guide(registry, sample_store):
    from caseload.engine import caseload_overview, client_detail
    from caseload.guide import triggers_of

    overview = caseload_overview(sample_store, registry, today=TODAY)
    flagged = overview[overview["alerts"].map(len) > 0]
    assert flagged["client_id"].nunique() >= 8
    for client_id in flagged["client_id"].unique():
        d = client_detail(sample_store, registry, client_id, today=TODAY)
        rules = {a["rule"] for a in d["episodes"][-1]["alerts"]}
        missing = rules - set(triggers_of(discussion_guide(d, registry)))
        assert not missing, f"{client_id}: alerts {missing} have no prompt"


@needs_poppler
def test_the_supervision_packet_has_a_cover_and_one_page_per_client_to_discuss(
    registry, sample_store, tmp_path
):
    from caseload.engine import caseload_overview
    from caseload.reports.packet import supervision_packet_pdf
    from caseload.supervision import clients_to_discuss

    overview = caseload_overview(sample_store, registry, today=TODAY)
    expected = list(dict.fromkeys(clients_to_discuss(overview)["client_id"]))
    assert expected, "the sample should have clients to discuss"
    data = supervision_packet_pdf(sample_store, registry, today=TODAY)
    pages = int(pdf_info(data, tmp_path)["Pages"])
    text = pdf_text(data, tmp_path)
    per_page = text.split("\f")
    cover_pages = next(
        i
        for i, page in enumerate(per_page)
        if re.search(rf"^\s*{expected[0]}\b", page, re.M) and "#1 of" in page
    )
    assert pages == cover_pages + len(expected)
    assert "Supervision packet" in per_page[0] and "Caseload at a glance" in per_page[0]
    assert f"Clients to discuss ({len(expected)})" in per_page[0]
    for n, client_id in enumerate(expected, start=1):
        page = per_page[cover_pages + n - 1]
        assert client_id in page and f"#{n} of {len(expected)}" in page
        assert "Alerts" in page and "Discussion guide for the next session" in page
    # Clinician language is expected here: rule ids and statuses.
    assert "off_track" in text or "at_risk" in text or "alliance_below_cutoff" in text
    assert supervision_packet_pdf(sample_store, registry, today=TODAY) == data


@needs_poppler
def test_a_clinicians_packet_holds_only_their_clients(registry, sample_store, tmp_path):
    from caseload.engine import caseload_overview
    from caseload.reports.packet import supervision_packet_pdf

    overview = caseload_overview(sample_store, registry, today=TODAY)
    clinician = overview["clinician_id"].value_counts().index[0]
    others = set(overview.loc[overview["clinician_id"] != clinician, "client_id"]) - set(
        overview.loc[overview["clinician_id"] == clinician, "client_id"]
    )
    text = pdf_text(
        supervision_packet_pdf(sample_store, registry, clinician_id=clinician, today=TODAY), tmp_path
    )
    assert f"Clinician {clinician}" in text
    assert not [c for c in others if re.search(rf"\b{re.escape(c)}\b", text)]


@needs_poppler
def test_an_empty_store_gives_a_cover_that_says_there_is_nobody_to_discuss(registry, con, tmp_path):
    from caseload.reports.packet import supervision_packet_pdf

    data = supervision_packet_pdf(con, registry, today=TODAY)
    assert pdf_info(data, tmp_path)["Pages"] == "1"
    assert "No active client is off track, at risk or has an alliance concern." in flat(
        pdf_text(data, tmp_path)
    )


# --- command line ---------------------------------------------------------------------------------------


@needs_poppler
def test_caseload_report_and_packet_write_pdfs(registry, tmp_path, capsys):
    from caseload.cli import main
    from caseload.sample import load_sample
    from caseload.store import connect

    db = tmp_path / "store.duckdb"
    con = connect(db)
    load_sample(con, registry, n_clients=6, seed=3, today=TODAY)
    con.close()
    out = tmp_path / "summary.pdf"
    assert main(["report", "S-0001", "--db", str(db), "--today", TODAY.isoformat(), "--list-prompts"]) == 0
    listed = capsys.readouterr().out.splitlines()
    first_id = listed[0].split("\t")[0]
    args = ["report", "S-0001", "--db", str(db), "--today", TODAY.isoformat(), "--out", str(out)]
    assert main([*args, "--paper", "letter", "--prompts", first_id]) == 0
    assert "Wrote the feedback summary for S-0001" in capsys.readouterr().out
    assert pdf_info(out.read_bytes(), tmp_path)["Page size"] == "612 x 792 pts (letter)"
    assert main([*args, "--prompts", "no.such_prompt"]) == 2
    assert "Unknown prompt id(s) for S-0001: no.such_prompt" in capsys.readouterr().err
    assert main(["report", "NOBODY", "--db", str(db), "--out", str(out)]) == 2
    assert "No client 'NOBODY'" in capsys.readouterr().err
    packet = tmp_path / "packet.pdf"
    assert main(["packet", "--db", str(db), "--today", TODAY.isoformat(), "--out", str(packet)]) == 0
    assert packet.read_bytes().startswith(b"%PDF-")


# --- building blocks ------------------------------------------------------------------------------------


def test_wrapped_lines_fit_the_width_and_keep_every_word():
    pdf = P.new_document()
    pdf.set_font(P.FONT, "", 9)
    text = (
        "Explore readiness and mixed feelings about change with a motivational-interviewing stance: the "
        "client's own reasons, what they expect therapy to do — and what they expect of themselves. Ž ø β"
    )
    for width in (52.0, 62.5, 120.0):  # wider than the longest word: nothing is cut
        lines = P.wrap_lines(pdf, text, width)
        assert " ".join(lines) == text
        assert all(pdf.get_string_width(line) <= width + 1e-9 for line in lines)
        assert len(lines) > 1
    assert P.wrap_lines(pdf, "a\nb", 100) == ["a", "b"]
    cut = P.wrap_lines(pdf, "x" * 200, 20)
    assert "".join(cut) == "x" * 200 and all(pdf.get_string_width(line) <= 20 for line in cut)


@pytest.mark.parametrize(("span", "step"), [(40, 5), (27, 5), (21, 5), (10, 2), (180, 25), (4, 0.5)])
def test_chart_ticks_use_round_steps(span, step):
    from caseload.reports.vector_chart import nice_step

    assert nice_step(span) == step


@pytest.mark.parametrize(
    ("latest", "words"),
    [
        (20.9, "About the same so far"),  # 0.9 points: under a fifth of the 5 points of reliable change
        (21.0, "A little better, not yet a clear change"),
        (24.9, "A little better, not yet a clear change"),
        (25.0, "Better: a change big enough to be fairly sure it is real"),
        (15.0, "Harder: a change big enough to be fairly sure it is real"),
        (19.0, "A little harder, not yet a clear change"),
    ],
)
def test_what_a_change_means_in_the_clients_words(registry, latest, words):
    from caseload.guide import client_facts
    from caseload.reports.client_summary import meaning

    facts = client_facts(detail(outcome("ORS", [20.0, latest], category=None)), registry)
    assert meaning(facts.outcomes[0]) == words


@needs_poppler
def test_the_summary_and_the_packet_say_whose_norms_the_line_comes_from(registry, tmp_path):
    from caseload.reports.packet import norms_label

    teen = detail(outcome("ORS", [20.0, 23.0, 26.5], population="adolescent"))
    text = flat(pdf_text(client_summary_pdf(teen, registry, []), tmp_path))
    assert "clinical range for young people (28)" in text
    adult = detail(outcome("ORS", [20.0, 23.0, 26.5], population="adult"))
    assert "clinical range for adults (25)" in flat(
        pdf_text(client_summary_pdf(adult, registry, []), tmp_path, "a.pdf")
    )
    assert norms_label(registry["ORS"], "adolescent") == "adolescent norms"
    assert norms_label(registry["PHQ9"], "adolescent") == "norms for all ages"
