"""The analysis fits the study's design: each defect a researcher met on a real study,
reproduced on a synthetic study folder as the runner leaves it."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from model_trainer.analysis import analyze
from model_trainer.vocabulary import SeedVerdict
from tests.analysis.analysis_synth import make_study, quiet_console

SGD = {"name": "sgd", "lr": 0.1, "momentum": 0.9}
ADAMW = {"name": "adamw", "lr": 0.001}


def _run(folder, tmp_path, **kwargs):
    return analyze(folder, out=tmp_path / "out", console=quiet_console(), **kwargs)


@pytest.fixture(scope="module")
def dict_study(tmp_path_factory):
    """A grid over whole optimizer mappings x width; adamw is the base recipe's optimizer."""
    space = {"train.optimizer": {"choice": [SGD, ADAMW]}, "model.args.hidden": {"choice": [32, 64]}}
    configs = [{"train.optimizer": o, "model.args.hidden": h} for o in (SGD, ADAMW) for h in (32, 64)]

    def value(params, seed):
        sgd = params["train.optimizer"]["name"] == "sgd"
        noise = 0.002 * ((params["model.args.hidden"] // 32 + 2 * sgd + seed) % 3 - 1)
        return 0.8 + 0.05 * sgd + 0.01 * (params["model.args.hidden"] == 64) + 0.003 * seed + noise

    root = tmp_path_factory.mktemp("dict") / "opt_study"
    return make_study(root, space, "grid", configs, [0, 1, 2], value)


def test_dict_valued_dimension_is_labelled_plotted_and_has_the_right_baseline(dict_study, tmp_path):
    result = _run(dict_study, tmp_path)
    assert not any("could not draw" in w for w in result.warnings)
    rows = result.ablation[result.ablation["attribute"] == "train.optimizer"]
    assert list(rows["value"]) == ["sgd (lr=0.1, momentum=0.9)", "adamw (lr=0.001)"]
    baseline = rows[rows["is_baseline"]]
    assert list(baseline["value"]) == ["adamw (lr=0.001)"]  # the base recipe's optimizer
    sgd = rows[~rows["is_baseline"]].iloc[0]
    assert sgd["diff"] == pytest.approx(0.05, abs=0.003)
    assert sgd["test"] == "paired t" and sgd["conclusion"].startswith("better than baseline")
    # the mapping's parts are not separate, confounded attributes
    assert "train.optimizer.name" not in result.varied and "train.optimizer.lr" not in result.varied
    plot = next(p for p in result.plots if "train.optimizer" in p.name)
    assert plot.stat().st_size > 5000
    csv = pd.read_csv(result.out_dir / "trials.csv")
    assert set(csv["train.optimizer"]) == {"sgd (lr=0.1, momentum=0.9)", "adamw (lr=0.001)"}


@pytest.fixture(scope="module")
def random_one_seed(tmp_path_factory):
    """A random study with one seed over a log-uniform lr, a width choice and a batch size
    whose base value (32) is never drawn: the ablation table does not fit it."""
    rng = np.random.default_rng(7)
    space = {"train.optimizer.lr": {"loguniform": [1e-4, 1e-2]},
             "model.args.hidden": {"choice": [64, 128, 256]},
             "train.batch_size": {"choice": [64, 128]}}
    configs = [{"train.optimizer.lr": float(10 ** rng.uniform(-4, -2)),
                "model.args.hidden": int(rng.choice([64, 128, 256])),
                "train.batch_size": int(rng.choice([64, 128]))} for _ in range(16)]

    def value(params, seed):
        lr = math.log10(params["train.optimizer.lr"])
        return 0.8 + 0.03 * (lr + 3) + 0.04 * (params["model.args.hidden"] == 256) \
            + 0.002 * math.sin(7 * lr)

    root = tmp_path_factory.mktemp("random") / "random_study"
    return make_study(root, space, "random", configs, [0], value,
                      base_changes={"train.batch_size": 32})


def test_random_study_gets_effect_estimates_without_baseline_wording(random_one_seed, tmp_path):
    result = _run(random_one_seed, tmp_path)
    assert result.designs["random_study"][0] == "sampled"
    words = " ".join(result.ablation["conclusion"]) + " ".join(result.effects["conclusion"])
    assert "baseline" not in words and "too few seeds" not in words and "not among" not in words
    assert not result.ablation["is_baseline"].any() and result.ablation["p_value"].isna().all()
    effects = result.effects.set_index("term")
    lr = effects[effects["attribute"] == "train.optimizer.lr"].iloc[0]
    assert lr["estimate"] > 0 and lr["conclusion"].startswith("higher is better")
    # the study recipe's width (128) is the reference level; no row calls it a baseline
    assert effects.loc["256 vs 128", "conclusion"].startswith("better than 128")
    # log-uniform lr: bins on a log scale within the values drawn, the same in table and plot
    bins = result.ablation[result.ablation["attribute"] == "train.optimizer.lr"]["value"]
    lrs = result.trials["train.optimizer.lr"]
    assert bins.iloc[0].startswith(f"[{lrs.min():.3g},") and bins.iloc[-1].endswith(f"{lrs.max():.3g}]")


def test_importance_is_not_shown_for_a_small_study(random_one_seed, tmp_path):
    result = _run(random_one_seed, tmp_path)
    assert result.importances == {}
    assert any("no parameter importance for random_study: 16 configurations" in n for n in result.notes)
    assert not any(p.name.startswith("param_importance") for p in result.plots)
    assert "no parameter importance" in result.report.read_text()


def _wide_study(root, n, value):
    rng = np.random.default_rng(11)
    space = {"model.args.hidden": {"choice": [32, 64, 128, 256]},
             "model.args.dropout": {"uniform": [0.0, 0.5]},
             "train.optimizer.lr": {"loguniform": [1e-4, 1e-2]}}
    configs = [{"model.args.hidden": int(rng.choice([32, 64, 128, 256])),
                "model.args.dropout": float(rng.uniform(0, 0.5)),
                "train.optimizer.lr": float(10 ** rng.uniform(-4, -2))} for _ in range(n)]
    return make_study(root, space, "random", configs, [0, 1], value)


def test_importance_with_enough_configurations_is_optunas_fanova(tmp_path):

    from model_trainer.analysis.importance import configurations

    def value(params, seed):  # width dominates; the seed is noise
        return 0.6 + 0.05 * math.log2(params["model.args.hidden"] / 32) + 0.002 * seed \
            + 0.001 * params["model.args.dropout"]

    study = _wide_study(tmp_path / "wide", 30, value)
    result = _run(study, tmp_path)
    shares = result.importances["wide"]
    assert max(shares, key=shares.get) == "model.args.hidden" and shares["model.args.hidden"] > 0.8
    assert any(p.name.startswith("param_importance") for p in result.plots)
    # the same numbers from Optuna's evaluator called directly on the seed-averaged configurations
    configs = configurations(result.trials[result.trials["state"] == "completed"], WIDE,
                             result.objective.column)
    assert len(configs) == 30
    expected = _direct_shares(configs)
    assert shares == pytest.approx({k: expected[k] for k in shares})  # those beyond noise


WIDE = ["model.args.hidden", "model.args.dropout", "train.optimizer.lr"]


def _direct_shares(configs, target=None) -> dict[str, float]:
    """fANOVA's unnormalised shares from Optuna called directly on the configurations of
    _wide_study (their objective, or `target`: one value per configuration, in order)."""
    import optuna

    dists = {"model.args.hidden": optuna.distributions.CategoricalDistribution([32, 64, 128, 256]),
             "model.args.dropout": optuna.distributions.FloatDistribution(
                 configs["model.args.dropout"].min(), configs["model.args.dropout"].max()),
             "train.optimizer.lr": optuna.distributions.FloatDistribution(
                 configs["train.optimizer.lr"].min(), configs["train.optimizer.lr"].max(), log=True)}
    values = configs.iloc[:, 3].to_numpy(dtype=float) if target is None else target
    direct = optuna.create_study(direction="maximize")
    for row, value in zip(configs.itertuples(index=False), values, strict=True):
        direct.add_trial(optuna.trial.create_trial(
            params={a: (int(v) if a == "model.args.hidden" else float(v))
                    for a, v in zip(WIDE, row[:3], strict=True)},
            distributions=dists, value=float(value)))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # normalize=False is "experimental"
        return optuna.importance.get_param_importances(
            direct, evaluator=optuna.importance.FanovaImportanceEvaluator(
                n_trees=32, max_depth=8, seed=0), normalize=False)


def test_importance_on_pure_noise_is_no_finding(tmp_path):
    """(Two dimensions with no effect at all over 24 configurations were shown as a 0.433 and
    b 0.313, while the effects table rightly said "no clear effect".)"""
    rng = np.random.default_rng(5)
    noise = {}

    def value(params, seed):  # the objective ignores every dimension
        return noise.setdefault((tuple(sorted(params.items())), seed), 0.7 + 0.01 * rng.normal())

    study = _wide_study(tmp_path / "noise", 24, value)
    result = _run(study, tmp_path)
    assert result.importances == {}
    note = next(n for n in result.notes if "no dimension explains the objective beyond noise" in n)
    # the threshold said: the largest share Optuna's fANOVA gives any dimension over 19
    # shuffles of the configurations' objective (numpy's generator, seed 0), computed here
    from model_trainer.analysis.importance import configurations

    configs = configurations(result.trials[result.trials["state"] == "completed"], WIDE,
                             result.objective.column)
    y, rng = configs.iloc[:, 3].to_numpy(dtype=float), np.random.default_rng(0)
    threshold = max(max(_direct_shares(configs, rng.permutation(y)).values())
                    for _ in range(19))
    assert f"every share is at most {threshold:.3g}," in note, (threshold, note)
    assert max(_direct_shares(configs).values()) <= threshold  # hence no finding


def test_a_flat_objective_gets_no_uniform_split(tmp_path):
    study = _wide_study(tmp_path / "flat", 24, lambda params, seed: 0.7)
    result = _run(study, tmp_path)
    assert result.importances == {}
    assert any("found no dimension that explains" in n for n in result.notes)


def test_pruned_trials_are_left_out_and_the_report_says_so(tmp_path):
    space = {"model.args.hidden": {"choice": [64, 128]}}
    configs = [{"model.args.hidden": 64}, {"model.args.hidden": 128}]
    study = make_study(tmp_path / "p", space, "grid", configs, [0, 1, 2, 3],
                       lambda params, seed: 0.7 + 0.001 * params["model.args.hidden"] / 64 + 0.01 * seed,
                       states={(0, 3): "pruned"})
    result = _run(study, tmp_path)
    row = result.ablation[result.ablation["value"] == 64].iloc[0]
    assert row["n"] == 3 and row["n_pairs"] == 3
    assert any("1 pruned trial(s) are left out" in n for n in result.notes)
    assert "1 pruned trial(s) are left out" in result.report.read_text()
    counted = _run(study, tmp_path, include_pruned=True)
    assert counted.ablation[counted.ablation["value"] == 64].iloc[0]["n"] == 4


def test_adaptive_seeds_mapping_in_study_yaml_is_read(tmp_path):
    space = {"model.args.hidden": {"choice": [64, 128]}}
    study = make_study(tmp_path / "a", space, "grid", [{"model.args.hidden": 64}, {"model.args.hidden": 128}],
                       [0, 1, 2], lambda params, seed: 0.7 + 0.01 * seed,
                       seeds_spec={"min": 3, "max": 12, "decide": 0.005})
    result = _run(study, tmp_path)
    assert result.designs["a"][0] == "ablation" and len(result.trials) == 6


def test_an_adaptive_study_is_judged_by_the_runs_sequential_decision(tmp_path):
    """(The run said `undecided after 12 seeds` while the report of the same study said
    `worse than baseline (Holm p=0.031)`: after adaptive stopping a fixed-sample p-value is
    not valid.) The analysis gives the run's decision, from the same function, and says so."""
    from model_trainer.sequential import seed_decision

    shape = np.array([-0.012, 0.004, -0.009, -0.001, -0.010, 0.002, -0.008, -0.006, -0.011,
                      0.001, -0.007, -0.003])
    diffs = list(-0.005 + (shape - shape.mean()) / shape.std(ddof=1) * 0.0075)
    # a paired t-test calls this (p = 0.04); the study's 12 sequential looks do not
    assert stats.ttest_1samp(diffs, 0).pvalue < 0.05
    space = {"model.args.hidden": {"choice": [64, 128]}}
    study = make_study(tmp_path / "a", space, "grid", [{"model.args.hidden": 64},
                                                        {"model.args.hidden": 128}],
                       list(range(12)), lambda params, seed: 0.8 + 0.01 * (seed % 3) + (
                           diffs[seed] if params["model.args.hidden"] == 64 else 0.0),
                       seeds_spec={"min": 3, "max": 12, "decide": 0.001})
    result = _run(study, tmp_path)
    row = result.ablation.set_index("value").loc[64]
    config = {seed: 0.8 + 0.01 * (seed % 3) + diffs[seed] for seed in range(12)}
    baseline = {seed: 0.8 + 0.01 * (seed % 3) for seed in range(12)}
    run = seed_decision(config, baseline, (), 3, 12, 0.001, 0.05)
    assert run.verdict is SeedVerdict.UNDECIDED
    assert row["conclusion"] == "adaptive seeds: " + run.text("max", 0.001)
    assert (row["diff"], row["diff_ci_low"], row["diff_ci_high"]) == pytest.approx(
        (run.interval.estimate, run.interval.low, run.interval.high))
    assert math.isnan(row["p_value"]) and row["test"] == "group sequential"
    assert any("adaptive seeds" in n and "fixed-sample p-values are not valid" in n
               for n in result.notes)
    assert "adaptive seeds: undecided after 12 seeds" in result.report.read_text()


def test_a_mapping_choice_of_booleans_finds_the_recipes_baseline(tmp_path):
    """`model.args: {choice: [{skip: false}, {skip: true}]}` on a recipe with skip: true:
    the baseline is {skip: true}, not the first value standing in for it."""
    space = {"model.args": {"choice": [{"skip": False}, {"skip": True}]}}
    configs = [{"model.args": {"skip": False}}, {"model.args": {"skip": True}}]
    study = make_study(tmp_path / "b", space, "grid", configs, [0, 1, 2],
                       lambda params, seed: 0.8 - 0.1 * (not params["model.args"]["skip"])
                       + 0.01 * seed)
    result = _run(study, tmp_path)
    rows = result.ablation.set_index("value")
    assert bool(rows.loc["skip=true", "is_baseline"]) and not rows.loc["skip=false", "is_baseline"]
    assert rows.loc["skip=true", "note"] == "baseline (study.yaml)"
    assert rows.loc["skip=false", "diff"] == pytest.approx(-0.1)


def test_the_analysis_divides_alpha_over_as_many_comparisons_as_the_run(tmp_path):
    """The adaptive rows' Bonferroni count is the grid's size less the baseline, as the
    run's (recipe/space.py counts the grid independently)."""
    from model_trainer.analysis.adaptive_rows import _comparisons
    from model_trainer.analysis.loaded import Group
    from model_trainer.recipe.space import grid_size, parse_dimension

    space = {"model.args.hidden": {"choice": [32, 64, 128]},
             "model.args.layers": {"int": [1, 7], "step": 3}}
    group = Group(key="g", path=tmp_path, is_study=True, space=space)
    dims = [parse_dimension(k, v)[0] for k, v in space.items()]
    assert _comparisons(group) == grid_size(dims) - 1 == 8
