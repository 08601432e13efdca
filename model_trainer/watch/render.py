"""Draw a `StudyView` or a `TrialProgress` with rich: the live view and `mtrain status`
print the same tables."""

from __future__ import annotations

import datetime as dt
from typing import Any

from rich import box
from rich.console import Group
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from model_trainer import dotted
from model_trainer.metrics_file import metric_name
from model_trainer.vocabulary import RecordState, TrialState
from model_trainer.watch.study_files import FINISHED, WAITING, Record, StudyView
from model_trainer.watch.trial_files import TrialProgress, short_value

RECENT = 5  # finished trials shown under the running ones
MAX_RUNNING = 20  # running trials drawn; the rest are counted
MAX_FAILURES = 10
_STYLE = {RecordState.COMPLETED: "green", RecordState.FAILED: "red",
          RecordState.PRUNED: "yellow", RecordState.INTERRUPTED: "yellow"}


def duration(seconds: float | None) -> str:
    """`4.2s`, `12:03`, `1:02:03`; `-` when unknown."""
    if seconds is None or seconds < 0:
        return "-"
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, secs = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def number(value: Any) -> str:
    return f"{value:.4g}" if isinstance(value, int | float) else "-"


def counts_line(counts: dict[str, int], total: int | None, eta_s: float | None) -> str:
    """`5/12 done: 4 completed, 1 failed; 2 running, 5 pending; ETA 3:20` from the trials'
    `counts` by state. Without a known `total` (the files alone do not say how many trials
    are still to come): `5 done: ...`."""
    done = sum(counts.get(s, 0) for s in FINISHED)
    shown = (RecordState.COMPLETED, RecordState.PRUNED, RecordState.FAILED)
    finished = [f"{counts[s]} {s}" for s in shown if counts.get(s)]
    waiting = {s: counts.get(s, 0) for s in (RecordState.RUNNING, RecordState.INTERRUPTED)}
    # with a known total, the trials the sampler has not handed out yet are pending too
    waiting[RecordState.PENDING] = counts.get(RecordState.PENDING, 0) if total is None else \
        max(total - done - sum(waiting.values()), 0)
    line = f"{done}/{total} done" if total is not None else f"{done} done"
    if finished:
        line += ": " + ", ".join(finished)
    if any(waiting.values()):
        line += "; " + ", ".join(f"{n} {s}" for s, n in waiting.items() if n)
    if eta_s is not None:
        line += f"; ETA {duration(eta_s)}"
    return line


def best_line(view: StudyView) -> str | None:
    best = view.best
    if best is None:
        return None
    values = _values(best)
    return f"best {view.metric}={number(best.value)}: {best.trial_id}" + \
        (f" ({values})" if values else "")


def study_renderable(view: StudyView, *, failures: bool = False, recent: int = RECENT) -> Group:
    """Header, counts, best, running trials, recently finished ones (and every failure).
    The short lines come first: a terminal too short for the tables crops the bottom."""
    header = view.study_id or "trials"
    parts: list[Any] = [Text(f"{header} in {view.folder}", style="bold")]
    if view.driver == "gone" and any(r.state in WAITING for r in view.records):
        parts.append(Text("the study's driver is not running (stopped or killed): rerun the "
                          "same command to continue", style="yellow"))
    parts.append(Text(counts_line(view.counts, view.total, view.eta_s)))
    best = best_line(view)
    if best:
        parts.append(Text(best))
    parts += [Text(f"claim {line}") for line in view.verdicts]
    labels = dotted.short_names(view.space_keys)
    if view.running:
        parts.append(_running_table(view, labels))
    shown = view.recent[:recent]
    if shown:
        parts.append(_finished_table(view, labels, shown, "recently finished"))
    if failures:
        shown_ids = {r.trial_id for r, _ in shown}
        more = [r for r in view.failures if r.trial_id not in shown_ids]
        for record in more[:MAX_FAILURES]:
            parts.append(Text(f"failed {record.trial_id}: {record.error or '(no error recorded)'}",
                              style="red"))
        if len(more) > MAX_FAILURES:
            parts.append(Text(f"... and {len(more) - MAX_FAILURES} more failed trials"))
    return Group(*parts)


def _values(record: Record) -> str:
    values = " ".join(f"{k}={short_value(v)}" for k, v in record.params.items())
    seed = f"seed={record.seed}" if record.seed is not None else ""
    return " ".join(p for p in (values, seed) if p)


