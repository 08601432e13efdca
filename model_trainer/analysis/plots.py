"""PNG plots of a study: objective per attribute value, learning curves, parameter importance.

Importing this module selects matplotlib's Agg backend (no display on a cluster node);
the package itself never imports matplotlib.
"""

from __future__ import annotations

import io
import re
from dataclasses import dataclass
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.ticker import FuncFormatter, MaxNLocator, NullFormatter  # noqa: E402

from model_trainer.analysis import binning  # noqa: E402
from model_trainer.analysis.design import ABLATION  # noqa: E402
from model_trainer.analysis.formatting import fmt, short  # noqa: E402
from model_trainer.analysis.loaded import Group  # noqa: E402
from model_trainer.analysis.objective import Objective  # noqa: E402
from model_trainer.analysis.outputs import write_output  # noqa: E402
from model_trainer.analysis.stats import LevelView  # noqa: E402

DPI = 100
MAX_CATEGORIES = 20
MAX_ATTRIBUTE_PLOTS = 24
TOP_CURVES = 8
MAX_GROUP_CURVES = 8


@dataclass
class Plot:
    """One written figure: its file, a title for the report, and the PNG bytes to embed."""

    name: str
    title: str
    path: Path
    png: bytes


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("_")[:80] or "plot"


def _save(fig, out_dir: Path, name: str, title: str) -> Plot:
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=DPI)
    plt.close(fig)
    path = out_dir / f"{name}.png"
    write_output(path, buf.getvalue())
    return Plot(name, title, path, buf.getvalue())


def _attribute_plot(frame: pd.DataFrame, group: Group, attribute: str, objective: Objective,
                    design: str, out_dir: Path, name: str) -> Plot | None:
    data = frame[frame[attribute].notna()]
    if data.empty:
        return None
    values = list(data[attribute])
    y = data[objective.column].astype(float).to_numpy()
    scale = binning.scale_of(values, group.space.get(attribute))
    fig, ax = plt.subplots(figsize=(8, 5))
    title = f"{objective.metric} by {attribute} ({group.key})"
    if scale != binning.LEVELS:
        _range_plot(ax, np.asarray(values, dtype=float), y, scale)
    else:
        title += _levels_plot(ax, data, y, group, attribute, design)
    ax.set_title(title)
    ax.set_xlabel(attribute)
    ax.set_ylabel(f"{objective.metric} at best epoch ({objective.mode})")
    ax.grid(alpha=0.3)
    return _save(fig, out_dir, name, title)


def _range_plot(ax, x: np.ndarray, y: np.ndarray, scale: str) -> None:
    """Trials, a straight-line trend and the mean per bin (the tables' bins) on the
    dimension's scale."""
    log = scale == binning.LOG
    ax.scatter(x, y, alpha=0.6, s=18, label="trials")
    t = binning.transform(x, scale)
    if np.ptp(t) > 0:
        slope, intercept = np.polyfit(t, y, 1)
        grid = np.linspace(t.min(), t.max(), 50)
        ax.plot(10**grid if log else grid, slope * grid + intercept, color="C3", label="linear trend")
        edges = binning.bin_edges(x, scale)
        which = binning.assign_bins(x, edges)
        used = [b for b in range(len(edges) - 1) if (which == b).any()]
        if len(used) >= 2:  # a straight line hides an optimum in the middle
            centers = [binning.transform(x[which == b], scale).mean() for b in used]
            means = [y[which == b].mean() for b in used]
            centers = 10 ** np.asarray(centers) if log else np.asarray(centers)
            ax.plot(centers, means, color="C1", marker="o", label="mean per bin")
            for edge in edges[1:-1]:
                ax.axvline(edge, color="0.85", lw=0.8, zorder=0)
        ax.legend(loc="best")
    if log:
        ax.set_xscale("log")
        # plain numbers (0.001) read better than 10^-3 and skip slow mathtext layout
        ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
        ax.xaxis.set_minor_formatter(NullFormatter())


def _levels_plot(ax, frame: pd.DataFrame, y: np.ndarray, group: Group, attribute: str,
                 design: str) -> str:
    """A box and the trials per value (those the tables count); the baseline starred in
    an ablation. Returns a title suffix when values were left out."""
    view = LevelView.of(frame, group, attribute, design)
    shown = view.levels[:MAX_CATEGORIES]
    counted = view.counted()
    data = [y[view.at(level) & counted] for level in shown]
    positions = np.arange(1, len(shown) + 1)
    ax.boxplot(data, positions=positions, widths=0.5, showfliers=False)
    rng = np.random.default_rng(0)
    alpha = 0.6 if len(y) < 200 else 0.3
    for pos, ys in zip(positions, data, strict=True):
        ax.scatter(pos + rng.uniform(-0.12, 0.12, len(ys)), ys, alpha=alpha, s=14, color="C0", zorder=3)
    base = view.base
    labels = [short(str(fmt(v)), 28) + (" *" if base is not None and v == base else "") for v in shown]
    ax.set_xticks(positions)
    rotate = len(shown) > 6 or max(len(lbl) for lbl in labels) > 8
    ax.set_xticklabels(labels, rotation=30 if rotate else 0, ha="right" if rotate else "center")
    if base is not None:
        ax.text(0.99, 0.01, "* baseline", transform=ax.transAxes, ha="right", va="bottom", fontsize=8)
    return f" (first {len(shown)} of {len(view.levels)} values)" if len(view.levels) > len(shown) else ""


