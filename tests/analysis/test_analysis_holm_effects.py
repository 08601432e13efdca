"""Holm's correction against a hand computation, and the sampled-design effect estimates
against statsmodels' ordinary least squares on the same design."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
from statsmodels.stats.multitest import multipletests

from model_trainer.analysis.conclusions import conclude, holm
from model_trainer.analysis.effects import effect_rows
from model_trainer.analysis.loaded import Group
from model_trainer.analysis.objective import Objective
from model_trainer.analysis.stats import COLUMNS

MAX_ACC = Objective("val_accuracy", "max", "test")


def test_holm_by_hand():
    # sorted: 0.01 (x4 = 0.04), 0.02 (x3 = 0.06), 0.03 (x2 = 0.06), 0.04 (x1 = 0.04 -> 0.06,
    # adjusted values never decrease along the order); NaN is no test and is not counted
    got = holm([0.03, float("nan"), 0.01, 0.04, 0.02])
    assert np.isnan(got[1])
    assert got[[2, 4, 0, 3]] == pytest.approx([0.04, 0.06, 0.06, 0.06])
    assert holm([0.5, 0.6]) == pytest.approx([1.0, 1.0])  # capped at 1


def test_holm_matches_statsmodels():
    p = np.random.default_rng(3).uniform(0, 0.2, 17)
    assert holm(p) == pytest.approx(multipletests(p, method="holm")[1])


def test_conclusions_read_the_adjusted_p():
    # raw p 0.03 would be "worse" alone; with two other tests Holm makes it 0.06
    rows = [{**dict.fromkeys(COLUMNS, np.nan), "group": "g", "attribute": "a", "value": v,
             "is_baseline": False, "test": "paired t", "note": "", "diff": -0.1, "p_value": p}
            for v, p in (("x", 0.03), ("y", 0.04), ("z", 0.5))]
    ablation = pd.DataFrame(rows, columns=COLUMNS)
    tests = conclude(ablation, pd.DataFrame(columns=["p_value", "p_holm", "conclusion"]), MAX_ACC)
    assert tests == 3
    assert list(ablation["p_holm"]) == pytest.approx([0.09, 0.09, 0.5])
    assert all(c.startswith("no clear difference (Holm p=") for c in ablation["conclusion"])


def _random_study(n: int = 36, seed: int = 0) -> tuple[pd.DataFrame, Group]:
    """A random study: lr log-uniform, width a choice, dropout uniform, 3 seeds."""
    rng = np.random.default_rng(seed)
    lr = 10 ** rng.uniform(-4, -2, n)
    width = rng.choice(["64", "128", "256"], n)
    dropout = rng.uniform(0, 0.5, n)
    seeds = np.arange(n) % 3
    acc = (0.8 - 0.03 * (np.log10(lr) + 3) ** 2 + 0.02 * (width == "256") - 0.04 * dropout
           + np.array([0.0, 0.01, -0.01])[seeds] + rng.normal(0, 0.005, n))
    frame = pd.DataFrame({"trial_id": [f"t{i}" for i in range(n)], "group": "g", "state": "completed",
                          "seed": seeds, "train.optimizer.lr": lr, "model.args.width": width,
                          "model.args.dropout": dropout, "at_best_val_accuracy": acc})
    space = {"train.optimizer.lr": {"loguniform": [1e-4, 1e-2]},
             "model.args.width": {"choice": ["64", "128", "256"]},
             "model.args.dropout": {"uniform": [0.0, 0.5]}}
    group = Group(key="g", path=None, is_study=True, varied=list(space), space=space,
                  sampler="random", baselines={"model.args.width": "128"},
                  level_order={"model.args.width": ["64", "128", "256"]})
    return frame, group


def test_effects_match_statsmodels_ols():
    frame, group = _random_study()
    rows, fit = effect_rows(frame, group, MAX_ACC)
    # the same design by hand: log10(lr), dropout, width dummies against 128, seed dummies
    log_lr = np.log10(frame["train.optimizer.lr"])
    X = pd.DataFrame({"log_lr": log_lr, "dropout": frame["model.args.dropout"],
                      "w64": (frame["model.args.width"] == "64") * 1.0,
                      "w256": (frame["model.args.width"] == "256") * 1.0,
                      "s1": (frame["seed"] == 1) * 1.0, "s2": (frame["seed"] == 2) * 1.0})
    model = sm.OLS(frame["at_best_val_accuracy"], sm.add_constant(X)).fit()
    ci = model.conf_int(0.05)
    by_term = {(r["attribute"], r["term"]): r for r in rows}
    lr_span = log_lr.max() - log_lr.min()
    drop_span = frame["model.args.dropout"].max() - frame["model.args.dropout"].min()
    checks = [
        (("train.optimizer.lr", next(t for a, t in by_term if a == "train.optimizer.lr")), "log_lr", lr_span),
        (("model.args.dropout", next(t for a, t in by_term if a == "model.args.dropout")), "dropout", drop_span),
        (("model.args.width", "64 vs 128"), "w64", 1.0),
        (("model.args.width", "256 vs 128"), "w256", 1.0),
    ]
    sigma = np.sqrt(model.scale)
    for key, name, span in checks:
        row = by_term[key]
        assert row["estimate"] == pytest.approx(model.params[name] * span, rel=1e-9)
        assert row["ci_low"] == pytest.approx(ci.loc[name, 0] * span, rel=1e-9)
        assert row["ci_high"] == pytest.approx(ci.loc[name, 1] * span, rel=1e-9)
        assert row["p_value"] == pytest.approx(model.pvalues[name], rel=1e-6)
        assert row["std_effect"] == pytest.approx(model.params[name] * span / sigma, rel=1e-9)
    assert "+ seed" in fit and f"{int(model.df_resid)} residual degrees of freedom" in fit
    assert by_term[("model.args.width", "256 vs 128")]["p_value"] < 0.001


def test_spearman_is_shown_for_numeric_dimensions_only():
    from scipy import stats

    frame, group = _random_study()
    rows, _ = effect_rows(frame, group, MAX_ACC)
    lr_row = next(r for r in rows if r["attribute"] == "train.optimizer.lr")
    expected = stats.spearmanr(frame["train.optimizer.lr"], frame["at_best_val_accuracy"]).statistic
    assert lr_row["rho"] == pytest.approx(expected)
    assert all(np.isnan(r["rho"]) for r in rows if r["attribute"] == "model.args.width")


def test_dimensions_that_always_change_together_are_not_separated():
    frame, group = _random_study()
    frame["model.args.depth"] = frame["model.args.width"].map({"64": 2, "128": 4, "256": 8})
    group.varied.append("model.args.depth")
    group.space["model.args.depth"] = {"choice": [2, 4, 8]}
    group.level_order["model.args.depth"] = [2, 4, 8]
    rows, _ = effect_rows(frame, group, MAX_ACC)
    depth = [r for r in rows if r["attribute"] == "model.args.depth"]
    assert depth and all("cannot be separated" in r["note"] and np.isnan(r["p_value"]) for r in depth)


def test_too_few_trials_for_a_regression_is_said():
    frame, group = _random_study(n=4)
    rows, fit = effect_rows(frame, group, MAX_ACC)
    assert all(np.isnan(r["p_value"]) for r in rows)
    assert fit.startswith("too few trials for a regression")
