"""All talk with the Dask client: the session, submission, and waiting on futures.

The driver holds one session (`init`), a synchronous `distributed.Client` whose event
loop runs in its own thread. Code running inside a task on a worker uses the worker's
client (`distributed.get_client`). Async code awaits futures by running the client's
asynchronous API (``client.gather(..., asynchronous=True)``) on the client's loop and
awaiting that from its own loop, so any event loop can await Dask futures without
blocking the client.
"""

from __future__ import annotations

import asyncio
import atexit
import concurrent.futures
import functools
import threading
from collections.abc import Coroutine
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

import cloudpickle
import dask
from distributed import Client, Future, Semaphore, get_client

from ._cluster import start_local_cluster
from ._context import current_worker_task
from ._gpu import can_receive_cuda
from ._placement import placement
from ._shipping import shipped, unshipped
from ._worker import CallShape, run_batch, run_call

if TYPE_CHECKING:
    from ._task import TaskTemplate

T = TypeVar("T")

DEFAULT_CONNECT_TIMEOUT = 10.0
"""Seconds `init` waits for a scheduler before giving up with a clear error."""


@dataclass
class Session:
    """The driver's connection to Dask: its client and, when we started it, the cluster."""

    client: Client
    cluster: Any | None

    def close(self) -> None:
        """Close the client, and the cluster if this session started it."""
        self.client.close()
        if self.cluster is not None:
            self.cluster.close()


_session: Session | None = None
_cached_results: dict[str, Future] = {}
"""Futures of cached calls, held so the cluster keeps their results for later identical calls."""
_session_lock = threading.RLock()


def init(address: str | Client | Any | None = None, *, timeout: float = DEFAULT_CONNECT_TIMEOUT, **cluster_options: Any) -> Client:
    """Connect this process to a Dask cluster; every task call after it is a Dask future.

    ``address`` may be a scheduler address (``"tcp://10.0.0.5:8786"``), a
    `distributed.Client`, or a cluster object (``LocalCluster``, ``LocalCUDACluster``,
    a dask-jobqueue or dask-kubernetes cluster). With none, Dask's own configuration is
    read (``DASK_SCHEDULER_ADDRESS`` or the ``scheduler-address`` key) and, failing
    that, an embedded local cluster is started (``LocalCUDACluster`` GPU workers plus
    CPU workers when NVML sees GPUs); ``cluster_options`` go to it. A scheduler that
    does not answer within ``timeout`` seconds raises `ConnectionError`.
    Calling `init` again replaces the previous session.
    """
    global _session
    with _session_lock:
        shutdown()
        if address is None:
            address = dask.config.get("scheduler-address", None)
        if isinstance(address, Client):
            if address.asynchronous:
                raise TypeError(
                    "init() needs a synchronous distributed.Client (sync task calls block on it); "
                    "pass the scheduler address instead, or create the client without asynchronous=True"
                )
            _session = Session(client=address, cluster=None)
        elif address is None:
            cluster = start_local_cluster(**cluster_options)
            _session = Session(client=Client(cluster, set_as_default=False), cluster=cluster)
        else:
            _session = Session(client=_connect(address, timeout), cluster=None)
        return _session.client


def _connect(address: Any, timeout: float) -> Client:
    where = address if isinstance(address, str) else getattr(address, "scheduler_address", repr(address))
    try:
        return Client(address, timeout=timeout, set_as_default=False)
    except (OSError, TimeoutError) as exc:
        raise ConnectionError(
            f"could not reach the Dask scheduler at {where} within {timeout:g}s ({exc}). "
            "Start one with `dask scheduler` (and workers with `dask worker ADDRESS`), check the address "
            "and firewall, or call flyte_dask.init() with no address for an embedded local cluster."
        ) from None


def shutdown() -> None:
    """Close the session that `init` opened (and the cluster it started, if any)."""
    global _session
    with _session_lock:
        _cached_results.clear()
        if _session is not None:
            _session.close()
            _session = None


atexit.register(shutdown)


def current_client() -> Client | None:
    """The client task calls go through here, or None where tasks run as plain Python."""
    if current_worker_task() is not None:
        return get_client()
    session = _session
    return session.client if session is not None else None


def require_client() -> Client:
    """The current client, starting the default session first if there is none."""
    client = current_client()
    return client if client is not None else init()


def dashboard_link(client: Client) -> str | None:
    """The Dask dashboard's URL, when the cluster serves one."""
    try:
        return client.dashboard_link if client.scheduler_info().get("services", {}).get("dashboard") else None
    except Exception:
        return None


def _needs_host_copy(task: TaskTemplate[Any, Any]) -> bool:
    """Whether a GPU task's CuPy results must come back as NumPy (this process has no GPU)."""
    return bool(task.resources.gpu_count) and not can_receive_cuda()


