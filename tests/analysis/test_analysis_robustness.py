"""Broken files never crash the analysis: they become warnings, 'unknown' states or gaps."""

from __future__ import annotations

import shutil

import pytest

from model_trainer.analysis import analyze
from tests.analysis.analysis_synth import quiet_console

GARBAGE = {
    "binary": b"\x00\xff\xfe",
    "a list": b"[1, 2]",
    "wrong types": b'{"state": 5, "best": {"metric": 3, "value": "x"}, "error": "boom", '
                   b'"study": {"params": [1]}, "trial_id": 7, "metrics": [1]}',
    "reserved keys": b'{"trial_id": "x", "state": "done", "study_id": 3, "objective": 5}',
    "bad metric rows": b'{"metrics": [1]}\n{"metrics": {"loss": "x"}}\n'
                       b'{"step": "x", "epoch": null, "split": 3, "metrics": {"loss": 1}}\n',
    "broken yaml": b"a: [",
    "empty": b"",
}
TARGETS = ["status.json", "recipe.yaml", "metrics.jsonl", "study.yaml", "study_index.json"]


@pytest.mark.parametrize("payload", list(GARBAGE), ids=list(GARBAGE))
def test_garbage_in_every_kind_of_file(runs_shared, tmp_path, payload):
    root = tmp_path / "runs"
    shutil.copytree(runs_shared, root, ignore=shutil.ignore_patterns("analysis"))
    for target in TARGETS:
        victims = sorted(root.rglob(target))
        for path in {victims[0], victims[-1]}:  # two groups, so the damage "varies" in one
            path.write_bytes(GARBAGE[payload])
    result = analyze(root, plots=False, out=tmp_path / "out", console=quiet_console())
    assert len(result.trials) == 28
    assert result.trials["trial_id"].is_unique
    assert (tmp_path / "out" / "report.html").is_file()


@pytest.mark.parametrize("link", ["a planted file", "the output folder"])
def test_analyze_never_writes_through_a_link(runs_shared, tmp_path, link):
    import shutil

    from model_trainer.errors import UsageError

    root = tmp_path / "runs"
    shutil.copytree(runs_shared, root)
    precious = tmp_path / "precious.txt"
    precious.write_text("keep me")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    out = root / "analysis"
    if link == "a planted file":
        out.mkdir(exist_ok=True)
        (out / "trials.csv").unlink(missing_ok=True)
        (out / "trials.csv").symlink_to(precious)
    else:
        shutil.rmtree(out, ignore_errors=True)
        out.symlink_to(elsewhere)
    with pytest.raises(UsageError, match="link"):
        analyze(root, console=quiet_console(), plots=False)
    assert precious.read_text() == "keep me" and list(elsewhere.iterdir()) == []
