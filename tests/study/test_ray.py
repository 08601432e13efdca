"""Ray: the local Ray listens on loopback only, and a study runs on a two-node cluster."""

from __future__ import annotations

import json
import os
import shutil
import socket
import sys
import tempfile
from pathlib import Path

import pytest

from tests import forked
from tests.files import study_trials
from tests.study.tinytask import RECIPE

ROOT = Path(__file__).parents[2]
LOOPBACK = ("127.0.0.1", "::1", "::ffff:127.0.0.1")


def free_ports(n: int) -> list[int]:
    """n ports free on 127.0.0.1 now (held open together, so they differ)."""
    sockets = [socket.socket() for _ in range(n)]
    try:
        for sock in sockets:
            sock.bind(("127.0.0.1", 0))
        return [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


@pytest.mark.slow
def test_local_ray_listens_on_loopback_only(ray_local):
    import psutil

    ray_pids = {p.pid for p in psutil.process_iter(["cmdline", "name"])
                if "ray" in " ".join(p.info["cmdline"] or []) + (p.info["name"] or "")}
    listening = [c for c in psutil.net_connections(kind="inet")
                 if c.status == psutil.CONN_LISTEN and c.pid in ray_pids]
    assert listening, "found no listening Ray sockets to check"
    public = [(c.laddr.ip, c.laddr.port, c.pid) for c in listening if c.laddr.ip not in LOOPBACK]
    assert public == []


@pytest.mark.slow
def test_study_runs_on_a_two_node_cluster_through_address(tmp_path):
    """Two Ray nodes on loopback (ray.cluster_utils starts both, like `ray start --head`
    plus a joining node); `mtrain run` joins them through `study.address`."""
    gcs, client, agent, autoscaler, dashboard = free_ports(5)
    env = {**os.environ, "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0", "RAY_AUTH_MODE": "token",
           "AUTOSCALER_METRIC_PORT": str(autoscaler), "DASHBOARD_METRIC_PORT": str(dashboard)}
    script = f"""
import os, subprocess, sys, json
from ray.cluster_utils import Cluster
cluster = Cluster(initialize_head=True, connect=False, head_node_args=dict(
    node_ip_address="127.0.0.1", gcs_server_port={gcs}, num_cpus=1, include_dashboard=False,
    temp_dir=sys.argv[2], ray_client_server_port={client},
    dashboard_agent_listen_port={agent}))
try:
    cluster.add_node(node_ip_address="127.0.0.1", num_cpus=1)
    cluster.wait_for_nodes()
    run = subprocess.run([sys.executable, "-m", "model_trainer", "run", sys.argv[1],
                          "study.address=" + cluster.address, "study.concurrency=2"],
                         capture_output=True, text=True, timeout=240)
    print(json.dumps({{"rc": run.returncode, "err": run.stderr[-3000:]}}))
finally:
    cluster.shutdown()
"""
    recipe = tmp_path / "study.yaml"
    recipe.write_text(RECIPE.format(out=tmp_path / "runs"))
    ray_dir = tempfile.mkdtemp(prefix="mt-ray-", dir="/tmp")  # unix sockets: short paths
    try:
        out = forked.run([sys.executable, "-c", script, str(recipe), ray_dir], cwd=ROOT,
                             env=env, capture_output=True, text=True, timeout=300)
    finally:
        shutil.rmtree(ray_dir, ignore_errors=True)
    assert out.stdout.strip(), out.stderr[-3000:]
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["rc"] == 0, result["err"]
    trials = study_trials(tmp_path / "runs" / "tiny-study")
    assert len(trials) == 4 and {t["state"] for t in trials} == {"completed"}
