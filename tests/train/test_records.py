"""metrics.jsonl reading, truncation on resume, status helpers."""

from __future__ import annotations

import json

from model_trainer.train.records import MetricsLog, last_row, read_rows, truncate_rows


def test_append_truncate_and_tolerate_a_broken_last_line(tmp_path):
    log = MetricsLog(tmp_path)
    for step in (1, 2, 3):
        log.append("train", {"loss": 1.0 / step}, step, 1)
    log.append("val", {"loss": 0.5, "accuracy": 0.9}, 3, 1)
    log.close()
    with open(tmp_path / "metrics.jsonl", "a") as handle:
        handle.write('{"step": 4, "epo')
    assert len(read_rows(tmp_path / "metrics.jsonl")) == 4
    assert last_row(tmp_path / "metrics.jsonl", "val") == {"val_loss": 0.5, "val_accuracy": 0.9}
    assert truncate_rows(tmp_path / "metrics.jsonl", 2) == 2
    lines = (tmp_path / "metrics.jsonl").read_text().splitlines()
    assert [json.loads(x)["step"] for x in lines] == [1, 2]
