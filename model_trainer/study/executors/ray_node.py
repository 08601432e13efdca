"""`mtrain ray-start`: Ray's own `ray start`, every argument passed through, that can also
keep a node of a multi-node cluster on loopback (127.0.0.1).

On Linux with real addresses `ray start` needs nothing of this: `mtrain ray-start` then
runs it unchanged. For nodes on one machine that must stay on loopback (a laptop, CI, a
shared machine whose public interface must not be bound), Ray 2.60 offers no setting:
with RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0 (what keeps a single node on 127.0.0.1) a
worker node's `ray start --address=...` aborts ("Multi-node Ray clusters are not
supported on Windows and OSX", ray/scripts/scripts.py), and with it at 1 Ray replaces
127.0.0.1 by the machine's public address (`services.resolve_ip_for_localhost`), so the
node dials a head that listens on loopback only and hangs. When `--node-ip-address` is a
loopback address, this process (the `ray start` CLI only: the daemons it starts get
127.0.0.1 on their command lines) passes the multi-node check and keeps loopback
addresses as given; the variable is set to 0 for the daemons and drivers it starts.
"""

from __future__ import annotations

import ipaddress
import os
import sys


def is_loopback(address: str) -> bool:
    """Whether a node address or a Ray address (`127.0.0.1:6379`, `ray://localhost:10001`,
    `[::1]:6379`) names this machine's loopback interface."""
    host = address.partition("://")[2] if "://" in address else address
    if host.startswith("["):  # [IPv6]:port
        host = host[1:].partition("]")[0]
    elif host.count(":") == 1:  # host:port (a bare IPv6 address has several colons)
        host = host.partition(":")[0]
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def node_ip_address(args: list[str]) -> str | None:
    """The value of `--node-ip-address` among `ray start`'s arguments, if given."""
    for index, arg in enumerate(args):
        if arg.startswith("--node-ip-address="):
            return arg.split("=", 1)[1]
        if arg == "--node-ip-address" and index + 1 < len(args):
            return args[index + 1]
    return None


def keep_loopback() -> None:
    """The two changes to the `ray start` process that keep a node on loopback."""
    import ray._private.ray_constants as ray_constants
    import ray._private.services as services

    os.environ["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] = "0"  # children and drivers: loopback
    ray_constants.ENABLE_RAY_CLUSTER = True  # read at call time by the multi-node check
    services.resolve_ip_for_localhost = _as_given  # scripts.py and services.py look it up


def _as_given(host: str) -> str:
    if not host:
        raise ValueError(f"Malformed host: {host!r}")
    return host


def start(args: list[str]) -> int:
    """Run `ray start ARGS` (in this process), on loopback when its node address is."""
    node = node_ip_address(args)
    if node is not None and is_loopback(node):
        keep_loopback()
    from ray.scripts.scripts import main

    sys.argv = ["ray", "start", *args]
    try:
        main()
    except SystemExit as done:
        return done.code if isinstance(done.code, int) else (0 if done.code is None else 1)
    return 0
