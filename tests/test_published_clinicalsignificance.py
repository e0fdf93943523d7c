"""Reproduce the published classifications of the R package clinicalsignificance on its example datasets.

Expected counts come from the package itself (github benediktclaus/clinicalsignificance): the v3 test
snapshots tests/testthat/_snaps/cs_distribution.md and cs_combined.md, the README and vignettes
(distribution-based, combined, statistical approach), the roxygen example output of cs_distribution, and the
v1 snapshot of clinical_significance() (jacobson_1989 and the grouped claus_2020 table). As in the package,
the clinical norms (mean, SD) and the SD for the reliable change index are those of the pre scores of the
clients with both a pre and a post score.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

import pandas as pd
import pytest

from caseload.change import (
    GroupStats,
    category_counts,
    classify_changes,
    ha_group_level,
    hageman_arrindell_cutoffs,
    jacobson_cutoffs,
)
from caseload.measures import Measure


@dataclass
class Paired:
    pre: list[float]
    post: list[float]
    ids: list
    n_original: int
    groups: list | None = None


def paired(shared_data, name, id_col, time_col, outcome, pre, post, group=None) -> Paired:
    df = pd.read_csv(shared_data / "published" / "clinicalsignificance" / f"{name}.csv")
    wide = df.pivot(index=id_col, columns=time_col, values=outcome)
    used = wide[[pre, post]].dropna()
    groups = None
    if group:
        groups = df.drop_duplicates(id_col).set_index(id_col).loc[used.index, group].tolist()
    return Paired(used[pre].tolist(), used[post].tolist(), used.index.tolist(), len(wide), groups)


def the_measure(higher_is_better, reliability, cutoff=None):
    return Measure(
        code="TEST",
        name="published",
        kind="outcome",
        higher_is_better=higher_is_better,
        min=-1000,
        max=1000,
        reliability=reliability,
        cutoff=cutoff,
    )


def sd(xs):
    return pd.Series(xs).std()


def mean(xs):
    return pd.Series(xs).mean()


def jt(data: Paired, reliability, higher_is_better=False, cutoff=None):
    m = the_measure(higher_is_better, reliability, cutoff)
    return classify_changes(m, data.pre, data.post, sample_sd=True)


def ha(data: Paired, reliability, cutoff, higher_is_better=False):
    m = the_measure(higher_is_better, reliability, cutoff)
    return classify_changes(m, data.pre, data.post, method="ha")


def distribution(results):
    """The three categories of cs_distribution (reliable change only)."""
    c = Counter()
    for r in results:
        c[
            "improved"
            if r.reliable_improvement
            else "deteriorated"
            if r.reliable_deterioration
            else "unchanged"
        ] += 1
    return (c["improved"], c["unchanged"], c["deteriorated"])


def combined(results):
    c = category_counts(results)
    return (c["recovered"], c["improved"], c["unchanged"], c["deteriorated"], c["harmed"])


@pytest.fixture(scope="module")
def claus_hamd(shared_data):
    return paired(shared_data, "claus_2020", "id", "time", "hamd", 1, 4, group="treatment")


@pytest.fixture(scope="module")
def claus_bdi(shared_data):
    return paired(shared_data, "claus_2020", "id", "time", "bdi", 1, 4, group="treatment")


@pytest.fixture(scope="module")
def jacobson_gds(shared_data):
    return paired(shared_data, "jacobson_1989", "subject", "time", "gds", "pre", "post")


def test_the_published_files_are_the_ones_the_counts_were_published_for(shared_data):
    import hashlib
    import json

    folder = shared_data / "published" / "clinicalsignificance"
    manifest = json.loads((folder / "manifest.json").read_text())
    for name in ("claus_2020", "jacobson_1989", "antidepressants"):
        digest = hashlib.sha256((folder / f"{name}.csv").read_bytes()).hexdigest()
        assert digest == manifest[name]["csv_sha256"], name


def test_claus_2020_keeps_the_40_of_43_patients_with_both_time_1_and_time_4(claus_hamd, claus_bdi):
    for data in (claus_hamd, claus_bdi):
        assert data.n_original == 43 and len(data.pre) == 40


def test_claus_2020_hamd_reliable_change_jt_is_29_improved_10_unchanged_1_deteriorated(claus_hamd):
    assert distribution(jt(claus_hamd, 0.80)) == (29, 10, 1)


def test_claus_2020_hamd_combined_jt_with_cutoff_c_is_26_3_10_1_0(claus_hamd):
    cut = jacobson_cutoffs(mean(claus_hamd.pre), sd(claus_hamd.pre), 8, 8, higher_is_better=False)["c"]
    assert combined(jt(claus_hamd, 0.80, cutoff=cut)) == (26, 3, 10, 1, 0)


def test_claus_2020_hamd_reliable_change_ha_is_32_improved_7_unchanged_1_deteriorated(claus_hamd):
    cut = hageman_arrindell_cutoffs(mean(claus_hamd.pre), sd(claus_hamd.pre), 8, 8, 0.80, False)["c"]
    assert distribution(ha(claus_hamd, 0.80, cut)) == (32, 7, 1)


def test_claus_2020_hamd_combined_ha_with_true_cutoff_c_is_23_9_7_1_0_and_group_level_90_and_76_percent(
    claus_hamd,
):
    cut = hageman_arrindell_cutoffs(mean(claus_hamd.pre), sd(claus_hamd.pre), 8, 8, 0.80, False)["c"]
    assert combined(ha(claus_hamd, 0.80, cut)) == (23, 9, 7, 1, 0)
    group = GroupStats.from_scores(claus_hamd.pre, claus_hamd.post, 0.80)
    level = ha_group_level(group, cut, higher_is_better=False)
    assert round(level["changed"] * 100, 2) == 90.31
    assert round(level["functional"] * 100, 2) == 75.55


def test_claus_2020_hamd_by_treatment_uses_the_whole_sample_sd_tau_9_9_1_pa_20_1_0(claus_hamd):
    results = jt(claus_hamd, 0.80)
    by_group = {
        g: distribution([r for r, gg in zip(results, claus_hamd.groups, strict=True) if gg == g])
        for g in ("TAU", "PA")
    }
    assert by_group == {"TAU": (9, 9, 1), "PA": (20, 1, 0)}


def test_claus_2020_bdi_reliable_change_is_18_22_0_by_jt_and_25_15_0_by_ha(claus_bdi):
    assert distribution(jt(claus_bdi, 0.801)) == (18, 22, 0)
    cut = jacobson_cutoffs(mean(claus_bdi.pre), sd(claus_bdi.pre), None, None, False)["a"]
    assert distribution(ha(claus_bdi, 0.801, cut)) == (25, 15, 0)


def test_claus_2020_bdi_cutoffs_are_the_published_19_16_and_21_02_and_both_give_10_8_22_0_0(claus_bdi):
    assert round(mean(claus_bdi.pre), 2) == 35.48 and round(sd(claus_bdi.pre), 2) == 8.16
    cuts = jacobson_cutoffs(mean(claus_bdi.pre), sd(claus_bdi.pre), 7.69, 7.52, higher_is_better=False)
    assert round(cuts["a"], 2) == 19.16 and round(cuts["c"], 2) == 21.02
    for cut in (cuts["a"], cuts["c"]):
        assert combined(jt(claus_bdi, 0.801, cutoff=cut)) == (10, 8, 22, 0, 0)


def test_claus_2020_bdi_by_treatment_v1_table_tau_3_2_14_pa_7_6_8(claus_bdi):
    cut = jacobson_cutoffs(mean(claus_bdi.pre), sd(claus_bdi.pre), None, None, False)["a"]
    results = jt(claus_bdi, 0.80, cutoff=cut)
    by_group = {
        g: combined([r for r, gg in zip(results, claus_bdi.groups, strict=True) if gg == g])
        for g in ("TAU", "PA")
    }
    assert by_group == {"TAU": (3, 2, 14, 0, 0), "PA": (7, 6, 8, 0, 0)}


def test_claus_2020_bdi_ha_v1_counted_8_recovered_we_count_7_because_v3_requires_clinical_at_pre(claus_bdi):
    # v1 snapshot: HA, cutoff c_true = 21.57, recovered 8, improved 17, unchanged 15; group 0.841 / 0.374.
    cut = hageman_arrindell_cutoffs(mean(claus_bdi.pre), sd(claus_bdi.pre), 8, 8, 0.80, False)["c"]
    assert round(cut, 2) == 21.57
    results = ha(claus_bdi, 0.80, cut)
    assert combined(results) == (7, 18, 15, 0, 0)
    v1_only = [
        r for r in results if r.reliable_improvement and not r.clinical_first and -r.ha_clinical_z > 1.65
    ]
    assert len(v1_only) == 1 and v1_only[0].category == "improved" and v1_only[0].first < cut
    group = GroupStats.from_scores(claus_bdi.pre, claus_bdi.post, 0.80)
    level = ha_group_level(group, cut, higher_is_better=False)
    assert (round(level["changed"], 3), round(level["functional"], 3)) == (0.841, 0.374)


def test_jacobson_1989_gds_uses_26_of_30_couples_and_jt_gives_10_4_12_0_0(jacobson_gds):
    assert jacobson_gds.n_original == 30 and len(jacobson_gds.pre) == 26
    cut = jacobson_cutoffs(mean(jacobson_gds.pre), sd(jacobson_gds.pre), None, None, False)["a"]
    assert combined(jt(jacobson_gds, 0.80, cutoff=cut)) == (10, 4, 12, 0, 0)


def test_jacobson_1989_gds_ha_v1_counted_7_recovered_we_count_6_for_the_same_reason(jacobson_gds):
    # v1 snapshot: HA individual level 7 / 10 / 9 / 0 / 0; group level changed 0.900, functional 0.448.
    cut = hageman_arrindell_cutoffs(mean(jacobson_gds.pre), sd(jacobson_gds.pre), None, None, 0.80, False)[
        "a"
    ]
    results = ha(jacobson_gds, 0.80, cut)
    assert combined(results) == (6, 11, 9, 0, 0)
    v1_only = [
        r for r in results if r.reliable_improvement and not r.clinical_first and -r.ha_clinical_z > 1.65
    ]
    assert len(v1_only) == 1
    group = GroupStats.from_scores(jacobson_gds.pre, jacobson_gds.post, 0.80)
    level = ha_group_level(group, cut, higher_is_better=False)
    assert (round(level["changed"], 3), round(level["functional"], 3)) == (0.900, 0.448)


def test_antidepressants_reliable_change_jt_is_274_improved_237_unchanged_44_deteriorated(shared_data):
    data = paired(shared_data, "antidepressants", "patient", "measurement", "mom_di", "Before", "After")
    assert data.n_original == 555 and len(data.pre) == 555
    assert distribution(jt(data, 0.80)) == (274, 237, 44)