def _curves(metrics: pd.DataFrame, objective: Objective) -> pd.DataFrame:
    """The objective per (trial, x) with x = epoch when logged, else step; last value wins."""
    rows = metrics[metrics["metric"] == objective.metric]
    if rows.empty:
        return rows
    x = rows["epoch"] if rows["epoch"].notna().any() else rows["step"]
    frame = pd.DataFrame({"trial_id": rows["trial_id"].astype(str).to_numpy(),
                          "x": x.astype("float64").to_numpy(), "value": rows["value"].to_numpy()})
    frame = frame.dropna(subset=["x"])
    return frame.groupby(["trial_id", "x"], sort=True).last().reset_index()


def _learning_curves(metrics: pd.DataFrame, ranking: pd.DataFrame, trials: pd.DataFrame,
                     objective: Objective, out_dir: Path) -> Plot | None:
    curves = _curves(metrics, objective)
    if curves.empty:
        return None
    xlabel = "epoch" if metrics["epoch"].notna().any() else "step"
    ranked = ranking.dropna(subset=["rank"])["trial_id"].astype(str).tolist()
    present = set(curves["trial_id"].unique())
    top = [t for t in ranked if t in present][:TOP_CURVES]
    fig, (left, right) = plt.subplots(1, 2, figsize=(13, 5))
    for tid in top:
        part = curves[curves["trial_id"] == tid]
        left.plot(part["x"], part["value"].replace([np.inf, -np.inf], np.nan), marker=".", label=short(tid, 28))
    left.set_title(f"{objective.metric}: top {len(top)} trials")
    if top:
        left.legend(fontsize=7, loc="best")
    group_of = dict(zip(trials["trial_id"].astype(str), trials["group"], strict=True))
    curves["group"] = curves["trial_id"].map(group_of)
    finite = curves[np.isfinite(curves["value"])]
    stats = finite.groupby(["group", "x"])["value"].agg(["mean", "std", "count"]).reset_index()
    with_curves = set(stats["group"].unique())
    groups = [g for g in dict.fromkeys(trials["group"]) if g in with_curves][:MAX_GROUP_CURVES]
    for i, group in enumerate(groups):
        part = stats[stats["group"] == group]
        color = f"C{i % 10}"
        right.plot(part["x"], part["mean"], color=color, label=f"{short(str(group), 28)}")
        spread = part["std"].fillna(0.0)
        right.fill_between(part["x"], part["mean"] - spread, part["mean"] + spread, color=color, alpha=0.15)
    right.set_title(f"{objective.metric}: mean ± std per group")
    if groups:
        right.legend(fontsize=7, loc="best")
    for ax in (left, right):
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_xlabel(xlabel)
        ax.set_ylabel(objective.metric)
        ax.grid(alpha=0.3)
    return _save(fig, out_dir, "learning_curves", f"Learning curves of {objective.metric}")


def _importance_plot(group: str, values: dict[str, float], out_dir: Path, name: str) -> Plot:
    names = list(values)[::-1]
    fig, ax = plt.subplots(figsize=(8, max(3.0, 0.5 * len(names) + 1.5)))
    ax.barh([short(n, 40) for n in names], [values[n] for n in names], color="C2")
    title = f"Parameter importance ({group})"
    ax.set_title(title)
    ax.set_xlabel("share of the objective's variance (Optuna fANOVA, seeds averaged)")
    ax.grid(axis="x", alpha=0.3)
    return _save(fig, out_dir, name, title)


def make_plots(usable: pd.DataFrame, result, warn: list[str]) -> list[Plot]:
    """Write every plot of an AnalysisResult into its `out_dir`; returns them in report order.

    A figure that fails to draw becomes a warning: the tables and report still get written.
    """
    out_dir, objective, groups = result.out_dir, result.objective, result.groups
    out_dir.mkdir(parents=True, exist_ok=True)
    plots: list[Plot] = []
    used: set[str] = set()
    several = len(groups) > 1

    def unique(name: str) -> str:
        base, n = _slug(name), 1
        name = base
        while name in used:
            n += 1
            name = f"{base}_{n}"
        used.add(name)
        return name

    def attempt(label: str, draw) -> None:
        try:
            plot = draw()
        except Exception as exc:  # noqa: BLE001 - one bad figure must not cost the report
            plt.close("all")
            warn.append(f"could not draw {label}: {type(exc).__name__}: {exc}")
            return
        if plot is not None:
            plots.append(plot)

    wanted = [(key, group, attribute) for key, group in groups.items() for attribute in group.varied]
    if len(wanted) > MAX_ATTRIBUTE_PLOTS:
        warn.append(f"plotted the first {MAX_ATTRIBUTE_PLOTS} of {len(wanted)} varied attributes")
    for key, group, attribute in wanted[:MAX_ATTRIBUTE_PLOTS]:
        frame = usable[usable["group"] == key]
        if frame.empty or attribute not in frame.columns:
            continue
        design = result.designs.get(key, (ABLATION, ""))[0]
        name = unique(f"{objective.metric}_by_{attribute}" + (f"_{key}" if several else ""))
        attempt(f"{attribute} ({key})", lambda f=frame, g=group, a=attribute, d=design, n=name:
                _attribute_plot(f, g, a, objective, d, out_dir, n))
    attempt("learning curves", lambda: _learning_curves(result.metrics, result.ranking,
                                                        result.trials, objective, out_dir))
    for key, values in result.importances.items():
        name = unique("param_importance" + (f"_{key}" if several else ""))
        attempt(f"importance ({key})", lambda k=key, v=values, n=name: _importance_plot(k, v, out_dir, n))
    return plots
