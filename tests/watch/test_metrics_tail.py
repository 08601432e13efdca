"""MetricsTail follows a metrics.jsonl being written, reading only what was appended."""

from __future__ import annotations

import json

from model_trainer.metrics_file import MetricsTail, MetricsWriter, truncate_rows


def test_only_new_rows_are_read_and_a_partial_line_waits_for_its_end(tmp_path):
    path = tmp_path / "metrics.jsonl"
    tail = MetricsTail(path)
    tail.update()  # no file yet: nothing, no error
    assert tail.latest == {}
    writer = MetricsWriter(path)
    writer.append("train", {"loss": 2.0}, 10, 1)
    writer.append("val", {"loss": 1.5, "accuracy": 0.5}, 10, 1)
    tail.update()
    assert tail.rows_read == 2 and tail.latest["val"]["metrics"] == {"loss": 1.5, "accuracy": 0.5}
    writer.append("train", {"loss": 1.0}, 20, 2)
    writer.append("train", {"accuracy": 0.75}, 20, 2)  # an end-of-epoch row: other metrics
    with open(path, "a") as handle:  # a writer caught halfway through a line
        handle.write('{"step": 30, "epoch": 2, "split": "val", "metr')
    tail.update()
    assert tail.rows_read == 4  # the new train rows only: nothing was read twice
    assert tail.latest["train"]["metrics"] == {"accuracy": 0.75}
    assert tail.values == {"train_loss": 1.0, "train_accuracy": 0.75, "val_loss": 1.5,
                           "val_accuracy": 0.5}
    assert tail.latest["val"]["step"] == 10

    with open(path, "a") as handle:
        handle.write('ics": {"loss": 0.5}}\n')
    tail.update()
    assert tail.rows_read == 5 and tail.latest["val"] == {
        "step": 30, "epoch": 2, "split": "val", "metrics": {"loss": 0.5}}
    writer.close()


def test_a_file_rewritten_by_a_resume_is_read_again_from_the_start(tmp_path):
    path = tmp_path / "metrics.jsonl"
    path.write_text("".join(json.dumps({"step": s, "epoch": s, "split": "val",
                                        "metrics": {"loss": 1.0 / s}}) + "\n" for s in (1, 2, 3)))
    tail = MetricsTail(path)
    tail.update()
    assert tail.latest["val"]["step"] == 3
    truncate_rows(path, 1)  # what a resume from the step-1 checkpoint does (atomic rewrite)
    tail.update()
    assert tail.latest["val"]["step"] == 1 and tail.rows_read == 1


def test_a_large_file_is_read_in_bounded_chunks(tmp_path, monkeypatch):
    monkeypatch.setattr(MetricsTail, "CHUNK", 64)  # rows longer than a chunk still parse
    path = tmp_path / "metrics.jsonl"
    writer = MetricsWriter(path)
    for step in range(1, 101):
        writer.append("train", {"loss": 1.0 / step}, step, 1)
    writer.close()
    tail = MetricsTail(path)
    tail.update()
    assert tail.rows_read == 100 and tail.latest["train"]["metrics"]["loss"] == 1.0 / 100
