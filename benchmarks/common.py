"""What every benchmark script does with its figures: print them, and save them as JSON."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


def emit(result: dict[str, Any], json_path: str | None) -> None:
    for key, value in result.items():
        print(f"{key}: {value}")
    if json_path:
        Path(json_path).write_text(json.dumps(result, indent=2) + "\n")
