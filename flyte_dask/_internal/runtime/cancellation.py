"""Cancelling a Dask future stops its coroutine on the worker.

Dask cancels a running coroutine task only when its worker closes: a client's cancel
marks the task cancelled and drops its result, but the coroutine runs on, holding
whatever it holds (a GPU, a connection). `CancelOnRelease`, a worker plugin, watches
the worker's task transitions and cancels the coroutine of an async call whose Dask
task is released while it runs, so `CancelledError` reaches the user's code (its
``finally`` blocks run) within a loop turn.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import Any, TypeVar

from distributed import Worker
from distributed.diagnostics.plugin import WorkerPlugin

T = TypeVar("T")

_RELEASED = ("cancelled", "released", "forgotten")


class CancelOnRelease(WorkerPlugin):
    """Cancels the running coroutine of a Dask task that the worker releases."""

    name = "flyte-dask-cancel-on-release"

    def __init__(self) -> None:
        self.running: dict[Any, asyncio.Future[Any]] = {}

    def transition(self, key: Any, start: str, finish: str, **kwargs: Any) -> None:
        future = self.running.get(key)
        if future is not None and finish in _RELEASED:
            future.cancel()


async def run_cancellable(worker: Worker, key: Any, work: Awaitable[T]) -> T:
    """Await ``work`` as Dask task ``key``'s body: releasing the task cancels it (on the worker's loop)."""
    plugin = worker.plugins.setdefault(CancelOnRelease.name, CancelOnRelease())
    future = asyncio.ensure_future(work)
    plugin.running[key] = future  # type: ignore[attr-defined]
    try:
        return await future
    finally:
        plugin.running.pop(key, None)  # type: ignore[attr-defined]
