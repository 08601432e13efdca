"""Device and precision: one code path for CPU, CUDA and AMP.

`Precision` hands the loop an autocast context and a GradScaler that are no-ops when
not needed (fp32, or bf16 which needs no loss scaling): one copy of the loop serves
every backend and precision, instead of a branch per case that drifts apart.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass

import torch

from model_trainer.errors import DeviceError

_NO_AUTOCAST = contextlib.nullcontext()
_DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}


def resolve_device(name: str) -> torch.device:
    """`auto | cpu | mps | cuda | cuda:N` -> a torch.device that exists here, else DeviceError."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(name)
    if device.type == "mps" and not torch.backends.mps.is_available():
        raise DeviceError("device: 'mps' requested but this machine has no Apple GPU "
                          "(MPS); use device=cpu or device=auto")
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise DeviceError(f"device: '{name}' requested but CUDA is not available on this "
                              "machine; use device=cpu or device=auto")
        index = device.index or 0
        if index >= torch.cuda.device_count():
            raise DeviceError(f"device: '{name}' requested but this machine has "
                              f"{torch.cuda.device_count()} CUDA device(s)")
    return device


@dataclass
class Precision:
    """Autocast and loss scaling for one device and one `train.precision`."""

    device: torch.device
    name: str = "fp32"

    def __post_init__(self) -> None:
        if self.name not in _DTYPES:
            raise DeviceError(f"train.precision: unknown precision '{self.name}'")
        if self.name == "fp16" and self.device.type != "cuda":
            raise DeviceError("train.precision: fp16 needs a CUDA device (GradScaler); "
                              "use bf16 on CPU")

    @property
    def dtype(self) -> torch.dtype:
        return _DTYPES[self.name]

    def autocast(self) -> contextlib.AbstractContextManager:
        """Autocast to the precision's dtype; a shared no-op context for fp32 (entering a
        disabled torch.autocast still costs microseconds on every forward)."""
        if self.name == "fp32":
            return _NO_AUTOCAST
        return torch.autocast(self.device.type, dtype=self.dtype)

    def scaler(self) -> torch.amp.GradScaler:
        """Loss scaling only for fp16; otherwise a GradScaler whose methods pass through."""
        return torch.amp.GradScaler(self.device.type, enabled=self.name == "fp16")
