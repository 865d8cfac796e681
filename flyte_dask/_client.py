"""All talk with the Dask client: the session, submission, and waiting on futures.

The driver holds one session (`init`), a synchronous `distributed.Client` whose event
loop runs in its own thread. Code running inside a task on a worker uses the worker's
client (`distributed.get_client`, one per worker process). Async code awaits futures by
running the client's asynchronous API (``client.gather(..., asynchronous=True)``) on the
client's loop through `_bridge`, so any event loop can await Dask futures without
blocking the client, and the client's loop never runs user code.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import functools
import importlib.util
import threading
import time
import warnings
import weakref
from collections.abc import Coroutine, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import cloudpickle
import dask
from dask.utils import parse_timedelta
from distributed import Client, Future, Security, Semaphore, Worker, get_client
from distributed.core import rpc
from distributed.client import FutureCancelledError
from distributed.scheduler import KilledWorker

from . import _bridge, errors
from ._calls import BatchResult, CallShape, TaskSpec
from ._cluster import start_local_cluster
from ._context import current_worker_task
from ._failures import as_flyte_error, install_excepthook, note_cancelled, user_frames
from ._gpu import can_receive_cuda
from ._nvml import probe
from ._orchestration import ResourceReleasePlugin
from ._quiet import quiet_compute_failures
from ._shipping import shipped, unshipped
from ._worker import picklable_items, run_batch, run_batch_async, run_call, run_call_async

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
_cached_results: dict[Any, Future] = {}
"""Futures of cached calls, held so the cluster keeps their results for later identical calls."""
_session_lock = threading.RLock()


def init(
    address: str | Client | Any | None = None, *, timeout: float = DEFAULT_CONNECT_TIMEOUT, security: Security | bool | None = None, **cluster_options: Any
) -> Client:
    """Connect this process to a Dask cluster; every task call after it is a Dask future.

    ``address`` may be a scheduler address (``"tcp://10.0.0.5:8786"``), a
    `distributed.Client`, or a cluster object (``LocalCluster``, ``LocalCUDACluster``,
    a dask-jobqueue or dask-kubernetes cluster). With none, Dask's own configuration is
    read (``DASK_SCHEDULER_ADDRESS`` or the ``scheduler-address`` key) and, failing
    that, an embedded local cluster is started (``LocalCUDACluster`` GPU workers plus
    CPU workers when NVML sees GPUs); ``cluster_options`` go to it. A scheduler that
    does not answer within ``timeout`` seconds raises `ConnectionError`.
    ``security`` (a `distributed.Security`) secures the connection to a ``tls://``
    scheduler; for the embedded cluster ``security=True`` makes throw-away certificates
    (`Security.temporary`, needs ``cryptography``) so it speaks TLS too. Without it,
    Dask's ``distributed.comm.tls`` config applies.
    Calling `init` again replaces the previous session.
    """
    if security is not None and not isinstance(security, (Security, bool)):
        raise TypeError(f"init(security=...) takes a distributed.Security (or True for the embedded cluster), not {type(security).__name__}")
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
            if security is not None:
                cluster_options["security"] = security
            cluster = start_local_cluster(**cluster_options)
            _session = Session(client=Client(cluster, set_as_default=False, security=cluster.security), cluster=cluster)
        else:
            _session = Session(client=connect(address, timeout, security if isinstance(security, Security) else None), cluster=None)
        _register_plugins(_session.client)
        install_excepthook(before_exit=shutdown)
        quiet_compute_failures()  # the embedded cluster closes before threads are torn down
        return _session.client


def _register_plugins(client: Client) -> None:
    """Install flyte_dask's scheduler plugin; a scheduler that cannot import flyte_dask still works."""
    try:
        client.register_plugin(ResourceReleasePlugin())
    except Exception as exc:
        warnings.warn(
            f"the Dask scheduler could not load flyte_dask's scheduler plugin ({exc}). Tasks that call tasks still "
            "give their resources back on the workers, but the scheduler's resource bookkeeping (the dashboard) "
            "will count them as held. Install flyte_dask where the scheduler runs.",
            RuntimeWarning,
            stacklevel=3,
        )


