"""`mtrain ray-start ARGS`: `ray start ARGS` that can keep a multi-node cluster on loopback."""

from __future__ import annotations

import typer


def ray_start(ctx: typer.Context) -> None:
    """Start a Ray node: `ray start` with the same arguments, on loopback too.

    With --node-ip-address=127.0.0.1 the node (head or worker) stays on loopback, which
    plain `ray start` cannot do for a second node; see docs/studies.md."""
    from model_trainer.study.executors.ray_node import start

    raise typer.Exit(start(list(ctx.args)))
