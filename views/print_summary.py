"""Print view of the one-page client feedback summary: ``?client=CODE`` (``&prompts=id,id``, ``&episode=N``,
``&paper=letter``). The words come from the same ``summary_content`` as the PDF; the print CSS hides the
sidebar, header and toolbar, so the browser's Print (Ctrl+P) gives the page and nothing else.
"""

from __future__ import annotations

import streamlit as st

from caseload.audit import AuditError
from caseload.reports.client_summary import client_chart, summary_content
from views._auth import audit_once, require_viewer
from views._shared import client_detail, get_connection, get_registry

PRINT_CSS = """
<style>
@page { size: %(paper)s; margin: 14mm; }
@media print {
  [data-testid="stSidebar"], [data-testid="stSidebarCollapsedControl"], [data-testid="stHeader"],
  [data-testid="stToolbar"], [data-testid="stDecoration"], [data-testid="stStatusWidget"],
  header, footer, .caseload-no-print { display: none !important; }
  [data-testid="stMain"], [data-testid="stAppViewContainer"] { overflow: visible !important; }
  [data-testid="stMainBlockContainer"] { padding: 0 !important; max-width: 100%% !important; }
  [data-testid="stVerticalBlock"] { gap: 0.35rem !important; }
  html { font-size: 10.5px !important; }
  h1 { font-size: 1.9rem !important; padding: 0 !important; }
  h4 { font-size: 1.25rem !important; padding: 0.5rem 0 0.1rem 0 !important; }
  [data-testid="stMarkdownContainer"] p { margin-bottom: 0.2rem !important; }
  [data-testid="stMarkdownContainer"] td, [data-testid="stMarkdownContainer"] th { padding: 0.15rem 0.4rem !important; }
  body { -webkit-print-color-adjust: exact; print-color-adjust: exact; }
}
.caseload-summary h1 { font-size: 1.7rem; margin-bottom: 0; }
.caseload-summary table { font-size: 0.85rem; width: 100%%; }
</style>
"""


def _cell(text: object) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def markdown_table(header: list[str], rows: list[list[str]]) -> str:
    """A Markdown table (prints as a plain HTML table, unlike the interactive data grid)."""
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(_cell(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


viewer = require_viewer()
con = get_connection()
registry = get_registry()
params = st.query_params
client = params.get("client")
paper = "letter" if str(params.get("paper", "")).lower() == "letter" else "A4"
st.markdown(PRINT_CSS % {"paper": paper}, unsafe_allow_html=True)

if not client:
    st.info("Open this view from a client's page (Prepare the next session → Open the print view).")
    st.page_link("views/client.py", label="Go to the Client page", icon=":material/person:")
    st.stop()
detail = client_detail(con, registry, client, viewer)
if detail is None or not detail.get("episodes"):
    st.warning(f"There is no client “{client}” in this store.", icon=":material/person_off:")
    st.stop()
episode = params.get("episode")
try:
    episode_number = int(episode) if episode else None
except ValueError:
    episode_number = None
prompt_ids = [p for p in str(params.get("prompts", "")).split(",") if p]
content = summary_content(detail, registry, prompt_ids, episode=episode_number)
try:
    audit_once(viewer, "print", client_id=client)
except AuditError:
    audit_once(viewer, "print")

st.markdown(
    '<div class="caseload-no-print">Press Ctrl+P (⌘P on a Mac) to print this page; the menus are left out of '
    "the print. The PDF on the Client page has the same content.</div>",
    unsafe_allow_html=True,
)
left, right = st.columns([3, 2], vertical_alignment="bottom")
left.markdown(f"# {content.title}")
right.markdown(f"<div style='text-align:right'>{content.subtitle}</div>", unsafe_allow_html=True)
st.write(content.intro)

if content.course is not None:
    st.markdown(f"#### {content.chart_title}")
    st.altair_chart(client_chart(content.course), width="content", theme=None)
    st.caption("  \n".join(text for _, text in content.chart_key))

st.markdown("#### Where you started and where you are")
if content.started:
    st.write(" ".join(content.started))
if content.score_rows:
    st.markdown(
        markdown_table(
            ["Questionnaire", "First score", "Latest score", "Change", "What it means"],
            [[r.questionnaire, r.first, r.latest, r.change, r.meaning] for r in content.score_rows],
        )
    )
if content.item_rows:
    st.markdown(f"#### {content.items_title}")
    st.caption(content.items_note)
    st.markdown(
        markdown_table(
            ["Part", "First", "Latest", "Change"],
            [[r.label, r.first, r.latest, r.change] for r in content.item_rows],
        )
    )

st.markdown("#### How our sessions have felt to you")
st.write(" ".join(content.sessions_felt))

st.markdown("#### What we will talk about next")
if content.next_topics:
    st.markdown("\n".join(f"- ☐ {topic}" for topic in content.next_topics))
else:
    st.write("Topics we choose together:")
st.markdown("<br>" + "<hr style='margin:1.2rem 0'>" * 2, unsafe_allow_html=True)
st.caption(content.closing)
