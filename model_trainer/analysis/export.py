"""Write the collected tables for other tools: trials.csv and metrics.parquet."""

from __future__ import annotations

from pathlib import Path

import pandas as pd


def export_tables(trials: pd.DataFrame, metrics: pd.DataFrame, out_dir: Path) -> list[Path]:
    """trials.csv, and the long metrics table as Parquet (pyarrow is a dependency)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    written = [out_dir / "trials.csv", out_dir / "metrics.parquet"]
    trials.to_csv(written[0], index=False)
    metrics.to_parquet(written[1], index=False, engine="pyarrow")
    return written