def connect(address: Any, timeout: float, security: Security | None = None) -> Client:
    """A client of the scheduler at ``address``; `ConnectionError` naming the fix if none answers in ``timeout`` seconds.

    A string address is first asked for its identity under our own deadline: a port that
    accepts connections but never speaks Dask (a dashboard, another service) would
    otherwise hold `distributed.Client` forever, whatever its ``timeout``.
    """
    where = address if isinstance(address, str) else getattr(address, "scheduler_address", repr(address))
    security = security or Security()  # Dask's distributed.comm.tls config
    if isinstance(address, str):
        if address.startswith("tls://") and getattr(security, "tls_ca_file", None) is None:
            raise ConnectionError(
                f"{address} speaks TLS, and no certificates were given: pass init({address!r}, security=distributed.Security("
                "tls_ca_file=..., tls_client_cert=..., tls_client_key=..., require_encryption=True)) or set Dask's distributed.comm.tls config"
            )
    try:
        if isinstance(address, str):
            _bridge.run_sync(_speaks_dask(address, timeout, security))
            return Client(address, timeout=timeout, set_as_default=False, security=security)
        return Client(address, timeout=timeout, set_as_default=False)
    except (OSError, TimeoutError) as exc:
        raise ConnectionError(
            f"could not reach the Dask scheduler at {where} within {timeout:g}s ({exc or type(exc).__name__}). "
            "Start one with `dask scheduler` (and workers with `dask worker ADDRESS`), check the address "
            "and firewall, or call flyte_dask.init() with no address for an embedded local cluster."
        ) from None


async def _speaks_dask(address: str, timeout: float, security: Security) -> None:
    """Raise `TimeoutError` unless a Dask scheduler at ``address`` answers within ``timeout`` seconds."""
    scheduler = rpc(address, timeout=timeout, connection_args=security.get_connection_args("client"))
    try:
        await asyncio.wait_for(scheduler.identity(), timeout)
    except asyncio.TimeoutError:
        raise TimeoutError(f"nothing at {address} answered as a Dask scheduler") from None
    finally:
        await scheduler.close_rpc()


def shutdown() -> None:
    """Close the session that `init` opened (and the cluster it started, if any)."""
    global _session
    with _session_lock:
        _cached_results.clear()
        if _session is not None:
            _session.close()
            _session = None


atexit.register(shutdown)


_worker_clients: weakref.WeakKeyDictionary[Worker, Client] = weakref.WeakKeyDictionary()
#: Held while a worker process makes its client: only one thread of it asks Dask for one.
_worker_client_lock = threading.Lock()


def current_client() -> Client | None:
    """The client task calls go through here, or None where tasks run as plain Python."""
    state = current_worker_task()
    if state is not None:
        client = _worker_clients.get(state.worker)
        return client if client is not None else _new_worker_client(state.worker)
    session = _session
    return session.client if session is not None else None


def _new_worker_client(worker: Worker) -> Client:
    """The worker process's client, made once and handed out only once it is connected.

    `distributed.Client` makes itself the default before it connects, so a second thread
    calling ``get_client()`` meanwhile gets a client still ``connecting``, a status that
    also means "reconnecting after losing the scheduler". The lock keeps our threads out
    of that window; `_connected` covers a client that user code is still making.
    """
    with _worker_client_lock:
        client = _worker_clients.get(worker)
        if client is None:
            client = get_client()
            if str(client.status) in _STARTING:
                _bridge.wait_on(worker.loop.asyncio_loop, _connected(client))
            _worker_clients[worker] = client
        return client


_STARTING = ("newly-created", "connecting")


async def _connected(client: Client) -> None:
    """Until a client another thread is making has connected; `ConnectionError` past Dask's connect timeout."""
    deadline = time.monotonic() + float(parse_timedelta(dask.config.get("distributed.comm.timeouts.connect")))
    while str(client.status) in _STARTING:  # Dask's Client offers no event for its start
        if time.monotonic() > deadline:
            raise ConnectionError(f"the worker's Dask client did not connect to {client.scheduler} in time")
        await asyncio.sleep(0.01)


