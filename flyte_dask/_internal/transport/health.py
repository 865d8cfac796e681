"""Whether the scheduler is still there, and what the cluster's workers offer.

A closed connection is seen at once (`scheduler_gone`); a hung scheduler is found by
asking for its identity with a deadline (`ensure_scheduler`). `cluster_view` caches the
scheduler's worker table for placement, fetched without blocking any caller's loop.
"""

from __future__ import annotations

import asyncio
import time
import weakref
from collections.abc import Coroutine
from dataclasses import dataclass
from typing import Any, TypeVar

from distributed import Client, Future

from flyte_dask import errors
from flyte_dask._internal import bridge as _bridge
from flyte_dask._internal import settings
from flyte_dask._internal.failures import (
    as_flyte_error,
)
from flyte_dask._internal.keys import task_of

T = TypeVar("T")


@dataclass
class ClusterView:
    """The cluster's workers as the scheduler last reported them."""

    fetched: float
    offers: dict[str, dict[str, float]]
    threads: int
    threads_by_worker: dict[str, int]


_views: weakref.WeakKeyDictionary[Client, ClusterView] = weakref.WeakKeyDictionary()


def cluster_view(client: Client, max_age: float) -> ClusterView:
    """Each worker's advertised resources and threads, from a report at most ``max_age`` seconds old.

    Blocks this thread for a fresh report; async code uses `cluster_view_async`.
    """
    view = _recent_view(client, max_age)
    return view if view is not None else _new_view(client, client.scheduler_info(n_workers=-1).get("workers", {}))


async def cluster_view_async(client: Client, max_age: float) -> ClusterView:
    """`cluster_view` for async code: the report is fetched on the client's loop, the caller's is never blocked."""
    view = _recent_view(client, max_age)
    if view is not None:
        return view
    identity = await _bridge.await_on(_client_loop(client), scheduler_rpc(client).identity(n_workers=-1))
    return _new_view(client, identity.get("workers", {}))


def _recent_view(client: Client, max_age: float) -> ClusterView | None:
    if scheduler_gone(client):
        raise lost_scheduler(client, "placing new work")
    view = _views.get(client)
    return view if view is not None and time.monotonic() - view.fetched <= max_age else None


def _new_view(client: Client, workers: dict[str, Any]) -> ClusterView:
    offers = {address: dict(w.get("resources") or {}) for address, w in workers.items()}
    threads = {address: int(w.get("nthreads", 1)) for address, w in workers.items()}
    view = _views[client] = ClusterView(time.monotonic(), offers, max(1, sum(threads.values())), threads)
    return view


def on_client_loop(client: Client, coro: Coroutine[Any, Any, T]) -> T:
    """Block this thread until ``coro`` has run on the client's loop (which stays free to run others)."""
    return _bridge.wait_on(_client_loop(client), coro)


def _client_loop(client: Client) -> asyncio.AbstractEventLoop:
    """The asyncio loop the client's coroutines run on (its own thread's)."""
    loop: asyncio.AbstractEventLoop | None = getattr(client.loop, "asyncio_loop", None)
    if loop is None:
        raise RuntimeError("the Dask client is closed; call flyte_dask.init() again")
    return loop


"""A wait with no news for ``scheduler-check`` seconds asks the scheduler for its identity
and gives up after ``scheduler-timeout`` more: a hung or unreachable scheduler is reported
within 15 s by default; a closed connection at once."""


_GONE = ("connecting", "closing", "closed")


def scheduler_check_interval() -> float:
    """Seconds a wait goes without news before it checks the scheduler is still there."""
    return float(settings.get("scheduler-check"))


def _task_of(future: Future) -> str:
    """The task whose call ``future`` is."""
    return task_of(future.key)


def scheduler_rpc(client: Client) -> Any:
    """The client's connection to its scheduler; `lost_scheduler` where a closed client has none."""
    if client.scheduler is None:
        raise lost_scheduler(client, "a request to the scheduler")
    return client.scheduler


def scheduler_address(client: Client) -> str:
    """The address of the client's scheduler, or a placeholder once the client is closed."""
    return str(getattr(client.scheduler, "address", None) or "the scheduler")


def scheduler_gone(client: Client) -> bool:
    """Whether the client has lost its scheduler (Dask cancels every future when it does)."""
    return str(client.status) in _GONE


def lost_scheduler(client: Client, what: str, done: int | None = None, total: int | None = None) -> BaseException:
    """The error for work cut off by a lost scheduler: `errors.RuntimeSystemError` (and `ConnectionError`)."""
    address = scheduler_address(client)
    finished = ""
    if done is not None:
        of = f" of {total}" if total else ""
        finished = f" {done}{of} items had finished; the others were cancelled or never started."
    message = (
        f"lost the Dask scheduler at {address} during {what}.{finished} Call flyte.init() again and rerun; "
        "with cache='auto' on the task a rerun skips the items that finished."
    )
    return as_flyte_error(ConnectionError(message), errors.RuntimeSystemError, code="SchedulerLost")


async def ensure_scheduler(client: Client, what: str, done: int | None = None, total: int | None = None) -> None:
    """Raise `lost_scheduler` if the scheduler is gone, or does not answer within
    ``flyte-dask.scheduler-timeout`` seconds (default 10)."""
    if not scheduler_gone(client):
        try:
            await _bridge.await_on(
                _client_loop(client),
                asyncio.wait_for(scheduler_rpc(client).identity(), float(settings.get("scheduler-timeout"))),
            )
            return
        except (TimeoutError, OSError):
            pass
    raise lost_scheduler(client, what, done, total)
