"""Write the collected tables for other tools: trials.csv and metrics.parquet (or .csv)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pandas as pd


def export_tables(trials: pd.DataFrame, metrics: pd.DataFrame, out_dir: Path) -> list[Path]:
    """trials.csv, plus the long metrics table as Parquet when pyarrow is installed, else CSV."""
    out_dir.mkdir(parents=True, exist_ok=True)
    written = [out_dir / "trials.csv"]
    trials.to_csv(written[0], index=False)
    if importlib.util.find_spec("pyarrow") is not None:
        path = out_dir / "metrics.parquet"
        metrics.to_parquet(path, index=False, engine="pyarrow")
    else:
        path = out_dir / "metrics.csv"
        metrics.to_csv(path, index=False)
    written.append(path)
    return written