def require_client() -> Client:
    """The current client, starting the default session first if there is none."""
    client = current_client()
    return client if client is not None else init()


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
    identity = await _bridge.await_on(_client_loop(client), client.scheduler.identity(n_workers=-1))
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


def cluster_report(client: Client) -> dict[str, Any]:
    """The raw facts `cluster_status` reads: the scheduler's worker table, GPUs in use per worker
    (the scheduler's bookkeeping), GPUs each worker's NVML sees, and package versions everywhere."""
    try:
        seen = client.run(_gpus_seen)
    except Exception:  # workers that cannot import flyte_dask cannot say
        seen = {}
    return {
        "address": str(client.scheduler.address),
        "workers": client.scheduler_info(n_workers=-1).get("workers", {}),
        "gpus_in_use": client.run_on_scheduler(_gpus_in_use),
        "gpus_seen": seen,
        "versions": client.get_versions(check=False),
    }


def _gpus_in_use(dask_scheduler: Any) -> dict[str, float]:
    return {address: ws.used_resources.get("GPU", 0) for address, ws in dask_scheduler.workers.items()}


def _gpus_seen() -> int:
    return len(probe().devices())


def performance_report(client: Client, filename: str) -> Any:
    """Dask's performance report of what runs inside the block (task stream, worker profile,
    bandwidth), saved as HTML to ``filename``. Needs bokeh (``flyte-dask[dashboard]``)."""
    if importlib.util.find_spec("bokeh") is None:
        raise RuntimeError(f"cannot write the report {filename}: Dask's reports need bokeh; pip install 'flyte-dask[dashboard]'")
    from distributed import performance_report as dask_report

    stack = contextlib.ExitStack()
    stack.enter_context(client.as_current())  # the report finds its client as Dask's current one
    stack.enter_context(dask_report(filename=filename))
    return stack


def span_report(client: Client, span_id: str) -> list[dict[str, Any]] | None:
    """Per task group in the span tree under ``span_id``, as the scheduler's spans extension
    has it: its group (span) names, task prefix, Dask task states, first start, last stop
    and compute seconds. None where the scheduler cannot run flyte_dask's code."""
    try:
        return list(client.run_on_scheduler(_span_report, span_id))
    except Exception:
        return None


def _span_report(span_id: str, dask_scheduler: Any = None) -> list[dict[str, Any]]:
    spans = dask_scheduler.extensions.get("spans")
    root = spans.spans.get(span_id) if spans is not None else None
    if root is None:
        return []
    return [
        {
            "span_id": span.id,
            "group": list(span.name),
            "task": group.prefix.name,
            "states": {state: count for state, count in group.states.items() if count},
            "start": group.start,
            "stop": group.stop,
            "compute": group.duration,
        }
        for span in root.traverse_spans()
        for group in span.groups
    ]


def events(client: Client, topic: str) -> list[tuple[float, Any]]:
    """The scheduler's event log for ``topic`` (the latest records it keeps)."""
    return list(client.get_events(topic))


def dashboard_link(client: Client) -> str | None:
    """The Dask dashboard's URL, when the cluster serves one."""
    try:
        return client.dashboard_link if client.scheduler_info().get("services", {}).get("dashboard") else None
    except Exception:
        return None


def _needs_host_copy(task: TaskSpec) -> bool:
    """Whether a GPU task's CuPy results must come back as NumPy (this process has no GPU)."""
    return bool(task.resources.gpu_count) and not can_receive_cuda()


def submit_call(
    client: Client, task: TaskSpec, args: tuple[Any, ...], kwargs: dict[str, Any], where: dict[str, Any], *, leased: bool = False
) -> Future:
    """Submit one call of ``task`` as one Dask future carrying its resources (its retries run on the worker).

    ``where`` is its placement (`_placement.placement`).
    A task under a `ClusterLimit` first takes a lease (blocking, out of the worker's
    thread pool when on a worker), unless the caller took it already (``leased``);
    the lease is returned when the future ends.
    """
    sem = task.options.limit.semaphore(client) if task.options.limit else None
    if sem is not None and not leased:
        orchestrate_if_on_worker()
        sem.acquire()
    try:
        future, fresh = _submit(client, task, args, kwargs, where)
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


