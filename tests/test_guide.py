"""The discussion guide: which prompts each alert and pattern brings, in which order, with whose numbers."""

from __future__ import annotations

import re

import pytest
from _details import ORS_ITEMS, alert, alliance, detail, off_track_client, outcome

from caseload.guide import (
    ALERT_RULES,
    OPTIONS,
    PATTERNS,
    SECTIONS,
    GuideSettings,
    client_facts,
    discussion_guide,
    selected,
    triggers_of,
)
from caseload.reports.client_summary import JARGON

PHQ_ITEMS = (
    "interest",
    "mood",
    "sleep",
    "energy",
    "appetite",
    "self_worth",
    "concentration",
    "psychomotor",
    "self_harm_thoughts",
)


def ids(prompts) -> list[str]:
    return [p.id for p in prompts]


def by_id(prompts, pid):
    found = [p for p in prompts if p.id == pid]
    assert found, f"{pid} not in {ids(prompts)}"
    return found[0]


def risk_client(extra_alerts=()) -> dict:
    items = [[2, 2, 2, 2, 1, 2, 2, 1, 0], [2, 2, 2, 2, 1, 2, 2, 1, 2]]
    return detail(
        outcome("PHQ9", [14, 16], status="on_track", items=items, item_codes=PHQ_ITEMS),
        alliance("SRS", [38, 38.5]),
        alerts=[
            alert(
                "risk_item",
                "PHQ9 risk item 'Thoughts of self-harm' scored 2 at session 2: follow up on risk before anything else.",
                measure="PHQ9",
                session=2,
                severity="critical",
                item="self_harm_thoughts",
                score=2,
            ),
            *extra_alerts,
        ],
    )


def assert_client_words_plain(prompts) -> None:
    for p in prompts:
        for word in JARGON:
            assert word.lower() not in p.client.lower(), (
                f"{p.id}: client wording contains {word!r}: {p.client}"
            )


def test_an_endorsed_risk_item_puts_safety_first_before_every_other_prompt(registry):
    off = alert("off_track", "ORS 10 at session 2 is below the range.", session=2, severity="high", p25=18)
    guide = discussion_guide(risk_client([off]), registry)
    assert ids(guide)[:3] == ["risk.data", "risk.ask", "risk.safety_plan"]
    assert all(p.section == "risk" and p.triggers == ("risk_item",) for p in guide[:3])
    assert "scored 2 at session 2" in guide[0].clinician
    assert "session 2" in guide[0].client and "harming yourself" in guide[0].client
    assert "consultation.referral" in ids(guide)
    assert "risk_item" in by_id(guide, "consultation.referral").triggers


def test_off_track_shows_the_clients_own_numbers_and_the_band_they_fell_below(registry):
    guide = discussion_guide(off_track_client(), registry)
    data = by_id(guide, "below_expected.data:ORS")
    assert data.section == "data" and data.triggers == ("off_track",)
    assert data.clinician.startswith("ORS 14 → 16 (+2) over 5 rated sessions")
    assert "Your latest score is 16" in data.client
    assert "three in four people who started at a similar score had reached 21.5 or more" in data.client
    assert "ORS 16 at session 5 is below the range" in data.basis[0]
    # Off track calls for the whole range of options, consultation included.
    for option in ("alliance.goals", "motivation.expectations", "social_support.map", "intensity.change"):
        assert "off_track" in by_id(guide, option).triggers
    assert "off_track" in by_id(guide, "consultation.referral").triggers


def test_at_risk_suggests_the_four_domains_but_not_yet_consultation(registry):
    d = detail(
        outcome("ORS", [18, 20, 21], status="at_risk"),
        alerts=[alert("at_risk", "ORS 21 at session 3 is below the range 75%...", session=3, p25=22.4)],
    )
    guide = discussion_guide(d, registry)
    assert by_id(guide, "below_expected.data:ORS").triggers == ("at_risk",)
    assert "22.4 or more" in by_id(guide, "below_expected.data:ORS").client
    assert "consultation.referral" not in ids(guide)
    assert "intensity.change" not in ids(guide)
    assert {
        "alliance.goals",
        "motivation.expectations",
        "social_support.map",
        "life_events.stressors",
    } <= set(ids(guide))


def test_a_status_from_the_chance_of_a_poor_end_is_explained_to_the_client_without_a_verdict(registry):
    message = (
        "ORS 19 at session 4 (intake 18, +1): 30 of 40 clients ... ended without reliable improvement (75%)"
    )
    d = detail(
        outcome("ORS", [18, 18.5, 19, 19], status="at_risk"),
        alerts=[alert("at_risk", message, session=4, p_poor=0.75, p25=21.0, healthy_intake=False)],
    )
    data = by_id(discussion_guide(d, registry), "below_expected.data:ORS")
    assert "often needed something in the therapy to change" in data.client
    assert "75%" not in data.client and "three in four" not in data.client
    assert data.basis == (message,) or message in data.basis
    assert_client_words_plain([data])


