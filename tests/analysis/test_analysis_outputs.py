"""What `analyze` writes and prints: tables, PNG plots, HTML and Markdown reports."""

from __future__ import annotations

import io
import json
import os
import re
import struct
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from rich.console import Console
from scipy import stats

from model_trainer.analysis import analyze, load
from tests.analysis.analysis_synth import quiet_console

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def html_run(runs_shared, tmp_path_factory):
    out = tmp_path_factory.mktemp("html_out")
    buffer = io.StringIO()
    result = analyze(runs_shared, out=out, console=Console(file=buffer, width=250, color_system=None))
    return result, buffer.getvalue()


@pytest.fixture(scope="module")
def md_run(skip_study_shared):
    return analyze(skip_study_shared, fmt="md", console=quiet_console())


def png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", f"{path.name} is not a PNG"
    assert data[12:16] == b"IHDR"
    return struct.unpack(">II", data[16:24])


def test_objective_comes_from_the_larger_study_and_the_other_is_flagged(html_run):
    result, _ = html_run
    assert (result.objective.metric, result.objective.mode) == ("val_accuracy", "max")
    assert any("val_loss/min" in w for w in result.warnings)


def test_ranking_is_best_first_and_unfinished_trials_last(html_run):
    result, printed = html_run
    ranking = result.ranking
    values = ranking["at_best_val_accuracy"].dropna().tolist()
    assert values == sorted(values, reverse=True)
    assert ranking["rank"].iloc[0] == 1
    assert ranking["at_best_val_accuracy"].iloc[-1] != ranking["at_best_val_accuracy"].iloc[-1]  # NaN last
    assert "Trials ranked by val_accuracy (max)" in printed
    assert ranking["trial_id"].iloc[0] in printed


def test_printed_ablation_answers_the_question(html_run):
    _, printed = html_run
    assert "model.args.skip in skip_ablation" in printed
    assert "True (baseline)" in printed
    assert "worse than baseline (Holm p=" in printed  # removing the skip connection hurts
    assert "d_z=" in printed and "Holm p" in printed  # effect sizes and corrected p-values
    assert "too few trials for a regression" in printed  # the two loose single trials
    assert "1 failed trials" in printed


def test_paired_test_on_the_synthetic_study_matches_a_hand_computation(html_run):
    result, _ = html_run
    trials = pd.read_csv(result.out_dir / "trials.csv")
    done = trials[(trials["state"] == "completed") & (trials["group"] == "skip_ablation")]
    base = done[done["model.args.hidden"] == 128].set_index(["seed", "model.args.skip"])
    wide = done[done["model.args.hidden"] == 256].set_index(["seed", "model.args.skip"])
    common = base.index.intersection(wide.index)
    x = wide.loc[common, "at_best_val_accuracy"].to_numpy()
    y = base.loc[common, "at_best_val_accuracy"].to_numpy()
    table = result.ablation
    row = table[(table["attribute"] == "model.args.hidden") & (table["value"] == 256)].iloc[0]
    # running (256, no skip, seed 2) is left out; the diverged baseline trial still counts
    assert row["test"] == "paired t" and row["n_pairs"] == len(common) == 5
    assert row["diff"] == pytest.approx((x - y).mean())
    assert row["p_value"] == pytest.approx(stats.ttest_rel(x, y).pvalue)
    assert row["mean"] == pytest.approx(done.loc[done["model.args.hidden"] == 256, "at_best_val_accuracy"].mean())


def test_exports(html_run):
    result, _ = html_run
    trials = pd.read_csv(result.out_dir / "trials.csv")
    assert len(trials) == 28 and "at_best_val_accuracy" in trials.columns
    metrics = pd.read_parquet(result.out_dir / "metrics.parquet")
    assert len(metrics) == len(result.metrics)
    assert list(metrics.columns) == ["trial_id", "step", "epoch", "split", "metric", "value", "time",
                                     "checkpoint"]


