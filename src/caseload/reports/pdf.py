"""Shared fpdf2 setup for Caseload's PDFs: shipped Unicode font, paper sizes, fixed dates, text blocks.

Every PDF is built through ``new_document`` so that the same data always gives the same bytes
(fixed creation date, fpdf2's content-derived file id) and any character prints (DejaVu Sans, shipped).
"""

from __future__ import annotations

from datetime import UTC, datetime
from functools import cache
from importlib.resources import as_file, files
from pathlib import Path

from fpdf import FPDF

FONT = "DejaVu"
FONT_FILES = {"": "DejaVuSans.ttf", "B": "DejaVuSans-Bold.ttf"}  # each costs ~0.16 s to load: no italic
# Written into every PDF instead of "now", so that identical data gives identical bytes.
FIXED_CREATION_DATE = datetime(2026, 1, 1, tzinfo=UTC)
PAPERS = {"a4": "A4", "letter": "Letter"}
MARGIN_MM = 15.0
# Greys that stay distinct when printed on a black-and-white printer.
INK = (20, 20, 20)
MUTED = (90, 90, 90)
RULE = (170, 170, 170)
SHADE = (235, 235, 235)


class ReportError(ValueError):
    """A report cannot be made from what was asked (unknown paper, unknown client, ...)."""


@cache
def font_dir() -> Path:
    """The folder holding the shipped DejaVu TTFs (a real path, also for zipped installs)."""
    resource = files("caseload").joinpath("fonts")
    with as_file(resource) as path:
        return Path(path)


def paper_format(paper: str) -> str:
    """fpdf2's name for a paper size given as 'A4' or 'Letter' in any case."""
    key = str(paper).strip().lower().replace("us ", "").replace("us-", "")
    if key not in PAPERS:
        raise ReportError(f"Unknown paper size {paper!r}: use A4 or Letter.")
    return PAPERS[key]


def page_height(paper: str) -> float:
    """Height of the paper in mm (portrait)."""
    return {"A4": 297.0, "Letter": 279.4}[paper_format(paper)]


def new_document(paper: str = "A4", title: str = "", subject: str = "") -> FPDF:
    """An empty portrait PDF with the shipped fonts, our margins and a fixed creation date."""
    pdf = FPDF(orientation="portrait", unit="mm", format=paper_format(paper))
    for style, name in FONT_FILES.items():
        pdf.add_font(FONT, style, str(font_dir() / name))
    pdf.set_creation_date(FIXED_CREATION_DATE)
    pdf.set_margins(MARGIN_MM, MARGIN_MM, MARGIN_MM)
    pdf.set_auto_page_break(True, margin=MARGIN_MM)
    pdf.set_creator("Caseload")
    pdf.set_producer("Caseload (fpdf2)")
    if title:
        pdf.set_title(title)
    if subject:
        pdf.set_subject(subject)
    pdf.set_lang("en")
    pdf.set_text_color(*INK)
    pdf.set_draw_color(*RULE)
    pdf.set_font(FONT, "", 10)
    return pdf


def document_bytes(pdf: FPDF) -> bytes:
    """The finished PDF as bytes."""
    return bytes(pdf.output())


def wrap_lines(pdf: FPDF, text: str, width: float) -> list[str]:
    """``text`` broken into lines no wider than ``width`` mm in the current font, greedily at spaces.

    About five times faster than fpdf2's multi_cell for the packet's many short paragraphs, and the same
    function measures and draws, so a page measured to fit does fit. A word wider than a line is cut.
    """
    cache: dict[tuple, float] = pdf.__dict__.setdefault("_caseload_word_widths", {})
    font = (pdf.font_family, pdf.font_style, pdf.font_size_pt)

    def w(word: str) -> float:
        key = (font, word)
        if key not in cache:
            cache[key] = pdf.get_string_width(word)
        return cache[key]

    space = w(" ")
    lines: list[str] = []
    for paragraph in text.split("\n"):
        current: list[str] = []
        used = 0.0
        for word in paragraph.split(" "):
            size = w(word)
            while size > width and word:  # cut an over-long word to the line
                cut = max(1, int(len(word) * width / size))
                while cut > 1 and w(word[:cut]) > width:
                    cut -= 1
                if current:
                    lines.append(" ".join(current))
                    current, used = [], 0.0
                lines.append(word[:cut])
                word = word[cut:]
                size = w(word)
            if current and used + space + size > width:
                lines.append(" ".join(current))
                current, used = [word], size
            else:
                used += (space if current else 0.0) + size
                current.append(word)
        lines.append(" ".join(current))
    return lines


def heading(pdf: FPDF, text: str, size: float = 12, space_before: float = 3.0) -> None:
    """A bold section heading with a thin rule under it."""
    pdf.ln(space_before)
    pdf.set_font(FONT, "B", size)
    pdf.cell(0, size * 0.5, text, new_x="LMARGIN", new_y="NEXT")
    y = pdf.get_y() + 0.6
    pdf.line(pdf.l_margin, y, pdf.w - pdf.r_margin, y)
    pdf.set_y(y + 1.4)
    pdf.set_font(FONT, "", 10)


def paragraph(pdf: FPDF, text: str, size: float = 10, style: str = "", line: float | None = None) -> None:
    """Wrapped text across the page width."""
    pdf.set_font(FONT, style, size)
    pdf.multi_cell(0, line or size * 0.47, text, new_x="LMARGIN", new_y="NEXT")


def bullets(pdf: FPDF, items: list[str], size: float = 10, marker: str = "•", indent: float = 5.0) -> None:
    """A bulleted list; long items wrap under their own text, not under the bullet."""
    pdf.set_font(FONT, "", size)
    line = size * 0.47
    for text in items:
        pdf.set_x(pdf.l_margin)
        pdf.cell(indent, line, marker)
        pdf.multi_cell(
            pdf.w - pdf.r_margin - pdf.l_margin - indent, line, text, new_x="LMARGIN", new_y="NEXT"
        )


def checkbox_list(pdf: FPDF, items: list[str], size: float = 10, indent: float = 6.0) -> None:
    """A list with an empty square before each item, to tick on paper."""
    pdf.set_font(FONT, "", size)
    line = size * 0.47
    for text in items:
        x, y = pdf.l_margin, pdf.get_y()
        box = line * 0.8
        pdf.set_draw_color(*MUTED)
        pdf.rect(x, y + (line - box) / 2, box, box)
        pdf.set_draw_color(*RULE)
        pdf.set_x(x + indent)
        pdf.multi_cell(
            pdf.w - pdf.r_margin - pdf.l_margin - indent, line, text, new_x="LMARGIN", new_y="NEXT"
        )


def ruled_table(
    pdf: FPDF,
    header: list[str],
    rows: list[list[str]],
    widths: tuple[float, ...],
    size: float,
    line_factor: float = 0.47,
    padding: tuple[float, float] = (0.6, 1.2),
) -> None:
    """A left-aligned table with a shaded bold header and horizontal rules only, as both PDFs use."""
    from fpdf.fonts import FontFace

    pdf.set_font(FONT, "", size)
    pdf.set_fill_color(255, 255, 255)  # fpdf2 paints body cells with the current fill colour
    with pdf.table(
        col_widths=widths,
        width=sum(widths),
        align="LEFT",
        text_align="LEFT",
        line_height=size * line_factor,
        headings_style=FontFace(emphasis="BOLD", fill_color=SHADE),
        borders_layout="HORIZONTAL_LINES",
        padding=padding,
    ) as table:
        table.row(header)
        for r in rows:
            table.row(r)