def test_a_healthy_intake_at_risk_asks_whether_the_questionnaire_captures_the_concern(registry):
    d = detail(
        outcome("ORS", [30, 30.5, 30, 30.5], status="at_risk"),
        alerts=[
            alert(
                "at_risk", "ORS 30.5 at session 4 ...", session=4, p_poor=0.93, p25=30.0, healthy_intake=True
            )
        ],
    )
    data = by_id(discussion_guide(d, registry), "below_expected.data:ORS")
    assert "may not be picking up what brought you here" in data.client
    assert "what you would most like to be different" in data.client
    assert "helping and what is not" not in data.client
    assert_client_words_plain([data])


def test_reliable_deterioration_names_the_worsening_and_asks_the_clients_account(registry):
    d = detail(
        outcome("ORS", [24, 21, 18.5], status="off_track", category="deteriorated"),
        alerts=[
            alert("reliable_deterioration", "ORS fell from 24 at intake to 18.5 at session 3.", session=3)
        ],
    )
    guide = discussion_guide(d, registry)
    data = by_id(guide, "deterioration.data:ORS")
    assert "from 24 to 18.5" in data.client and "harder" in data.client
    assert by_id(guide, "deterioration.ask").section == "question"
    assert "reliable_deterioration" in by_id(guide, "consultation.referral").triggers


def test_no_reliable_change_compares_the_movement_with_the_points_needed(registry):
    d = detail(
        outcome("ORS", [14, 15, 15.5, 16]),
        alerts=[
            alert(
                "no_reliable_change",
                "ORS has moved +2 points since intake (14 → 16) by session 4.",
                session=4,
            )
        ],
    )
    guide = discussion_guide(d, registry)
    data = by_id(guide, "no_reliable_change.data:ORS")
    assert "moved 2 points since we started (from 14 to 16" in data.client
    assert "less than the 5 points" in data.client
    assert by_id(guide, "outcome.ask_working").triggers == ("no_reliable_change",)
    assert "intensity.change" in ids(guide)


def test_a_sudden_loss_points_to_what_happened_between_the_two_sessions(registry):
    d = detail(
        outcome("ORS", [20, 24, 26, 17, 18]),
        alerts=[
            alert(
                "sudden_loss", "ORS went from 26 at session 3 to 17 at session 4: a sudden loss.", session=4
            )
        ],
    )
    guide = discussion_guide(d, registry)
    assert (
        "dropped from 26 to 17 between session 3 and session 4" in by_id(guide, "sudden_loss.data:ORS").client
    )
    assert by_id(guide, "sudden_loss.ask").domain == "life_events"
    assert "sudden_loss" in by_id(guide, "life_events.stressors").triggers


def test_alliance_below_cutoff_opens_the_fit_question_and_the_three_alliance_options(registry):
    guide = discussion_guide(off_track_client(), registry)
    data = by_id(guide, "alliance_below_cutoff.data:SRS")
    assert "34.5 out of 40" in data.client
    assert by_id(guide, "alliance.ask_fit:SRS").section == "question"
    for option in ("alliance.goals", "alliance.method", "alliance.relationship"):
        assert "alliance_below_cutoff" in by_id(guide, option).triggers


def test_an_alliance_drop_suggests_repairing_a_rupture(registry):
    d = detail(
        outcome("ORS", [20, 22, 23]),
        alliance("SRS", [38, 38.5, 37]),
        alerts=[
            alert("alliance_drop", "SRS fell 1.5 points (38.5 → 37) at session 3.", measure="SRS", session=3)
        ],
    )
    guide = discussion_guide(d, registry)
    assert "went down from 38.5 to 37" in by_id(guide, "alliance_drop.data:SRS").client
    assert by_id(guide, "alliance.repair").triggers == ("alliance_drop",)


