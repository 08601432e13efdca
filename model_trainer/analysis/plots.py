"""PNG plots of a study: objective per attribute value, learning curves, parameter importance.

Importing this module selects matplotlib's Agg backend (no display on a cluster node);
the package itself never imports matplotlib.
"""

from __future__ import annotations

import io
import math
import re
from dataclasses import dataclass
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.ticker import FuncFormatter, MaxNLocator, NullFormatter  # noqa: E402

from model_trainer.analysis.formatting import fmt, short  # noqa: E402
from model_trainer.analysis.loaded import Group  # noqa: E402
from model_trainer.analysis.objective import Objective  # noqa: E402

DPI = 100
MAX_CATEGORIES = 20
MAX_ATTRIBUTE_PLOTS = 24
TOP_CURVES = 8
MAX_GROUP_CURVES = 8
NUMERIC_LEVELS = 8  # numeric attributes with more distinct values get a scatter plot


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
    path.write_bytes(buf.getvalue())
    return Plot(name, title, path, buf.getvalue())


def _is_number(v) -> bool:
    return isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, bool)


def _attribute_plot(frame: pd.DataFrame, group: Group, attribute: str, objective: Objective,
                    out_dir: Path, name: str) -> Plot | None:
    y_all = frame[objective.column].astype(float).to_numpy()
    values = list(frame[attribute])
    keep = [i for i, v in enumerate(values) if v is not None and not (isinstance(v, float) and math.isnan(v))]
    if not keep:
        return None
    values = [values[i] for i in keep]
    y = y_all[keep]
    spec = group.space.get(attribute) if isinstance(group.space.get(attribute), dict) else {}
    numeric = all(_is_number(v) for v in values)
    distinct = sorted(set(values), key=lambda v: (0, float(v), "") if _is_number(v) else (1, 0.0, str(v)))
    fig, ax = plt.subplots(figsize=(8, 5))
    title = f"{objective.metric} by {attribute} ({group.key})"
    ranged = "uniform" in spec or "loguniform" in spec or (len(distinct) > NUMERIC_LEVELS and "choice" not in spec)
    if numeric and ranged:
        x = np.asarray(values, dtype=float)
        # log axis for log-sampled keys; without a search space, for positive values over
        # two or more decades (learning rates, weight decays)
        wide = not spec and x.min() > 0 and x.max() / x.min() >= 100
        log = ("loguniform" in spec or wide) and x.min() > 0
        ax.scatter(x, y, alpha=0.6, s=18, label="trials")
        if len(distinct) >= 2:
            xt = np.log10(x) if log else x
            slope, intercept = np.polyfit(xt, y, 1)
            grid = np.linspace(xt.min(), xt.max(), 50)
            ax.plot(10**grid if log else grid, slope * grid + intercept, color="C3", label="linear trend")
        if len(x) >= 20 and len(distinct) >= 10:  # a straight line hides an optimum in the middle
            xt = np.log10(x) if log else x
            edges = np.unique(np.quantile(xt, np.linspace(0, 1, 11)))
            which = np.clip(np.searchsorted(edges, xt, side="right") - 1, 0, len(edges) - 2)
            centers = [xt[which == b].mean() for b in range(len(edges) - 1) if (which == b).any()]
            means = [y[which == b].mean() for b in range(len(edges) - 1) if (which == b).any()]
            centers = np.asarray(centers)
            ax.plot(10**centers if log else centers, means, color="C1", marker="o", label="mean per bin")
        if len(distinct) >= 2:
            ax.legend(loc="best")
        if log:
            ax.set_xscale("log")
            # plain numbers (0.001) read better than 10^-3 and skip slow mathtext layout
            ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
            ax.xaxis.set_minor_formatter(NullFormatter())
    else:
        shown = distinct[:MAX_CATEGORIES]
        data = [y[[v == level for v in values]] for level in shown]
        positions = np.arange(1, len(shown) + 1)
        ax.boxplot(data, positions=positions, widths=0.5, showfliers=False)
        rng = np.random.default_rng(0)
        alpha = 0.6 if len(y) < 200 else 0.3
        for pos, ys in zip(positions, data, strict=True):
            ax.scatter(pos + rng.uniform(-0.12, 0.12, len(ys)), ys, alpha=alpha, s=14, color="C0", zorder=3)
        base = group.baselines.get(attribute)
        labels = [short(fmt(v), 18) + (" *" if v == base else "") for v in shown]
        ax.set_xticks(positions)
        rotate = len(shown) > 6 or max(len(lbl) for lbl in labels) > 8
        ax.set_xticklabels(labels, rotation=30 if rotate else 0, ha="right" if rotate else "center")
        if len(distinct) > len(shown):
            title += f" (first {len(shown)} of {len(distinct)} values)"
        if base in shown:
            ax.text(0.99, 0.01, "* baseline", transform=ax.transAxes, ha="right", va="bottom", fontsize=8)
    ax.set_title(title)
    ax.set_xlabel(attribute)
    ax.set_ylabel(f"best {objective.metric} ({objective.mode})")
    ax.grid(alpha=0.3)
    return _save(fig, out_dir, name, title)


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
    ax.set_xlabel("importance (Optuna, normalized)")
    ax.grid(axis="x", alpha=0.3)
    return _save(fig, out_dir, name, title)


def make_plots(usable: pd.DataFrame, metrics: pd.DataFrame, ranking: pd.DataFrame,
               trials: pd.DataFrame, groups: dict[str, Group], objective: Objective,
               importances: dict[str, dict[str, float]], out_dir: Path,
               warn: list[str]) -> list[Plot]:
    """Write every plot into `out_dir`; returns them in report order.

    A figure that fails to draw becomes a warning: the tables and report still get written.
    """
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
        name = unique(f"{objective.metric}_by_{attribute}" + (f"_{key}" if several else ""))
        attempt(f"{attribute} ({key})",
                lambda f=frame, g=group, a=attribute, n=name: _attribute_plot(f, g, a, objective, out_dir, n))
    attempt("learning curves", lambda: _learning_curves(metrics, ranking, trials, objective, out_dir))
    for key, values in importances.items():
        name = unique("param_importance" + (f"_{key}" if several else ""))
        attempt(f"importance ({key})", lambda k=key, v=values, n=name: _importance_plot(k, v, out_dir, n))
    return plots
