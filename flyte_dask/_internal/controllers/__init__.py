"""The execution seam: what a task call does, behind one small interface.

A `TaskTemplate` never talks to Dask. It asks `current_controller` for the controller
of the place the call is made from and hands it the call, as flyte-sdk's
``_internal/controllers`` separate a task from how it runs. `LocalController` runs
calls as plain Python (outside any run or `init`); `DaskController` makes each call a
Dask future (after `init`, and inside tasks running on workers).

controllers: the caller's side of a call, on the driver or in a task that calls tasks.
Here: the seam, `dask_controller`, `gather` (calls of one loop tick), `batching` (the
core shared by maps and gathers), `placement` (where work may run), `progress` (bars).
May import: `transport`, `runtime` and the shared `_internal` modules; the public
modules import it, never the other way round.
"""

from __future__ import annotations

import inspect
from collections.abc import AsyncIterator, Coroutine
from typing import Any, Protocol

from flyte_dask._internal import transport
from flyte_dask._internal.calls import Failure, FanOut, TaskSpec


class Controller(Protocol):
    """How calls of tasks are carried out."""

    def call(self, task: TaskSpec, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        """Run one call and return its value (a sync task call)."""
        ...

    def call_async(self, task: TaskSpec, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Coroutine[Any, Any, Any]:
        """The awaitable form of one call."""
        ...

    def map(self, fan_out: FanOut) -> AsyncIterator[list[Any]]:
        """Results of a fan-out in input order, a chunk at a time (`Failure` for a failed item)."""
        ...


class LocalController:
    """Tasks as plain Python functions, as Flyte 2 runs them outside a run."""

    def call(self, task: TaskSpec, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        return task.invoke(*args, **kwargs)

    async def call_async(self, task: TaskSpec, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        value = task.invoke(*args, **kwargs)
        return await value if inspect.isawaitable(value) else value

    async def map(self, fan_out: FanOut) -> AsyncIterator[list[Any]]:
        """Item by item, in this process, as Flyte 2's local mode does."""
        for item in fan_out.items:
            args, kwargs = fan_out.shape.call(item)
            try:
                value = await self.call_async(fan_out.task, args, kwargs)
            except Exception as exc:
                value = Failure(exc)
            yield [value]


_LOCAL = LocalController()


def current_controller() -> Controller:
    """The controller for calls made here: Dask's after `init` or on a worker, else plain Python."""
    client = transport.current_client()
    if client is None:
        return _LOCAL
    from flyte_dask._internal.controllers.dask_controller import (
        DaskController,  # lazy: the seam loads no engine
    )

    return DaskController(client)