@pytest.mark.parametrize(
    ("low_item", "option", "not_option"),
    [
        (1, "alliance.goals", "alliance.method"),
        (2, "alliance.method", "alliance.relationship"),
        (0, "alliance.relationship", "alliance.goals"),
    ],
)
def test_a_low_alliance_item_points_at_its_own_part_of_the_alliance(registry, low_item, option, not_option):
    latest = [9.5, 9.5, 9.5, 9.5]
    latest[low_item] = 7.5
    d = detail(
        outcome("ORS", [20, 22]),
        alliance("SRS", [38, 36.0], [[9.5, 9.5, 9.5, 9.5], latest]),
        alerts=[
            alert(
                "low_alliance_item",
                "SRS at session 2: one item below 9.",
                measure="SRS",
                session=2,
                severity="low",
            )
        ],
    )
    guide = discussion_guide(d, registry)
    assert "(7.5 out of 10)" in by_id(guide, "low_alliance_item.data:SRS").client
    assert by_id(guide, option).triggers == ("low_alliance_item",)
    assert not_option not in ids(guide)


def test_data_quality_flags_bring_their_own_prompts(registry):
    d = detail(
        outcome("ORS", [38.5, 38, 37.5]),
        alerts=[
            alert(
                "long_gap",
                "49 days passed before session 3 (more than 35).",
                measure=None,
                session=3,
                severity="info",
            ),
            alert(
                "missing_alliance",
                "No SRS rating at the latest session (session 3).",
                measure="SRS",
                session=3,
                severity="info",
            ),
            alert(
                "suspicious_intake",
                "ORS intake 38.5 is near the top of the scale (40).",
                session=1,
                severity="info",
                best=40,
            ),
        ],
    )
    guide = discussion_guide(d, registry)
    assert by_id(guide, "long_gap.ask").triggers == ("long_gap",)
    assert "long_gap" in by_id(guide, "life_events.stressors").triggers
    assert by_id(guide, "alliance.ask_rating").triggers == ("missing_alliance",)
    check = by_id(guide, "suspicious_intake.check:ORS")
    assert "(38.5)" in check.client and "near the top" in check.clinician
    # An intake on the non-clinical side is also the high-intake pattern, named with the alert.
    assert by_id(guide, "high_intake.whose_concern").triggers == ("high_intake", "suspicious_intake")


def test_a_high_intake_without_an_alert_is_still_recognised_as_a_pattern(registry):
    guide = discussion_guide(detail(outcome("ORS", [27.0, 28.5, 29])), registry)
    data = by_id(guide, "high_intake.data:ORS")
    assert data.triggers == ("high_intake",) and data.trigger_kind == "pattern"
    assert "(27) was already above the line where scores usually count as a clinical range" in data.client
    assert "whose concern" in by_id(guide, "high_intake.whose_concern").clinician.lower()
    # Adolescents' cutoff is 28: the same intake is clinical for them.
    teen = discussion_guide(detail(outcome("ORS", [27.0, 28.5, 29], population="adolescent")), registry)
    assert "high_intake.data:ORS" not in ids(teen)


@pytest.mark.parametrize(
    ("ratings", "expected"),
    [
        ([39.0, 40.0, 39.5], True),  # every rating within 1 point of 40, three sessions
        ([39.0, 40.0], False),  # too few sessions to call it a pattern
        ([38.9, 40.0, 40.0], False),  # one rating below the ceiling band
    ],
)
def test_alliance_at_the_ceiling_every_session_invites_small_criticisms(registry, ratings, expected):
    guide = discussion_guide(detail(outcome("ORS", [15, 18, 21]), alliance("SRS", ratings)), registry)
    assert ("alliance_ceiling.data:SRS" in ids(guide)) is expected
    assert ("alliance.invite_criticism" in ids(guide)) is expected
    if expected:
        assert by_id(guide, "alliance.invite_criticism").triggers == ("alliance_ceiling",)


@pytest.mark.parametrize(
    ("ratings", "expected"),
    [
        ([40.0, 39.5, 38.0], True),  # peak 40, fallen 2 points, still above the cutoff 36
        ([40.0, 39.5, 38.1], False),  # fallen 1.9 points: not yet
        ([37.0, 38.0, 35.0], False),  # never high
    ],
)
def test_a_high_alliance_that_falls_is_flagged_before_it_crosses_the_cutoff(registry, ratings, expected):
    guide = discussion_guide(detail(outcome("ORS", [15, 18, 21]), alliance("SRS", ratings)), registry)
    assert ("alliance_high_then_falling.data:SRS" in ids(guide)) is expected
    if expected:
        assert "alliance_high_then_falling" in by_id(guide, "alliance.repair").triggers
        assert "(40 to 38)" in by_id(guide, "alliance_high_then_falling.data:SRS").client


