"""Per-value statistics and baseline comparisons against values computed by hand with
numpy/scipy."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from model_trainer.analysis.conclusions import conclude
from model_trainer.analysis.design import ABLATION, SAMPLED
from model_trainer.analysis.effects import COLUMNS as EFFECT_COLUMNS
from model_trainer.analysis.loaded import Group
from model_trainer.analysis.objective import Objective
from model_trainer.analysis.stats import (
    ablation_table,
    attribute_rows,
    compare_to_baseline,
    summarize,
    usable_trials,
)

MAX_ACC = Objective("val_accuracy", "max", "test")
MIN_LOSS = Objective("val_loss", "min", "test")


def test_summarize_mean_std_and_t_interval():
    values = [0.81, 0.84, 0.79, 0.86, 0.80]
    got = summarize(values)
    arr = np.array(values)
    half = stats.t.ppf(0.975, 4) * arr.std(ddof=1) / math.sqrt(5)
    assert got["n"] == 5
    assert got["mean"] == pytest.approx(arr.mean())
    assert got["std"] == pytest.approx(arr.std(ddof=1))
    assert got["ci_low"] == pytest.approx(arr.mean() - half)
    assert got["ci_high"] == pytest.approx(arr.mean() + half)
    # hand check of the t quantile itself: t(0.975, 4) = 2.776
    assert got["ci_high"] - got["mean"] == pytest.approx(2.7764451 * arr.std(ddof=1) / math.sqrt(5))


def test_summarize_ignores_nan_and_handles_one_value():
    got = summarize([0.5, float("nan"), float("inf")])
    assert got["n"] == 1 and got["mean"] == 0.5
    assert math.isnan(got["std"]) and math.isnan(got["ci_low"])
    assert summarize([])["n"] == 0


def _concluded(rows: list[dict], objective: Objective) -> pd.DataFrame:
    table = pd.DataFrame(rows)
    conclude(table, pd.DataFrame(columns=EFFECT_COLUMNS), objective)
    return table


def test_paired_test_matches_ttest_rel_with_its_effect_size():
    base = {(0,): 0.80, (1,): 0.82, (2,): 0.78, (3,): 0.81}
    new = {(0,): 0.85, (1,): 0.86, (2,): 0.80, (3,): 0.87}
    got = compare_to_baseline(new, base)
    x = np.array([new[k] for k in base])
    y = np.array([base[k] for k in base])
    d = x - y
    assert got["test"] == "paired t" and got["n_pairs"] == 4
    assert got["diff"] == pytest.approx(d.mean())
    assert got["p_value"] == pytest.approx(stats.ttest_rel(x, y).pvalue)
    half = stats.t.ppf(0.975, 3) * d.std(ddof=1) / 2
    assert got["diff_ci_low"] == pytest.approx(d.mean() - half)
    assert got["diff_ci_high"] == pytest.approx(d.mean() + half)
    # d_z by hand: differences 0.05, 0.04, 0.02, 0.06 -> mean 0.0425, sd 0.01708
    assert got["effect_kind"] == "d_z"
    assert got["effect_size"] == pytest.approx(0.0425 / 0.0170782513, rel=1e-6)
    table = _concluded([{**got, "is_baseline": False, "note": ""}], MAX_ACC)
    assert table["conclusion"][0].startswith("better than baseline")


def test_lower_is_better_for_a_min_objective():
    base = {(s,): 0.30 + 0.01 * s for s in range(4)}
    new = {(s,): 0.40 + 0.012 * s for s in range(4)}
    got = compare_to_baseline(new, base)
    table = _concluded([{**got, "is_baseline": False}], MIN_LOSS)
    assert got["diff"] > 0 and table["conclusion"][0].startswith("worse than baseline")


def test_welch_when_nothing_pairs_with_hedges_g():
    base = {(0,): 0.80, (1,): 0.82, (2,): 0.78, (3,): 0.81}
    new = {(10,): 0.85, (11,): 0.83, (12,): 0.80}
    got = compare_to_baseline(new, base)
    a, b = np.array(list(new.values())), np.array(list(base.values()))
    assert got["test"] == "Welch t" and got["n_pairs"] == 0
    assert got["diff"] == pytest.approx(a.mean() - b.mean())
    assert got["p_value"] == pytest.approx(stats.ttest_ind(a, b, equal_var=False).pvalue)
    # Welch's CI: scipy's own interval for the same test
    ci = stats.ttest_ind(a, b, equal_var=False).confidence_interval(0.95)
    assert (got["diff_ci_low"], got["diff_ci_high"]) == (pytest.approx(ci.low), pytest.approx(ci.high))
    # Hedges' g by hand: pooled sd over 5 degrees of freedom, then J = 1 - 3 / (4 * 7 - 9)
    pooled = math.sqrt((2 * a.var(ddof=1) + 3 * b.var(ddof=1)) / 5)
    assert got["effect_kind"] == "g"
    assert got["effect_size"] == pytest.approx((1 - 3 / 19) * (a.mean() - b.mean()) / pooled)


def test_too_few_seeds_is_said_plainly():
    two = compare_to_baseline({(0,): 0.9, (1,): 0.91}, {(0,): 0.8, (1,): 0.82})
    assert two["n_pairs"] == 2 and "too few" in two["note"]
    one = compare_to_baseline({(0,): 0.9}, {(0,): 0.8})
    assert one["test"] == "" and math.isnan(one["p_value"])
    table = _concluded([{**one, "is_baseline": False}], MAX_ACC)
    assert table["conclusion"][0].startswith("too few seeds to test")
    assert one["diff"] == pytest.approx(0.1)


def test_too_few_samples_is_the_one_verdict_of_its_row():
    """(A 2-seed grid printed `too few samples to conclude (...); better than baseline
    (Holm p=0.0462)`: two verdicts on one line.)"""
    two = compare_to_baseline({(0,): 0.90, (1,): 0.91}, {(0,): 0.80, (1,): 0.81})
    assert two["diff"] == pytest.approx(0.1) and two["diff_ci_low"] < two["diff_ci_high"]
    assert math.isnan(two["p_value"])  # no test is concluded on, so none enters Holm's family
    table = _concluded([{**two, "is_baseline": False}], MAX_ACC)
    assert table["conclusion"][0] == ("too few samples to conclude (n=2 vs baseline n=2, 2 "
                                      "matched pair(s))")


def _known_table() -> tuple[pd.DataFrame, Group]:
    """skip on/off x 4 seeds, plus a width that does not matter."""
    rows = []
    acc = {True: [0.90, 0.88, 0.91, 0.89], False: [0.80, 0.81, 0.79, 0.83]}
    for skip in (True, False):
        for seed in range(4):
            rows.append({"trial_id": f"t{skip}{seed}", "group": "g", "state": "completed",
                         "seed": seed, "model.args.skip": skip, "at_best_val_accuracy": acc[skip][seed]})
    group = Group(key="g", path=None, is_study=True, varied=["model.args.skip"],
                  baselines={"model.args.skip": True})
    return pd.DataFrame(rows), group


def test_attribute_rows_on_a_known_table():
    frame, group = _known_table()
    table = _concluded(attribute_rows(frame, group, "model.args.skip", MAX_ACC), MAX_ACC)
    rows = {r["value"]: r for r in table.to_dict("records")}
    on, off = np.array([0.90, 0.88, 0.91, 0.89]), np.array([0.80, 0.81, 0.79, 0.83])
    assert rows[True]["is_baseline"] and rows[True]["conclusion"] == "baseline"
    assert rows[False]["n"] == 4
    assert rows[False]["mean"] == pytest.approx(off.mean())
    assert rows[False]["std"] == pytest.approx(off.std(ddof=1))
    assert rows[False]["test"] == "paired t" and rows[False]["n_pairs"] == 4
    assert rows[False]["diff"] == pytest.approx((off - on).mean())
    assert rows[False]["p_value"] == pytest.approx(stats.ttest_rel(off, on).pvalue)
    assert rows[False]["conclusion"].startswith("worse than baseline")


def test_pairs_need_matching_other_attributes():
    frame, group = _known_table()
    frame["model.args.width"] = [1, 1, 2, 2, 2, 2, 1, 1]  # no skip=False trial matches a
    group.varied.append("model.args.width")  # baseline trial on both seed and width
    group.baselines["model.args.width"] = 1
    rows = {r["value"]: r for r in attribute_rows(frame, group, "model.args.skip", MAX_ACC)}
    assert rows[False]["n_pairs"] == 0 and rows[False]["test"] == "Welch t"
    assert rows[True]["n"] == 4  # both widths were run with skip=False too


def test_a_value_run_only_with_other_attributes_changed_is_not_compared():
    frame, group = _known_table()
    frame["model.args.width"] = [1, 1, 1, 1, 2, 2, 2, 2]  # skip and width change together
    group.varied.append("model.args.width")
    group.baselines["model.args.width"] = 1
    rows = {r["value"]: r for r in attribute_rows(frame, group, "model.args.skip", MAX_ACC)}
    assert rows[False]["test"] == "" and math.isnan(rows[False]["diff"])
    assert rows[False]["note"] == "no baseline trial was run with the same other attributes"


def test_a_baseline_that_was_not_run_falls_back_to_the_first_value():
    frame, group = _known_table()
    group.baselines["model.args.skip"] = 32  # the recipe's value, not among the trials
    group.level_order["model.args.skip"] = [False, True]  # as the space lists them
    rows = attribute_rows(frame, group, "model.args.skip", MAX_ACC)
    assert [r["value"] for r in rows] == [False, True]
    assert rows[0]["is_baseline"] and "the recipe's 32 was not run" in rows[0]["note"]
    assert rows[1]["test"] == "paired t"
    assert not any("not among these trials" in r["note"] for r in rows)


def test_ablation_table_skips_unfinished_and_pruned_trials():
    frame, group = _known_table()
    frame.loc[0, "state"] = "running"
    frame.loc[5, "state"] = "pruned"
    usable, basis = usable_trials(frame, MAX_ACC)
    table = ablation_table(usable, {"g": group}, MAX_ACC, {"g": ABLATION})
    assert table.loc[table["value"] == True, "n"].iloc[0] == 3  # noqa: E712
    assert table.loc[table["value"] == False, "n_pairs"].iloc[0] == 2  # noqa: E712
    with_pruned, basis = usable_trials(frame, MAX_ACC, include_pruned=True)
    assert len(with_pruned) == 7 and basis == "completed trials and pruned trials"


def test_continuous_attribute_is_binned_on_a_log_scale_within_its_range():
    rng = np.random.default_rng(0)
    lr = 10 ** rng.uniform(-4, -2, 40)
    acc = 0.8 + 0.02 * np.log10(lr) + rng.normal(0, 0.001, 40)
    frame = pd.DataFrame({"trial_id": [f"t{i}" for i in range(40)], "group": "g", "state": "completed",
                          "seed": 0, "train.optimizer.lr": lr, "at_best_val_accuracy": acc})
    group = Group(key="g", path=None, is_study=True, varied=["train.optimizer.lr"],
                  baselines={"train.optimizer.lr": 1e-3},
                  space={"train.optimizer.lr": {"loguniform": [1e-4, 1e-2]}})
    rows = attribute_rows(frame, group, "train.optimizer.lr", MAX_ACC, SAMPLED)
    assert sum(r["n"] for r in rows) == 40 and not any(r["is_baseline"] for r in rows)
    # five bins of equal width in log10 between the smallest and the largest lr drawn
    edges = np.logspace(np.log10(lr.min()), np.log10(lr.max()), 6)
    labels = [f"[{edges[i]:.3g}, {edges[i + 1]:.3g}{']' if i == 4 else ')'}" for i in range(5)]
    assert [r["value"] for r in rows] == labels
    assert all(float(r["value"][1:].split(",")[0]) > 0 for r in rows)  # no negative first edge
    counts = np.histogram(np.log10(lr), bins=np.log10(edges))[0]
    assert [r["n"] for r in rows] == list(counts)


def test_a_long_choice_list_keeps_one_row_per_value():
    widths = list(range(16, 16 * 11, 16))  # 10 choices
    frame = pd.DataFrame({"trial_id": [f"t{w}" for w in widths], "group": "g", "state": "completed",
                          "seed": 0, "model.args.hidden": widths,
                          "at_best_val_accuracy": [0.5 + w / 1000 for w in widths]})
    group = Group(key="g", path=None, is_study=True, varied=["model.args.hidden"],
                  baselines={"model.args.hidden": 64}, space={"model.args.hidden": {"choice": widths}})
    rows = attribute_rows(frame, group, "model.args.hidden", MAX_ACC)
    assert [r["value"] for r in rows] == widths
    del group.space["model.args.hidden"]  # without the space it reads as a sampled range
    assert len(attribute_rows(frame, group, "model.args.hidden", MAX_ACC, SAMPLED)) == 3


ONE_AT_A_TIME = {  # (hidden, skip): accuracy per seed; each configuration changes one attribute
    (128, True): [0.800, 0.830, 0.790],  # the baseline
    (256, True): [0.815, 0.836, 0.801],  # +0.01 or so
    (128, False): [-1.200, -1.170, -1.210],  # a huge effect of the other attribute
}


def _one_at_a_time(seeds: int, tmp_path, plots: bool = False):
    from tests.analysis.analysis_synth import make_study

    space = {"model.args.hidden": {"choice": [128, 256]}, "model.args.skip": {"choice": [True, False]}}
    configs = [{"model.args.hidden": h, "model.args.skip": s} for h, s in ONE_AT_A_TIME]
    study = make_study(tmp_path / "oaat", space, None, configs, list(range(seeds)),
                       lambda p, seed: ONE_AT_A_TIME[p["model.args.hidden"], p["model.args.skip"]][seed])
    from model_trainer.analysis import analyze
    from tests.analysis.analysis_synth import quiet_console

    result = analyze(study, out=tmp_path / "out", console=quiet_console(), plots=plots)
    assert result.designs["oaat"] == (ABLATION, "each configuration changes one attribute of the baseline")
    return result.ablation.set_index(["attribute", "value"])


def test_one_at_a_time_baseline_is_the_trials_at_the_baseline_in_every_attribute(tmp_path):
    """Two seeds: fewer than 3 pairs, so Welch's test, against the baseline configuration
    alone (not pooled with the trials that changed the other attribute)."""
    rows = _one_at_a_time(2, tmp_path)
    base = np.array(ONE_AT_A_TIME[128, True][:2])
    wide = np.array(ONE_AT_A_TIME[256, True][:2])
    for attribute, value in (("model.args.hidden", 128), ("model.args.skip", True)):
        row = rows.loc[(attribute, value)]
        half = stats.t.ppf(0.975, 1) * base.std(ddof=1) / math.sqrt(2)
        assert row["n"] == 2 and row["mean"] == pytest.approx(base.mean())
        assert (row["ci_low"], row["ci_high"]) == (pytest.approx(base.mean() - half),
                                                   pytest.approx(base.mean() + half))
    row = rows.loc[("model.args.hidden", 256)]
    va, vb = wide.var(ddof=1), base.var(ddof=1)
    se = math.sqrt(va / 2 + vb / 2)
    dof = se**4 / ((va / 2) ** 2 + (vb / 2) ** 2)  # Welch-Satterthwaite, n - 1 = 1 per side
    diff = wide.mean() - base.mean()
    assert row["test"] == "Welch t" and row["diff"] == pytest.approx(diff)  # +0.0105
    assert row["diff_ci_low"] == pytest.approx(diff - stats.t.ppf(0.975, dof) * se)
    assert math.isnan(row["p_value"])  # 2 seeds a side: described, too few to test
    pooled = math.sqrt((va + vb) / 2)
    assert row["effect_size"] == pytest.approx((1 - 3 / 7) * diff / pooled)
    off = rows.loc[("model.args.skip", False)]
    assert off["diff"] == pytest.approx(np.mean(ONE_AT_A_TIME[128, False][:2]) - base.mean())


def test_one_at_a_time_with_three_seeds_pairs_with_the_baseline_configuration(tmp_path):
    rows = _one_at_a_time(3, tmp_path)
    base = np.array(ONE_AT_A_TIME[128, True])
    wide = np.array(ONE_AT_A_TIME[256, True])
    assert rows.loc[("model.args.hidden", 128), "n"] == 3
    assert rows.loc[("model.args.hidden", 128), "mean"] == pytest.approx(base.mean())
    row = rows.loc[("model.args.hidden", 256)]
    assert row["test"] == "paired t" and row["n_pairs"] == 3
    assert row["diff"] == pytest.approx((wide - base).mean())
    assert row["p_value"] == pytest.approx(stats.ttest_rel(wide, base).pvalue)


def test_one_at_a_time_plots_box_the_trials_the_table_counts(tmp_path, monkeypatch):
    from matplotlib.axes import Axes

    boxes = {}
    real = Axes.boxplot

    def boxplot(self, data, *args, **kwargs):
        boxes[len(boxes)] = [sorted(float(v) for v in box) for box in data]
        return real(self, data, *args, **kwargs)

    monkeypatch.setattr(Axes, "boxplot", boxplot)
    _one_at_a_time(3, tmp_path, plots=True)
    base = sorted(ONE_AT_A_TIME[128, True])
    assert sorted(boxes.values()) == sorted([
        [base, sorted(ONE_AT_A_TIME[256, True])],  # hidden: 128 (baseline), 256
        [base, sorted(ONE_AT_A_TIME[128, False])],  # skip: true (baseline), false
    ])


def test_an_int_range_is_levels_up_to_8_values_and_a_line_beyond_as_documented():
    from model_trainer.analysis.binning import LEVELS, LINEAR, scale_of

    assert scale_of([1, 2, 3, 4], {"int": [1, 4]}) == LEVELS
    assert scale_of(list(range(1, 10)), {"int": [1, 9]}) == LINEAR
    assert scale_of([0.1, 0.2], {"uniform": [0.0, 1.0]}) == LINEAR
    docs = (Path(__file__).parents[2] / "docs" / "analysis.md").read_text()
    assert "an `int` range with more than 8\n  distinct values tried" in docs
