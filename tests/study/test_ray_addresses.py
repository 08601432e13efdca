"""Which Ray addresses keep a study's Ray on loopback (RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0:
otherwise Ray binds the machine's public interface)."""

from __future__ import annotations

import pytest

from model_trainer.study.executors.ray_node import is_loopback


@pytest.mark.parametrize(("address", "loopback"), [
    ("127.0.0.1:6379", True), ("127.0.0.1", True), ("localhost:6379", True),
    ("ray://127.0.0.1:10001", True),  # Ray Client: was read as the host "ray"
    ("ray://localhost:10001", True), ("[::1]:6379", True), ("::1", True),
    ("127.0.0.2:6379", True),  # all of 127.0.0.0/8 is loopback
    ("10.0.0.5:6379", False), ("ray://head.cluster:10001", False), ("auto", False),
    ("[2001:db8::1]:6379", False),
])
def test_loopback_addresses_are_told_from_real_ones(address, loopback):
    assert is_loopback(address) is loopback
