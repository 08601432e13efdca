"""Device and precision resolution."""

from __future__ import annotations

import pytest
import torch

from model_trainer.train.device import DeviceError, Precision, resolve_device


def test_cpu_and_auto():
    assert resolve_device("cpu") == torch.device("cpu")
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert resolve_device("auto").type == expected


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_cuda_without_cuda_is_a_user_error():
    with pytest.raises(DeviceError, match="CUDA is not available") as info:
        resolve_device("cuda:0")
    assert info.value.exit_code == 2


def test_precision_objects_are_no_ops_when_off():
    cpu = torch.device("cpu")
    assert not Precision(cpu, "fp32").scaler().is_enabled()
    assert not Precision(cpu, "bf16").scaler().is_enabled()
    with Precision(cpu, "bf16").autocast():
        out = torch.nn.Linear(4, 4)(torch.randn(2, 4))
    assert out.dtype == torch.bfloat16
    with Precision(cpu, "fp32").autocast():
        assert torch.nn.Linear(4, 4)(torch.randn(2, 4)).dtype == torch.float32
    with pytest.raises(DeviceError, match="fp16 needs a CUDA"):
        Precision(cpu, "fp16")