def test_every_plot_is_a_real_png(html_run):
    result, _ = html_run
    names = {p.name for p in result.plots}
    assert "learning_curves.png" in names
    assert not any(n.startswith("param_importance") for n in names)  # 6 configurations: too few
    for attribute in ("model.args.hidden", "model.args.skip", "train.optimizer.lr"):
        assert any(attribute in n for n in names), attribute
    for path in result.plots:
        width, height = png_size(path)
        assert width >= 300 and height >= 300, path.name


def test_html_report_is_self_contained_and_escaped(html_run):
    result, _ = html_run
    html = result.report.read_text()
    assert result.report.name == "report.html"
    assert html.count("data:image/png;base64,") == len(result.plots)
    assert "<table>" in html and "Trials ranked by val_accuracy" in html
    assert "model.args.skip in skip_ablation" in html
    assert "<pre>" in html and "sampler: grid" in html  # the study's base recipe
    assert "<details><summary><code>h64-skip0-s2-" in html
    assert "Traceback (most recent call last)" in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html and "<script>" not in html
    assert "<td>&lt;i&gt;relu&lt;/i&gt;</td>" in html and "<i>relu" not in html
    assert not re.search(r'src="(?!data:)', html)  # no external files


def test_markdown_report_references_the_pngs(md_run):
    result = md_run
    assert result.out_dir == result.directory / "analysis"
    text = result.report.read_text()
    assert result.report.name == "report.md" and "base64" not in text
    refs = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", text)
    assert sorted(refs) == sorted(p.name for p in result.plots) and refs
    for ref in refs:
        assert (result.report.parent / ref).is_file()
    assert "| value |" in text and "Failed trials (1)" in text


def test_no_plots_still_writes_tables_and_report(skip_study_shared, tmp_path):
    result = analyze(skip_study_shared, plots=False, out=tmp_path, filters=["model.args.skip=true"],
                     console=quiet_console())
    assert result.plots == [] and not list(tmp_path.glob("*.png"))
    assert (tmp_path / "report.html").is_file() and (tmp_path / "trials.csv").is_file()
    assert set(result.trials["model.args.skip"]) == {True}
    assert set(result.metrics["trial_id"]) <= set(result.trials["trial_id"])
    assert set(result.metrics["trial_id"]) - set(result.trials["trial_id"]) == set()
    assert len(result.metrics) < len(load(skip_study_shared).metrics)


def test_a_study_with_nothing_finished_yet(tmp_path):
    from tests.analysis.analysis_synth import base_recipe, status, trial_id, write_trial

    for seed in range(2):
        tid = trial_id("r", seed)
        write_trial(tmp_path / "s" / tid, base_recipe(seed=seed),
                    status(tid, "running", None, None, None), None)
    result = analyze(tmp_path, console=quiet_console(), out=tmp_path / "out")
    assert result.objective.metric == "val_loss" and result.ablation.empty and result.plots == []
    assert (tmp_path / "out" / "report.html").is_file()


def test_import_is_light():
    code = ("import sys, model_trainer.analysis; "
            "print(sorted(m for m in ('matplotlib', 'optuna', 'scipy') if m in sys.modules))")
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
    assert done.stdout.strip() == "[]"


def test_benchmark_script_runs_small(tmp_path, capsys):
    import importlib.util

    spec = importlib.util.spec_from_file_location("bench_analysis", REPO / "benchmarks" / "bench_analysis.py")
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    target = tmp_path / "bench.json"
    bench.main(["--trials", "30", "--rows", "10", "--json", str(target)])
    assert re.match(r"analysis: 30 trials x 10 rows: \d+\.\d s", capsys.readouterr().out)
    assert set(json.loads(target.read_text())) == {"analysis_30_trials_s"}


def test_markdown_cells_escape_html_and_pipes():
    from model_trainer.analysis.report_md import md_table

    text = md_table(pd.DataFrame({"value": ["<b>x</b>|y"]}))
    assert "&lt;b&gt;x&lt;/b&gt;\\|y" in text and "<b>" not in text
