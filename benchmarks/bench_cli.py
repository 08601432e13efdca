"""Latency of `mtrain --help` and `mtrain validate` (median of fresh processes).

    python benchmarks/bench_cli.py [--repeat 5] [--json out.json]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.common import emit  # noqa: E402

MTRAIN = ROOT / ".venv" / "bin" / "mtrain"


def latency(args: list[str], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        subprocess.run([str(MTRAIN), *args], cwd=ROOT, check=True, capture_output=True)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--json")
    args = parser.parse_args()
    result = {
        "help_s": round(latency(["--help"], args.repeat), 3),
        "validate_s": round(latency(["validate", "recipes/digits_mlp.yaml"], args.repeat), 3),
    }
    emit(result, args.json)


if __name__ == "__main__":
    main()
