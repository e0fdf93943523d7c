"""The measure registry: built-in values, boundaries and user overrides."""

import math

import pytest

from caseload.measures import Z_CRIT, MeasureError, load_measures, normalise_measure_name


def test_builtin_registry_has_the_core_measures_with_sources(registry):
    for code in ("ORS", "CORS", "SRS", "PHQ9", "GAD7", "CORE10", "OQ45"):
        m = registry[code]
        assert m.sources.get("cutoff"), f"{code} cutoff has no source"
    assert registry["SRS"].kind == "alliance"
    assert registry["ORS"].higher_is_better and not registry["PHQ9"].higher_is_better


@pytest.mark.parametrize(
    ("code", "score", "clinical"),
    [
        ("PHQ9", 10, True),  # "caseness at >= 10"
        ("PHQ9", 9, False),
        ("GAD7", 8, True),
        ("GAD7", 7, False),
        ("CORE10", 11, True),
        ("CORE10", 10, False),
        ("OQ45", 64, True),
        ("OQ45", 63, False),
        ("ORS", 24.9, True),
        ("ORS", 25.0, False),  # exactly at the cutoff is not clinical
        ("SRS", 35.9, True),
        ("SRS", 36.0, False),
    ],
)
def test_cutoffs_classify_the_boundary(registry, code, score, clinical):
    assert registry[code].is_clinical(score) is clinical


def test_age_group_cutoffs_for_ors(registry):
    ors = registry["ORS"]
    assert ors.cutoff_for("adult") == 25
    assert ors.cutoff_for("adolescent") == 28
    assert ors.cutoff_for("child") == 32
    assert ors.is_clinical(27.9, "adolescent") and not ors.is_clinical(28, "adolescent")
    assert ors.cutoff_for(None) == 25


def test_user_toml_adds_a_measure_and_derives_reliable_change(tmp_path):
    f = tmp_path / "extra.toml"
    f.write_text(
        """
[measures.HAMD]
name = "Hamilton Depression Rating Scale"
kind = "outcome"
higher_is_better = false
min = 0
max = 52
cutoff = 19.9
reliability = 0.80
sd = 7.5
"""
    )
    reg = load_measures(f)
    hamd = reg["HAMD"]
    threshold, strict = hamd.reliable_change_threshold()
    assert strict
    assert threshold == pytest.approx(Z_CRIT * 7.5 * math.sqrt(2) * math.sqrt(0.2))
    assert hamd.is_clinical(20) and not hamd.is_clinical(19.9)
    assert hamd.origin == "extra.toml"
    assert "ORS" in reg


def test_user_toml_overrides_single_keys_and_keeps_the_rest(tmp_path):
    f = tmp_path / "site.toml"
    f.write_text(
        '[measures.GAD7]\ncutoff = 9.5\nreliable_change = 6\n[measures.GAD7.sources]\ncutoff = "US screening cutoff 10"\n'
    )
    gad = load_measures(f)["GAD7"]
    assert gad.cutoff == 9.5 and gad.reliable_change_threshold() == (6.0, False)
    assert gad.sources["cutoff"] == "US screening cutoff 10"
    assert gad.sources["reliable_change"].startswith("4 points")  # untouched source kept
    assert gad.n_items == 7


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "[measures.X]\nname='x'\nkind='mood'\nhigher_is_better=true\nmin=0\nmax=10\n",
            "kind must be one of",
        ),
        (
            "[measures.X]\nname='x'\nkind='outcome'\nhigher_is_better=true\nmin=0\nmax=10\ncutoff=11\n",
            "outside",
        ),
        ("[measures.X]\nname='x'\nkind='outcome'\n", "missing"),
        ("[measures.X]\nname='x'\ncolour='red'\n", "unknown key"),
        ("not toml [", "not valid TOML"),
    ],
)
def test_bad_measure_files_say_what_is_wrong(tmp_path, text, message):
    f = tmp_path / "bad.toml"
    f.write_text(text)
    with pytest.raises(MeasureError, match=message):
        load_measures(f)


@pytest.mark.parametrize(
    ("raw", "code"),
    [("PHQ-9", "PHQ9"), ("phq9", "PHQ9"), (" ors ", "ORS"), ("CORE 10", "CORE10"), ("xyz", None)],
)
def test_measure_spellings_in_exports_are_recognised(registry, raw, code):
    assert normalise_measure_name(raw, registry) == code
