"""Trials as Ray tasks: on a Ray cluster (`study.address`), or a local Ray on request
(`study.executor: ray`).

A Ray worker that dies becomes a failed outcome to retry, never a hung study. Ray's own
output (its token-auth notice, worker logs) reaches the user only with MTRAIN_DEBUG=1.
"""

from __future__ import annotations

import logging
import os
import signal
import threading
from typing import Any

from model_trainer.errors import UsageError
from model_trainer.study.executors.inline import CANCELLED
from model_trainer.study.executors.ray_node import is_loopback
from model_trainer.study.trial_task import TrialOutcome, TrialPayload, execute_trial
from model_trainer.vocabulary import RecordState


class RayExecutor:
    """Ray tasks with the study's per-trial resources; starts a loopback Ray if needed."""

    runs_in_driver = False

    def __init__(self, address: str | None, cpus: float, gpus: float):
        self._address, self._cpus, self._gpus = address, cpus, gpus
        self._started = False
        self._refs: dict[Any, Any] = {}

    def __enter__(self) -> RayExecutor:
        """Connect to (or start) Ray: only a study with trials left to run gets here."""
        # with _node_ip_address below, this keeps a local Ray (or a driver of a loopback
        # cluster) on 127.0.0.1 (set to 1, Ray rewrites the address to the machine's
        # public one); a driver of a real cluster keeps Ray's default
        if self._address is None or is_loopback(self._address):
            os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
        debug = os.environ.get("MTRAIN_DEBUG") == "1"
        if not debug:
            logging.getLogger("ray").setLevel(logging.ERROR)  # its token-auth notice, ...
        import ray

        self._ray = ray
        if not ray.is_initialized():
            ours = signal.getsignal(signal.SIGTERM)  # ray.init puts its own (a bare exit)
            if self._address is None:  # "local": a Ray of our own, even when another runs
                ray.init(address="local", include_dashboard=False,
                         _node_ip_address="127.0.0.1", log_to_driver=debug,
                         configure_logging=False)
            else:
                ray.init(address=self._address, log_to_driver=debug, configure_logging=False)
            if threading.current_thread() is threading.main_thread():
                signal.signal(signal.SIGTERM, ours)  # SIGTERM interrupts and saves, as Ctrl-C
            self._started = True
        self._check_resources(self._cpus, self._gpus)
        self._task = ray.remote(execute_trial).options(
            num_cpus=self._cpus, num_gpus=self._gpus, max_retries=0, retry_exceptions=False)
        return self

    def __exit__(self, *exc: Any) -> None:
        if self._started:
            self._ray.shutdown()

    @property
    def running(self) -> int:
        return len(self._refs)

    def submit(self, key: Any, payload: TrialPayload) -> None:
        self._refs[self._task.remote(payload)] = key

    def wait_one(self) -> tuple[Any, TrialOutcome]:
        ready, _ = self._ray.wait(list(self._refs), num_returns=1)
        return self._collect(ready[0])

    def cancel_all(self, reason: Any = None) -> list[tuple[Any, TrialOutcome]]:
        """Interrupt running trials (they save a checkpoint) and collect their outcomes."""
        for ref in self._refs:
            self._ray.cancel(ref, force=False)
        outcomes = []
        while self._refs:
            ready, _ = self._ray.wait(list(self._refs), num_returns=1, timeout=30)
            if not ready:
                break
            outcomes.append(self._collect(ready[0]))
        outcomes += [(key, CANCELLED) for key in self._refs.values()]
        self._refs.clear()
        return outcomes

    def _collect(self, ref: Any) -> tuple[Any, TrialOutcome]:
        key = self._refs.pop(ref)
        try:
            return key, self._ray.get(ref)
        except self._ray.exceptions.TaskCancelledError:
            return key, CANCELLED
        except self._ray.exceptions.RayError as exc:  # the worker died, or Ray lost it
            message = str(exc).strip().splitlines()[0][:300]
            return key, TrialOutcome(RecordState.FAILED, error=f"worker died: {message}")

    def _check_resources(self, cpus: float, gpus: float) -> None:
        """A trial that can never be scheduled is an error now, not a hang later."""
        total = self._ray.cluster_resources()
        problems = []
        if cpus > total.get("CPU", 0):
            problems.append(f"study.resources.cpus={cpus:g} but the Ray cluster has "
                            f"{total.get('CPU', 0):g} CPUs")
        if gpus > total.get("GPU", 0):
            problems.append(f"study.resources.gpus={gpus:g} but the Ray cluster has "
                            f"{total.get('GPU', 0):g} GPUs")
        if problems:
            if self._started:
                self._ray.shutdown()
            raise UsageError("; ".join(problems))
