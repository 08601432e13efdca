"""docs/studies.md's two-node Ray cluster on loopback, run as written: each command its own
process (the nodes are separate `ray start` processes, not ray.cluster_utils), then the
digits study on it, with study.storage on a real S3 server. Both nodes stay on 127.0.0.1;
each node's workers keep their trial folders in a scratch folder of its own
(MTRAIN_LOCAL_DIR), so the nodes share no output folder: both train, storage holds every
trial, and the driver's folder every trial's results."""

from __future__ import annotations

import json
import os
import re
import shlex
import sys
from datetime import datetime
from pathlib import Path

import psutil
import pytest

from tests.cluster import sessions

ROOT = Path(__file__).parents[2]
PORT = 6399


def documented_commands() -> list[str]:
    text = (ROOT / "docs" / "studies.md").read_text()
    block = re.search(r"<!-- loopback-cluster -->\n```bash\n(.*?)```", text, re.S)
    assert block, "docs/studies.md lost its loopback-cluster block"
    return [line for line in block.group(1).splitlines() if line.strip()]


def exported(line: str, env: dict[str, str]) -> None:
    for item in shlex.split(line)[1:]:
        key, _, value = item.partition("=")
        env[key] = value


@pytest.fixture
def cluster_env(tmp_path):
    if any(c.laddr.port == PORT for c in psutil.net_connections("tcp")
           if c.status == psutil.CONN_LISTEN):
        pytest.skip(f"port {PORT} is taken on this machine")
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAY_")}
    env.update(HOME=str(tmp_path / "home"),  # ~/.ray/auth_token: the test's own token
               PATH=f"{Path(sys.executable).parent}:{env['PATH']}", RAY_USAGE_STATS_ENABLED="0")
    (tmp_path / "home").mkdir()
    started: list[int] = []
    yield env, started
    for session in reversed(started):
        sessions.stop(session, first=("raylet",), last=("gcs_server",))


def test_the_documented_loopback_cluster_runs_the_digits_study(cluster_env, tmp_path, s3):
    env, started = cluster_env
    env.update({k: os.environ[k] for k in os.environ if k.startswith("AWS_")})
    runs, log = tmp_path / "runs", str(tmp_path / "commands.log")
    nodes = []
    for line in documented_commands():
        if line.startswith("export "):
            exported(line, env)
            continue
        command_env = dict(env)
        if line.startswith("mtrain ray-start"):
            nodes.append(tmp_path / f"node-{len(nodes)}")
            command_env["MTRAIN_LOCAL_DIR"] = str(nodes[-1])
        if line.startswith("mtrain run "):
            line += f" output_dir={runs} train.epochs=2 'study.seeds=[0]' study.storage={s3}"
        process = sessions.start(line, command_env, str(ROOT), log)
        started.append(process.pid)
        assert process.wait(timeout=240) == 0, Path(log).read_text()[-3000:]
    raylets = [p for s in started for p in sessions.members(s) if p.name() == "raylet"]
    assert len(raylets) == 2, "two nodes, each a raylet of its own"
    listening = {c.laddr.ip for s in started for p in sessions.members(s)
                 for c in _connections(p) if c.status == psutil.CONN_LISTEN}
    assert listening and listening <= {"127.0.0.1", "::ffff:127.0.0.1", "::1"}, listening
    study = runs / "digits-study"
    trials = json.loads((study / "study_index.json").read_text())["trials"]
    assert [t["state"] for t in trials] == ["completed"] * 4
    spans = []
    for trial in trials:
        status = json.loads((study / trial["trial_id"] / "status.json").read_text())
        began = datetime.fromisoformat(status["started_at"]).timestamp()
        spans.append((began, began + status["duration_s"]))
    assert any(a[0] < b[1] and b[0] < a[1] for i, a in enumerate(spans)
               for b in spans[i + 1:]), "two trials ran at once: one on each node"
    trained = [{p.parent.parent.name for p in node.glob("digits-study/*/checkpoints/last.pt")}
               for node in nodes]
    assert all(trained) and not trained[0] & trained[1], trained  # each node, its own
    assert trained[0] | trained[1] == {t["trial_id"] for t in trials}
    for trial in trials:
        assert (study / trial["trial_id"] / "metrics.jsonl").is_file()  # brought back


def _connections(process: psutil.Process) -> list:
    try:
        return process.net_connections("tcp")
    except psutil.Error:
        return []

