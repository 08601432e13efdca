"""The display: plain lines on stderr, nothing when off."""

from __future__ import annotations

from model_trainer.trial.experiment import run_experiment
from tests.train.tiny import load


def test_plain_prints_one_line_per_evaluation_and_the_stop(tmp_path, capsys):
    run_experiment(load(tmp_path), progress="plain", threads=1)
    err = capsys.readouterr().err.splitlines()
    assert len([x for x in err if "val_loss=" in x]) == 3
    assert any("stopped: epochs reached" in x for x in err)


def test_off_prints_nothing(tmp_path, capsys):
    run_experiment(load(tmp_path, "train.epochs=1"), progress="off", threads=1)
    captured = capsys.readouterr()
    assert captured.err == "" and captured.out == ""


def test_rich_display_runs(tmp_path, capsys):
    result = run_experiment(load(tmp_path, "train.epochs=1"), progress="rich", threads=1)
    assert result.state == "completed" and "tiny epoch 1/1" in capsys.readouterr().err


def test_every_figure_the_console_prints_is_in_the_files_under_its_name(tmp_path, capsys):
    import re

    from tests.files import rows

    result = run_experiment(load(tmp_path, "train.log_every=4"), progress="plain", threads=1)
    lines = [x for x in capsys.readouterr().err.splitlines() if "val_loss=" in x]
    assert len(lines) == 3
    by_epoch = {}
    for row in rows(result.trial_dir):
        for name, value in row["metrics"].items():
            by_epoch.setdefault(row["epoch"], {}).setdefault(f"{row['split']}_{name}", set()).add(
                f"{value:.4g}")
    for epoch, line in enumerate(lines, start=1):
        shown = dict(re.findall(r"(\w+)=([-\d.e]+)", line))
        for name, value in shown.items():
            if not name.startswith(("train_", "val_")):
                continue
            assert value in by_epoch[epoch].get(name, set()), (epoch, name, value, by_epoch[epoch])
