"""Real cluster parts for tests/cluster, started once per session by cluster/*.sh and
stopped by the same scripts (they stop only the daemons they started)."""

from __future__ import annotations

import os
import shutil
import subprocess
import uuid
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[2]


def _start(script: str, state: Path) -> dict[str, str]:
    """Run cluster/<script> STATE; the `export A=B ...` lines it prints, as a mapping
    (pytest.skip with its reason when the part cannot be installed here: exit 3)."""
    done = subprocess.run(["bash", str(ROOT / "cluster" / script), str(state)],
                          capture_output=True, text=True, timeout=600)
    if done.returncode == 3:
        pytest.skip(f"{script}: {done.stderr.strip().splitlines()[-1]}")
    assert done.returncode == 0, done.stdout + done.stderr
    env = {}
    for line in done.stdout.splitlines():
        if line.startswith("export "):
            for item in line.split()[1:]:
                key, _, value = item.partition("=")
                env[key] = value
    return env


@pytest.fixture(scope="session")
def slurm():
    """A one-node SLURM (munged, slurmctld, slurmd) with partitions low and high; its
    environment (SLURM_CONF) is set for the session."""
    state = Path("/tmp") / f"mtrain-slurm-{uuid.uuid4().hex[:6]}"  # short: a socket path
    env = _start("slurm_up.sh", state)
    os.environ.update(env)
    yield state
    subprocess.run(["bash", str(ROOT / "cluster" / "slurm_down.sh"), str(state)],
                   capture_output=True, timeout=120)
    shutil.rmtree(state, ignore_errors=True)
    for key in env:
        os.environ.pop(key, None)


def start_s3(state: Path) -> dict[str, str]:
    """SeaweedFS's S3 server on 127.0.0.1 (cluster/s3_up.sh): its AWS_* environment."""
    return _start("s3_up.sh", state)


def stop_s3(state: Path) -> None:
    subprocess.run(["bash", str(ROOT / "cluster" / "s3_down.sh"), str(state)],
                   capture_output=True, timeout=120)


def remove(state: Path) -> None:
    """A stopped part's folder (its data, logs and pids)."""
    shutil.rmtree(state, ignore_errors=True)


@pytest.fixture(scope="session")
def s3_server():
    """One S3 server for the session; each test takes a prefix of its own (`s3`)."""
    state = Path("/tmp") / f"mtrain-s3-{uuid.uuid4().hex[:6]}"
    env = start_s3(state)
    yield state, env
    stop_s3(state)
    remove(state)


@pytest.fixture
def s3(s3_server, monkeypatch):
    """The session's S3 server in this test's environment, and a fresh prefix: the URI."""
    for key, value in s3_server[1].items():
        monkeypatch.setenv(key, value)
    return f"s3://mtrain/t-{uuid.uuid4().hex[:8]}"