def _table(title: str, labels: dict[str, str], *last: str) -> Table:
    table = Table(title=title, title_justify="left", box=box.SIMPLE_HEAD, pad_edge=False,
                  title_style="bold")
    table.add_column("trial", no_wrap=True)
    for label in labels.values():
        table.add_column(escape(label), justify="right")
    table.add_column("seed", justify="right")
    for name in last:
        table.add_column(name, justify="left" if name == "state" else "right")
    table.columns[-1].overflow = "fold"  # an error message wraps instead of being cut
    return table


def _running_table(view: StudyView, labels: dict[str, str]) -> Table:
    table = _table(f"running ({len(view.running)})", labels, "epochs", view.metric, "elapsed")
    for run in view.running[:MAX_RUNNING]:
        progress = run.progress
        total = progress.epochs_total if progress.epochs_total is not None else "?"
        elapsed = duration(run.elapsed_s)
        if progress.process == "gone":
            elapsed += " (process gone)"
        table.add_row(run.record.trial_id, *_param_cells(run.record, labels),
                      _seed(run.record), f"{progress.epochs_done}/{total}",
                      number(progress.latest.get(view.metric)), elapsed)
    if len(view.running) > MAX_RUNNING:
        table.caption = f"... and {len(view.running) - MAX_RUNNING} more running"
    return table


def _finished_table(view: StudyView, labels: dict[str, str],
                    rows: list[tuple[Record, float | None]], title: str) -> Table:
    table = _table(title, labels, "state", "took", view.metric)
    for record, took in rows:
        result = number(record.value) if record.value is not None else record.error or ""
        table.add_row(record.trial_id, *_param_cells(record, labels), _seed(record),
                      Text(record.state, style=_STYLE.get(record.state, "")), duration(took),
                      Text(result, style="red" if record.state == RecordState.FAILED else ""))
    return table


def _param_cells(record: Record, labels: dict[str, str]) -> list[str]:
    return [short_value(record.params[k]) if k in record.params else "-" for k in labels]


def _seed(record: Record) -> str:
    return str(record.seed) if record.seed is not None else "-"


def trial_renderable(progress: TrialProgress, now: float) -> Group:
    """One trial: state, epochs, last metrics, best, checkpoints, error."""
    lines: list[Any] = [Text(f"trial {progress.trial_id} in {progress.folder}", style="bold")]
    state = progress.state or "not started (no status.json yet)"
    if progress.stop_reason:
        state += f" ({progress.stop_reason})"
    if progress.process == "gone":
        state += ": its process is gone (killed?); rerun to continue"
    total = progress.epochs_total if progress.epochs_total is not None else "?"
    info = Table.grid(padding=(0, 2))
    info.add_column(style="dim")
    info.add_column()
    info.add_row("state", Text(state, style=_STYLE.get(progress.state or "", "")))
    info.add_row("progress", f"epoch {progress.epochs_done}/{total}, step {progress.global_step}"
                 f", attempt {progress.attempts}")
    if progress.started_at is not None:
        if progress.duration_s is not None and progress.state != TrialState.RUNNING:
            took = f"took {duration(progress.duration_s)}"
        else:
            took = f"running for {duration(now - progress.started_at.timestamp())}"
        info.add_row("started", f"{_local(progress.started_at)}, {took}")
    if progress.last_write is not None:
        info.add_row("last write", f"{duration(now - progress.last_write)} ago")
    for split in ("train", "val", "test"):
        values = {k: v for k, v in progress.latest.items() if k.startswith(metric_name(split, ""))}
        if values:
            info.add_row(f"last {split}", " ".join(f"{k}={number(v)}" for k, v in values.items()))
    if progress.best:
        best = progress.best
        info.add_row("best", f"{best.get('metric')}={number(best.get('value'))} at epoch "
                     f"{best.get('epoch')}")
    checkpoints = ", ".join(f"{name} ({size_text(size)}, {duration(now - mtime)} ago)"
                            for name, (size, mtime) in progress.checkpoints.items())
    info.add_row("checkpoints", checkpoints or "none yet")
    if progress.error:
        info.add_row("error", Text(progress.error, style="red"))
    lines.append(info)
    return Group(*lines)


def _local(moment: dt.datetime) -> str:
    return moment.astimezone().strftime("%Y-%m-%d %H:%M:%S")


def size_text(size: int) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if size < 1024 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size} B"
