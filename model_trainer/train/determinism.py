"""`train.deterministic`: the same numbers from the same trial, bit for bit, on GPU too.

Seeds alone do not give that on CUDA: some kernels (atomic adds in backward passes,
cuDNN's autotuned convolution algorithms, cuBLAS with several workspaces) vary from run
to run. Turned on, torch uses deterministic algorithms only (an op without one raises),
cuDNN picks deterministic convolutions without autotuning, and cuBLAS gets the one
workspace configuration its docs require. The cost is speed on GPU (docs/numbers.md);
on CPU it changes almost nothing.
"""

from __future__ import annotations

import os

import torch

from model_trainer.errors import DeterminismError

CUBLAS_WORKSPACE = ":4096:8"  # what the cuBLAS docs ask for reproducible results
_NO_DETERMINISTIC_OP = "does not have a deterministic implementation"
_turned_on = False  # by us: a later trial in this process without it turns it off again


def cublas_environment() -> None:
    """Set CUBLAS_WORKSPACE_CONFIG (unless the user did): it must be there before cuBLAS
    starts in the process, so this runs before anything touches CUDA."""
    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", CUBLAS_WORKSPACE)


def set_deterministic(on: bool) -> None:
    """Apply `train.deterministic` to this process; off leaves the user's own settings
    alone unless an earlier trial here turned them on."""
    global _turned_on
    if on:
        cublas_environment()
    elif not _turned_on:
        return
    torch.use_deterministic_algorithms(on)
    torch.backends.cudnn.deterministic = on
    torch.backends.cudnn.benchmark = False
    _turned_on = on


def explain(exc: BaseException, on: bool) -> BaseException:
    """torch's error for an op without a deterministic implementation, said in the
    recipe's words (exit 2: the recipe asks for what the model cannot do)."""
    message = str(exc)
    if not (on and isinstance(exc, RuntimeError) and _NO_DETERMINISTIC_OP in message):
        return exc
    op = message.split(_NO_DETERMINISTIC_OP, 1)[0].strip()
    explained = DeterminismError(f"train.deterministic is true, but {op} has no deterministic "
                                 f"implementation in torch {torch.__version__}; set "
                                 "train.deterministic: false, or avoid that operation")
    explained.__cause__ = exc  # its traceback still shows where the op ran
    return explained
