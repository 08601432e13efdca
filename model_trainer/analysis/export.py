"""Write the collected tables for other tools: trials.csv and metrics.parquet."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from model_trainer.analysis.outputs import write_output

ALWAYS = ("trial_id", "group", "state")  # kept even when empty: they say what a row is


def drop_empty_columns(frame: pd.DataFrame, keep: list[str] | tuple[str, ...] = ()) -> pd.DataFrame:
    """`frame` without the columns that hold no value in any row (a metric nobody logged a
    finite value of, an error column when nothing failed), except those in `keep`."""
    wanted = set(ALWAYS) | set(keep)
    empty = [c for c in frame.columns if c not in wanted and frame[c].isna().all()]
    return frame.drop(columns=empty)


def export_tables(trials: pd.DataFrame, metrics: pd.DataFrame, out_dir: Path,
                  keep: list[str] | tuple[str, ...] = ()) -> list[Path]:
    """trials.csv without empty columns (but `keep`), and the long metrics table as Parquet
    (pyarrow is a dependency)."""
    import io

    written = [out_dir / "trials.csv", out_dir / "metrics.parquet"]
    write_output(written[0], drop_empty_columns(trials, keep).to_csv(index=False).encode())
    parquet = io.BytesIO()
    metrics.to_parquet(parquet, index=False, engine="pyarrow")
    write_output(written[1], parquet.getvalue())
    return written
