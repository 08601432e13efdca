"""metrics.jsonl: the one writer and the one reader, and truncation on resume."""

from __future__ import annotations

import json

import pytest

from model_trainer.metrics_file import (
    MetricsTail,
    MetricsWriter,
    guess_mode,
    last_row,
    metric_name,
    parse_rows,
    read_rows,
    truncate_rows,
)


def test_append_truncate_and_tolerate_a_broken_last_line(tmp_path):
    path = tmp_path / "metrics.jsonl"
    writer = MetricsWriter(path)
    for step in (1, 2, 3):
        writer.append("train", {"loss": 1.0 / step}, step, 1)
    writer.append("val", {"loss": 0.5, "accuracy": 0.9}, 3, 1)
    writer.close()
    with open(path, "a") as handle:
        handle.write('{"step": 4, "epo')
    assert len(read_rows(path)) == 4
    assert last_row(path, "val") == {"val_loss": 0.5, "val_accuracy": 0.9}
    assert truncate_rows(path, 2) == 2
    assert [json.loads(x)["step"] for x in path.read_text().splitlines()] == [1, 2]


@pytest.mark.parametrize("text", [
    '{"step": 1, "split": "train", "metrics": {"loss": 1.5}}\n'
    '{"step": 2, "split": "val", "metrics": {"loss": NaN, "acc": Infinity}}\n',
    '{"step": 1, "metrics": {"loss": 1}}\n\n\n{"step": 2, "metrics": {"loss": 2}}',
    '{"step": 1, "metrics": {"loss": 1}}\n{"step": 2, "metr',
    '[1, 2]\n{"no": "metrics"}\n{"metrics": [1]}\n{"metrics": {"a": "text"}}\n',
    "",
])
def test_the_fast_path_reads_exactly_what_a_line_by_line_reader_reads(text):
    expected, bad = [], 0
    for line in text.splitlines():
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except ValueError:
            bad += 1
            continue
        if isinstance(row, dict) and isinstance(row.get("metrics"), dict):
            expected.append(row)
        else:
            bad += 1
    rows, skipped = parse_rows(text.encode())
    assert json.dumps(rows) == json.dumps(expected) and skipped == bad


GARBLED = b'{"step": 4, "epoch": 2, "split": "val", "metrics": {"lo\xffss": 9.0}}\n'  # not UTF-8


def test_a_line_that_is_not_utf8_is_skipped_and_counted_by_every_reader(tmp_path):
    path = tmp_path / "metrics.jsonl"
    writer = MetricsWriter(path)
    writer.append("val", {"loss": 0.5}, 2, 1)
    writer.close()
    with open(path, "ab") as handle:
        handle.write(GARBLED)
    rows, skipped = parse_rows(path.read_bytes())
    assert len(rows) == 1 and skipped == 1
    assert len(read_rows(path)) == 1
    assert last_row(path, "val") == {"val_loss": 0.5}  # not the garbled row's "val_lo\ufffdss"
    tail = MetricsTail(path)
    tail.update()
    assert tail.values == {"val_loss": 0.5} and tail.rows_read == 1


def test_a_metric_is_named_by_its_split_and_its_name():
    assert metric_name("val", "loss") == "val_loss"
    assert metric_name("test", "top_5") == "test_top_5"


@pytest.mark.parametrize(("name", "mode"), [
    ("val_loss", "min"), ("train_epoch_loss", "min"), ("val_mae", "min"), ("test_rmse", "min"),
    ("val_error", "min"), ("val_perplexity", "min"), ("val_nll", "min"), ("val/loss", "min"),
    ("valLoss", "min"), ("val_wer", "min"), ("val_accuracy", "max"), ("val_f1", "max"),
    ("val_answer_acc", "max"), ("val_inferred_acc", "max"),  # "wer", "err" inside a word
    ("val_logloss", "min"), ("valloss", "min"), ("val_CELoss", "min"), ("val_BCELoss", "min"),
    ("val_top1error", "min"), ("val_runtime", "min"), ("val_auroc", "max"),
])
def test_a_metric_is_lower_is_better_when_a_word_of_its_name_says_so(name, mode):
    assert guess_mode(name) == mode