async def submit_call_async(client: Client, task: TaskSpec, args: tuple[Any, ...], kwargs: dict[str, Any], where: dict[str, Any]) -> Future:
    """`submit_call` for async callers: waiting for a `ClusterLimit` lease does not block their loop."""
    if task.options.limit:
        await acquire_lease(client, task.options.limit.semaphore(client))
        return submit_call(client, task, args, kwargs, where, leased=True)
    return submit_call(client, task, args, kwargs, where)


async def acquire_lease(client: Client, sem: Semaphore, timeout: float | None = None) -> bool:
    """Take one lease of ``sem`` from any event loop; False if none came within ``timeout``."""
    return await _bridge.await_on(_client_loop(client), _acquire(sem, timeout))


async def release_leases(client: Client, sem: Semaphore, count: int) -> None:
    """Return ``count`` leases of ``sem`` from any event loop (they lapse by themselves if the scheduler is gone)."""
    if count and not scheduler_gone(client):
        await _bridge.await_on(_client_loop(client), _release(sem, count))


async def _acquire(sem: Semaphore, timeout: float | None) -> bool:
    return bool(await sem.acquire(timeout=timeout))


async def _release(sem: Semaphore, count: int) -> None:
    for _ in range(count):
        await sem.release()


def _submit(client: Client, task: TaskSpec, args: tuple[Any, ...], kwargs: dict[str, Any], where: dict[str, Any]) -> tuple[Future, bool]:
    """The call's future, and whether it is new (False: an identical cached call's)."""
    if scheduler_gone(client):
        raise lost_scheduler(client, f"a call of {task.name}")
    cached = task.cache_key(args, kwargs)
    if cached:
        held = _cached_results.get(cached)
        if held is not None and held.client is client and held.status in ("pending", "finished"):
            return held, False
    key = cached or task.new_key()
    extra = (key,) if task.is_async else ()
    try:
        future = client.submit(
            run_call_async if task.is_async else run_call,
            task,
            shipped((args, kwargs), task.by_value),
            _needs_host_copy(task),
            time.time(),
            *extra,
            key=key,
            pure=False,
            resources=task.dask_resources or None,
            **where,
        )
    except Exception as exc:
        raise_if_unpicklable(task.name, args, kwargs, exc)
        raise
    if cached:
        _cached_results[cached] = future
    return future, True


def submit_batches(
    client: Client, task: TaskSpec, shape: CallShape, batches: list[list[list[Any]]], where: Sequence[dict[str, Any]], concurrency: int = 0
) -> list[Future]:
    """Submit each batch of calls (as columns) as one Dask future (see `_worker.run_batch`).

    ``where[i]`` is batch i's placement. Batches placed alike go in one graph
    submission. ``concurrency`` bounds the items of one async batch running at once.
    """
    keys = [task.new_key() for _ in batches]
    if task.is_async:
        func: Any = functools.partial(run_batch_async, task, shape, _needs_host_copy(task), concurrency, time.time())
    else:
        func = functools.partial(run_batch, task, shape, _needs_host_copy(task), time.time())
    groups: dict[str, list[int]] = {}
    for index, restriction in enumerate(where):
        groups.setdefault(repr(sorted(restriction.items())), []).append(index)
    futures: list[Future | None] = [None] * len(batches)
    for indices in groups.values():
        columns = [shipped(batches[i], task.by_value) for i in indices]
        extra = ([keys[i] for i in indices],) if task.is_async else ()
        submitted = client.map(
            func, columns, *extra, key=[keys[i] for i in indices], pure=False, resources=task.dask_resources or None, **where[indices[0]]
        )
        for i, future in zip(indices, submitted):
            futures[i] = future
    return futures  # type: ignore[return-value]