def submit_call(
    client: Client, task: TaskTemplate[Any, Any], args: tuple[Any, ...], kwargs: dict[str, Any], key: str | None = None, *, leased: bool = False
) -> Future:
    """Submit one call of ``task`` as one Dask future carrying its resources and retries.

    A task under a `ClusterLimit` first takes a lease (blocking, out of the worker's
    thread pool when on a worker), unless the caller took it already (``leased``);
    the lease is returned when the future ends.
    """
    sem = task.options.limit.semaphore(client) if task.options.limit else None
    if sem is not None and not leased:
        leave_pool_if_on_worker()
        sem.acquire()
    try:
        future, fresh = _submit(client, task, args, kwargs, key)
    except BaseException:
        if sem is not None:
            sem.release()
        raise
    if sem is not None:
        if fresh:
            future.add_done_callback(lambda _: sem.release())
        else:  # a cached call that is already under way or done runs nothing new
            sem.release()
    return future


async def submit_call_async(client: Client, task: TaskTemplate[Any, Any], args: tuple[Any, ...], kwargs: dict[str, Any]) -> Future:
    """`submit_call` for async callers: waiting for a `ClusterLimit` lease does not block their loop."""
    if task.options.limit:
        sem = task.options.limit.semaphore(client)
        await await_on_client_loop(client, _acquire(sem))
        return submit_call(client, task, args, kwargs, leased=True)
    return submit_call(client, task, args, kwargs)


async def _acquire(sem: Semaphore) -> None:
    await sem.acquire()


def _submit(client: Client, task: TaskTemplate[Any, Any], args: tuple[Any, ...], kwargs: dict[str, Any], key: str | None) -> tuple[Future, bool]:
    """The call's future, and whether it is new (False: an identical cached call's)."""
    cached = task.cache_key(args, kwargs)
    if cached:
        held = _cached_results.get(cached)
        if held is not None and held.client is client and held.status in ("pending", "finished"):
            return held, False
    where = placement(client, task.name, task.dask_resources)
    try:
        future = client.submit(
            run_call,
            task,
            shipped((args, kwargs), task.by_value),
            _needs_host_copy(task),
            key=cached or key or task.new_key(),
            pure=False,
            resources=task.dask_resources or None,
            retries=task.retries or None,
            **where,
        )
    except Exception as exc:
        raise_if_unpicklable(task.name, args, kwargs, exc)
        raise
    if cached:
        _cached_results[cached] = future
    return future, True


def submit_batches(
    client: Client, task: TaskTemplate[Any, Any], shape: CallShape, batches: list[list[list[Any]]], where: dict[str, Any]
) -> list[Future]:
    """Submit each batch of mapped items (as columns) as one Dask future (see `_worker.run_batch`).

    ``where`` is the batch's `placement`, worked out once per map.
    """
    return client.map(
        functools.partial(run_batch, task, shape, _needs_host_copy(task)),
        [shipped(columns, task.by_value) for columns in batches],
        key=[task.new_key() for _ in batches],
        pure=False,
        resources=task.dask_resources or None,
        **where,
    )


def raise_if_unpicklable(task_name: str, args: tuple[Any, ...], kwargs: dict[str, Any], cause: BaseException) -> None:
    """If a submission failed because an argument cannot be pickled, say which one and how to fix it."""
    named = [(f"positional argument {i}", v) for i, v in enumerate(args)] + [(f"argument {k!r}", v) for k, v in kwargs.items()]
    for where, value in named:
        try:
            cloudpickle.dumps(value)
        except Exception as exc:
            raise TypeError(
                f"task {task_name}: {where} ({type(value).__name__}) cannot be pickled to ship it to a worker: {exc}. "
                "Pass picklable data (plain values, arrays, dataclasses) and create locks, clients, open files "
                "or connections inside the task instead."
            ) from cause


def leave_pool_if_on_worker() -> None:
    """Before blocking on a nested call, free this worker thread's slot (see `WorkerTask`)."""
    state = current_worker_task()
    if state is not None:
        state.leave_pool()


def wait(future: Future) -> Any:
    """Block until ``future`` is done and return its value, raising the task's own exception."""
    leave_pool_if_on_worker()
    return unshipped(future.result())


def _on_client_loop(client: Client) -> bool:
    try:
        return asyncio.get_running_loop() is client.loop.asyncio_loop
    except RuntimeError:
        return False


def schedule_on_client_loop(client: Client, coro: Coroutine[Any, Any, T]) -> concurrent.futures.Future[T]:
    """Run ``coro`` on the client's event loop from another thread; returns a thread-safe future."""
    if _on_client_loop(client):
        coro.close()
        raise RuntimeError("a blocking flyte_dask call was made on the Dask client's own event loop; use the .aio form")
    return asyncio.run_coroutine_threadsafe(coro, client.loop.asyncio_loop)


async def await_on_client_loop(client: Client, coro: Coroutine[Any, Any, T]) -> T:
    """Await ``coro`` running on the client's event loop from whichever loop is running here."""
    if _on_client_loop(client):
        return await coro
    return await asyncio.wrap_future(schedule_on_client_loop(client, coro))


async def result_async(client: Client, future: Future) -> Any:
    """Await a Dask future from any event loop; cancelling the await cancels the future."""
    leave_pool_if_on_worker()
    try:
        return unshipped(await await_on_client_loop(client, client.gather(future, asynchronous=True)))
    except asyncio.CancelledError:
        future.cancel()
        raise
