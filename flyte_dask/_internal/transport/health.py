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

from flyte_dask._internal import bridge as _bridge
from flyte_dask._internal import settings
from flyte_dask._internal.failures import flyte_error
from flyte_dask._internal.keys import task_of

T = TypeVar("T")


@dataclass
class ClusterView:
    """The cluster's workers as the scheduler last reported them."""

    fetched: float  #: `time.monotonic()` when the scheduler reported it
    offers: dict[str, dict[str, float]]  #: each worker's advertised Dask resources, by address
    threads: int  #: worker threads in all, at least 1 (a cluster with no workers counts one)
    threads_by_worker: dict[str, int]  #: each worker's threads, by address
    #: the cluster adds workers when work waits (see `growable`): requests no worker meets wait for one to join,
    #: and fan-outs keep a backlog in flight for its adaptive target to see
    growable: bool = False


ELASTIC_KEY = ["flyte-dask", "elastic"]
"""The scheduler metadata where a driver that knows whether the cluster can grow says so, for nested fan-outs."""

_views: weakref.WeakKeyDictionary[Client, ClusterView] = weakref.WeakKeyDictionary()
_published: weakref.WeakKeyDictionary[Client, bool] = weakref.WeakKeyDictionary()


def growable(client: Client) -> bool | None:
    """Whether this process can tell that the cluster grows: the ``flyte-dask.elastic`` setting, or the client's
    cluster object running adaptive scaling (``cluster.adapt()``, or a `PoolCluster` pool's); None if it cannot tell
    (a scheduler address, inside a task), and the driver's word, left on the scheduler, decides."""
    setting = settings.get("elastic")
    if setting != "auto":
        return str(setting).lower() in ("true", "1", "yes")
    cluster = getattr(client, "cluster", None)
    if cluster is None:
        return None
    adaptives = [getattr(cluster, "_adaptive", None), *getattr(cluster, "adaptives", {}).values()]
    return any(a is not None and a.state in ("starting", "running") for a in adaptives)


def cluster_view(client: Client, max_age: float) -> ClusterView:
    """Each worker's advertised resources and threads, from a report at most ``max_age`` seconds old.

    Blocks this thread for a fresh report; async code uses `cluster_view_async`.
    """
    view = _recent_view(client, max_age)
    return view if view is not None else on_client_loop(client, _fetch_view(client))


async def cluster_view_async(client: Client, max_age: float) -> ClusterView:
    """`cluster_view` for async code: the report is fetched on the client's loop, the caller's is never blocked."""
    view = _recent_view(client, max_age)
    return view if view is not None else await _bridge.await_on(_client_loop(client), _fetch_view(client))


def _recent_view(client: Client, max_age: float) -> ClusterView | None:
    if scheduler_gone(client):
        raise lost_scheduler(client, "placing new work")
    view = _views.get(client)
    return view if view is not None and time.monotonic() - view.fetched <= max_age else None


async def _fetch_view(client: Client) -> ClusterView:
    """The scheduler's worker table and whether the cluster grows; a driver that knows leaves its word there."""
    rpc = scheduler_rpc(client)
    known = growable(client)
    if known is None:
        identity, grows = await asyncio.gather(
            rpc.identity(n_workers=-1), rpc.get_metadata(keys=ELASTIC_KEY, default=False)
        )
    else:
        identity, grows = await rpc.identity(n_workers=-1), known
        if _published.get(client) is not known:
            await rpc.set_metadata(keys=ELASTIC_KEY, value=known)
            _published[client] = known
    workers = identity.get("workers", {})
    offers = {address: dict(w.get("resources") or {}) for address, w in workers.items()}
    threads = {address: int(w.get("nthreads", 1)) for address, w in workers.items()}
    view = _views[client] = ClusterView(
        time.monotonic(), offers, max(1, sum(threads.values())), threads, growable=bool(grows)
    )
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
    return flyte_error("scheduler-lost", ConnectionError(message))


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