def raise_if_unpicklable(task_name: str, args: tuple[Any, ...], kwargs: dict[str, Any], cause: BaseException) -> None:
    """If a submission failed because an argument cannot be pickled, say which one and how to fix it."""
    error = unpicklable_argument(task_name, args, kwargs)
    if error is not None:
        raise error from cause


def unpicklable_argument(task_name: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> TypeError | None:
    """A `TypeError` naming the first argument of a call that cannot be pickled, and the fix; None if all can."""
    named = [(f"positional argument {i}", v) for i, v in enumerate(args)] + [(f"argument {k!r}", v) for k, v in kwargs.items()]
    for where, value in named:
        try:
            cloudpickle.dumps(value)
        except Exception as exc:
            return TypeError(
                f"task {task_name}: {where} ({type(value).__name__}) cannot be pickled to ship it to a worker: {exc}. "
                "Pass picklable data (plain values, arrays, dataclasses) and create locks, clients, open files "
                "or connections inside the task instead."
            )
    return None


async def picklable_result(client: Client, future: Future, task: TaskSpec, first: int, item_name: str) -> BatchResult:
    """The result of batch ``future``, which Dask could not send back whole: a Dask task
    beside it (where its data is) replaces each value that cannot be pickled with a failure
    naming the item, so the other items still arrive."""
    repaired = client.submit(picklable_items, future, task.name, first, item_name, task.by_value, pure=False)
    return unshipped(await gather(client, [repaired]))[0]  # type: ignore[no-any-return]


def _client_loop(client: Client) -> asyncio.AbstractEventLoop:
    """The asyncio loop the client's coroutines run on (its own thread's)."""
    loop: asyncio.AbstractEventLoop | None = getattr(client.loop, "asyncio_loop", None)
    if loop is None:
        raise RuntimeError("the Dask client is closed; call flyte_dask.init() again")
    return loop


def orchestrate_if_on_worker() -> None:
    """Before a task waits on a call it made, give up its thread slot and resources (see `WorkerTask`)."""
    state = current_worker_task()
    if state is not None:
        state.orchestrate()


def wait(client: Client, future: Future) -> Any:
    """Block until ``future`` is done and return its value, raising the task's own exception (as Flyte's class)."""
    orchestrate_if_on_worker()
    try:
        return unshipped(_bridge.wait_on(_client_loop(client), _outcome(client, future)))
    except Exception as exc:
        error = exc
    except BaseException:  # Ctrl-C: the call stops on the cluster too
        _cancel_interrupted(client, future)
        raise
    raise user_frames(error)


def _cancel_interrupted(client: Client, future: Future) -> None:
    if not future.done() and not scheduler_gone(client):
        future.cancel()
        note_cancelled(f"cancelled the running call of {_task_of(future)}")


async def _outcome(client: Client, future: Future) -> Any:
    """The value of ``future``, or its failure as the error a caller should see (`explain`).

    While it waits, it checks every ``flyte-dask.scheduler-check`` seconds that the
    scheduler is still there (`ensure_scheduler`), so a lost or hung scheduler ends the
    wait with `errors.RuntimeSystemError` instead of holding it forever.
    """
    ended = asyncio.ensure_future(_ended(future))
    try:
        while not (await asyncio.wait({ended}, timeout=scheduler_check_interval()))[0]:
            await ensure_scheduler(client, f"a call of {_task_of(future)}")
    except BaseException:
        ended.cancel()
        raise
    try:
        return await client.gather(future, asynchronous=True)
    except (Exception, FutureCancelledError) as exc:
        error = exc
    if isinstance(error, FutureCancelledError) and scheduler_gone(client):
        raise lost_scheduler(client, f"a call of {_task_of(future)}")
    raise await explain(client, error)


async def _ended(future: Future) -> None:
    """Until ``future`` is done, on the caller's loop (a cancelled wait leaves nothing of Dask's behind)."""
    loop = asyncio.get_running_loop()
    ended = loop.create_future()

    def settle() -> None:
        if not ended.done():
            ended.set_result(None)

    def mark(_: Future) -> None:  # Dask calls it from a thread of its own
        loop.call_soon_threadsafe(settle)

    future.add_done_callback(mark)
    await ended


dask.config.update_defaults({"flyte-dask": {"scheduler-timeout": 10.0, "scheduler-check": 5.0}})
"""A wait with no news for ``scheduler-check`` seconds asks the scheduler for its identity
and gives up after ``scheduler-timeout`` more: a hung or unreachable scheduler is reported
within 15 s by default; a closed connection at once."""

_GONE = ("connecting", "closing", "closed")


def scheduler_check_interval() -> float:
    """Seconds a wait goes without news before it checks the scheduler is still there."""
    return float(dask.config.get("flyte-dask.scheduler-check"))


def _task_of(future: Future) -> str:
    key = future.key
    return str(key[0]).rsplit("-", 1)[0] if isinstance(key, tuple) else str(key)


def scheduler_gone(client: Client) -> bool:
    """Whether the client has lost its scheduler (Dask cancels every future when it does)."""
    return str(client.status) in _GONE


def lost_scheduler(client: Client, what: str, done: int | None = None, total: int | None = None) -> BaseException:
    """The error for work cut off by a lost scheduler: `errors.RuntimeSystemError` (and `ConnectionError`)."""
    address = getattr(client.scheduler, "address", None) or "the scheduler"
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
            await _bridge.await_on(_client_loop(client), asyncio.wait_for(client.scheduler.identity(), float(dask.config.get("flyte-dask.scheduler-timeout"))))
            return
        except (OSError, asyncio.TimeoutError):
            pass
    raise lost_scheduler(client, what, done, total)


async def explain(client: Client, error: BaseException) -> BaseException:
    """A Dask task's failure as Flyte's error class (see `flyte_dask.errors`); runs on the client's loop.

    The worker already made a task's own exception Flyte's; here Dask's ``KilledWorker``
    becomes `errors.RuntimeSystemError`, or `errors.OOMError` when the scheduler's event
    log says the nanny restarted that worker for memory.
    """
    if not isinstance(error, KilledWorker):
        return error
    address = getattr(error.last_worker, "address", None)
    try:
        restarts = await client.scheduler.events(topic="worker-restart-memory")
    except Exception:  # the scheduler is gone too: what we know is enough
        restarts = []
    oom = [event for _, event in restarts if event.get("worker") == address]
    if oom:
        why = f"The worker was restarted for exceeding its memory limit (it used {oom[-1].get('rss', 0) / 2**20:.0f} MiB)."
        return as_flyte_error(error, errors.OOMError, code="OOMError", message=f"{error} {why}", worker=address)
    return as_flyte_error(error, errors.RuntimeSystemError, message=str(error), worker=address)


async def gather(client: Client, futures: list[Future]) -> list[Any]:
    """Await the results of finished Dask ``futures`` from any event loop."""
    return await _bridge.await_on(_client_loop(client), client.gather(futures, asynchronous=True))  # type: ignore[no-any-return]


async def failure(client: Client, future: Future) -> BaseException:
    """Why ``future`` (erred, cancelled or lost as a whole) has no value, as a caller should see it."""

    async def why() -> BaseException:
        try:
            await client.gather(future, asynchronous=True)
        except BaseException as exc:
            return await explain(client, exc)
        return RuntimeError(f"{future.key} ended in state {future.status}")

    return await _bridge.await_on(_client_loop(client), why())


async def cancel(client: Client, futures: list[Future]) -> None:
    """Cancel ``futures`` on the cluster, from any event loop (nothing to do once the scheduler is gone)."""
    if futures and not scheduler_gone(client):
        await _bridge.await_on(_client_loop(client), client.cancel(futures, asynchronous=True))


async def result_async(client: Client, future: Future) -> Any:
    """Await one Dask future from any event loop; cancelling the await cancels the future."""
    orchestrate_if_on_worker()
    try:
        return unshipped(await _bridge.await_on(_client_loop(client), _outcome(client, future)))
    except BaseException:
        _cancel_interrupted(client, future)
        raise