def test_good_progress_consolidates_and_plans_spacing_or_ending(registry):
    d = detail(outcome("ORS", [15, 21, 27.5], status="on_track", category="recovered"))
    guide = discussion_guide(d, registry)
    data = by_id(guide, "good_progress.data:ORS")
    assert "from 15 to 27.5" in data.client and "now above the line" in data.client
    assert by_id(guide, "good_progress.what_helped").section == "question"
    assert by_id(guide, "progress.spacing").triggers == ("good_progress",)
    # Reliable improvement while off track for the session is not 'good progress'.
    off = discussion_guide(
        detail(outcome("ORS", [15, 21, 27.5], status="off_track", category="improved")), registry
    )
    assert "good_progress.data:ORS" not in ids(off)


def test_a_client_with_nothing_to_flag_gets_a_routine_review_prompt(registry):
    guide = discussion_guide(detail(outcome("ORS", [15, 17]), alliance("SRS", [37, 37.5])), registry)
    assert ids(guide) == ["review.chart"]
    assert guide[0].trigger == "review"


def test_guides_are_ordered_risk_data_questions_options_with_unique_stable_ids(registry):
    for d in (off_track_client(), risk_client()):
        guide = discussion_guide(d, registry)
        ranks = [SECTIONS.index(p.section) for p in guide]
        assert ranks == sorted(ranks)
        assert len(set(ids(guide))) == len(guide)
        assert ids(discussion_guide(d, registry)) == ids(guide)
        for p in guide:
            assert re.fullmatch(r"[a-z_]+\.[a-z_]+(:[A-Za-z0-9_]+)?", p.id), p.id
            assert p.triggers and all(t in ALERT_RULES or t in PATTERNS for t in p.triggers)
            assert p.clinician.strip() and p.client.strip()
            if p.section == "option":
                assert p.id in OPTIONS


def test_client_wording_never_uses_clinician_jargon(registry):
    cases = [off_track_client(), risk_client()]
    cases.append(detail(outcome("ORS", [27, 28, 29]), alliance("SRS", [40, 40, 39.5])))
    cases.append(
        detail(outcome("ORS", [15, 21, 27.5], category="recovered"), alliance("SRS", [40, 39.5, 37.5]))
    )
    for d in cases:
        assert_client_words_plain(discussion_guide(d, registry))


def test_measure_limits_outcome_prompts_but_keeps_risk_and_alliance(registry):
    d = off_track_client()
    d["episodes"][0]["measures"].insert(
        0, outcome("PHQ9", [12, 11, 10], status="on_track", item_codes=PHQ_ITEMS)
    )
    guide = discussion_guide(d, registry, measure="PHQ9")
    assert "below_expected.data:ORS" not in ids(guide)
    assert "alliance_below_cutoff.data:SRS" in ids(guide)


def test_a_collateral_raters_scores_do_not_replace_the_clients_own(registry):
    d = detail(outcome("ORS", [14, 16]))
    parent = {**outcome("ORS", [30, 31]), "rater": "parent"}
    d["episodes"][0]["measures"].append(parent)
    facts = client_facts(d, registry)
    assert [r.total for r in facts.outcomes[0].ratings] == [14, 16]


def test_settings_change_what_counts_as_the_ceiling(registry):
    d = detail(outcome("ORS", [15, 18, 21]), alliance("SRS", [38.5, 39, 39]))
    assert "alliance_ceiling.data:SRS" not in ids(discussion_guide(d, registry))
    wide = GuideSettings(ceiling_gap=1.5)
    assert "alliance_ceiling.data:SRS" in ids(discussion_guide(d, registry, settings=wide))


def test_selected_keeps_guide_order_and_ignores_unknown_ids(registry):
    guide = discussion_guide(off_track_client(), registry)
    picked = selected(guide, ["alliance.goals", "nope", "below_expected.data:ORS"])
    assert ids(picked) == ["below_expected.data:ORS", "alliance.goals"]
    assert selected(guide, None) == []


def test_triggers_of_lists_each_rule_once_most_pressing_first(registry):
    guide = discussion_guide(off_track_client(), registry)
    assert triggers_of(guide)[:2] == ["off_track", "no_reliable_change"]
    assert set(triggers_of(guide)) == {
        "off_track",
        "no_reliable_change",
        "alliance_below_cutoff",
        "alliance_drop",
        "low_alliance_item",
    }


def test_the_items_of_the_measure_are_read_by_their_codes(registry):
    facts = client_facts(off_track_client(), registry)
    ors = facts.course("ORS")
    assert ors.ratings[0].items == (3.0, 3.5, 4.0, 3.5)
    assert ORS_ITEMS == registry["ORS"].items
    assert ors.band_at(5).p25 == pytest.approx(14 + 4 * 1.5)


def test_a_client_without_ratings_gets_no_guide(registry):
    assert discussion_guide(None, registry) == []
    assert discussion_guide({"client_id": "X", "episodes": []}, registry) == []
