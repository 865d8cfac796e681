"""Waiting on Dask futures from any thread or event loop, and their failures as Flyte's error classes.

Async code awaits futures by running the client's asynchronous API on the client's loop
through `bridge`, so any event loop can await Dask futures without blocking the
client, and the client's loop never runs user code. Every wait checks on the scheduler.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from typing import Any

from dask.utils import parse_timedelta
from distributed import Client, Future
from distributed.client import FutureCancelledError
from distributed.scheduler import KilledWorker

from flyte_dask import errors
from flyte_dask._internal import bridge as _bridge
from flyte_dask._internal import settings
from flyte_dask._internal.context import current_worker_task
from flyte_dask._internal.failures import flyte_error, user_frames
from flyte_dask._internal.interrupts import note_cancelled
from flyte_dask._internal.keys import as_key, task_of
from flyte_dask._internal.runtime.crashes import CRASH_TOPIC
from flyte_dask._internal.shipping import unshipped
from flyte_dask._internal.transport.health import (
    _client_loop,
    _task_of,
    cluster_view_async,
    ensure_scheduler,
    lost_scheduler,
    scheduler_check_interval,
    scheduler_gone,
    scheduler_rpc,
)
from flyte_dask._internal.transport.pools import POOL_FAILURES


def orchestrate_if_on_worker() -> None:
    """Before a task waits on a call it made, give up its thread slot and resources (see `WorkerTask`)."""
    state = current_worker_task()
    if state is not None:
        state.orchestrate()


def wait(client: Client, future: Future, request: dict[str, float] | None = None) -> Any:
    """Block until ``future`` is done and return its value, raising the task's own exception (as Flyte's class);
    ``request`` is the call's Dask resources, named if no worker can run it (`Unrunnable`)."""
    orchestrate_if_on_worker()
    try:
        return unshipped(_bridge.wait_on(_client_loop(client), _outcome(client, future, request)))
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


class Unrunnable:
    """How long a wait's Dask task has sat in the scheduler's ``no-worker`` state (no worker meets its request).

    Checked with each scheduler check: past ``flyte-dask.grow-timeout`` on a cluster that
    can grow, or ``resources-timeout`` on a fixed one (its workers left), the wait fails
    with `errors.UnsatisfiableResourcesError` instead of holding forever.
    """

    def __init__(self, task_name: str, request: dict[str, float]) -> None:
        self.task_name, self.request = task_name, request  #: what is waited for, for the error
        self.since: float | None = None  #: when the task was first seen unrunnable; None while it is runnable

    async def check(self, client: Client, future: Future) -> None:
        """Raise if ``future``'s task has been unrunnable for longer than the cluster's timeout."""
        rpc = scheduler_rpc(client)
        status = await _bridge.await_on(_client_loop(client), rpc.get_task_status(keys=[future.key]))
        state = status.get(future.key)
        if state not in ("no-worker", "queued"):
            self.since = None
            return
        view = await cluster_view_async(client, max_age=1.0)
        if state == "queued" and view.offers:  # waits for a thread of the workers there: it will run
            self.since = None
            return
        now = time.monotonic()
        self.since = self.since or now
        failed = await _bridge.await_on(_client_loop(client), rpc.get_metadata(keys=POOL_FAILURES, default=None))
        for failure in (failed or {}).values():
            if failure and (failure["resources"] if self.request else failure["takes_unrestricted"]):
                if all(failure["resources"].get(name, 0) >= amount for name, amount in self.request.items()):
                    raise errors.UnsatisfiableResourcesError(
                        f"task {self.task_name} asks for {self.request or 'a CPU worker'}, which only pool "
                        f"{failure['pool']!r} offers, and its workers cannot start: {failure['why']}. Fix the pool's "
                        "job options (queue, cores, memory, walltime, account) and call cluster.adapt(pool=...) again."
                    )
        limit = parse_timedelta(settings.get("grow-timeout" if view.growable else "resources-timeout"))
        if now - self.since >= limit:
            raise errors.UnsatisfiableResourcesError.for_request(
                self.task_name, self.request, view.offers, now - self.since, view.growable
            )


async def _outcome(client: Client, future: Future, request: dict[str, float] | None = None) -> Any:
    """The value of ``future``, or its failure as the error a caller should see (`explain`).

    While it waits, it checks every ``flyte-dask.scheduler-check`` seconds that the
    scheduler is still there (`ensure_scheduler`), so a lost or hung scheduler ends the
    wait with `errors.RuntimeSystemError` instead of holding it forever, and that the
    call can still run somewhere (`Unrunnable`).
    """
    ended = asyncio.ensure_future(_ended(future))
    unrunnable = Unrunnable(_task_of(future), request or {})
    try:
        while not (await asyncio.wait({ended}, timeout=scheduler_check_interval()))[0]:
            await ensure_scheduler(client, f"a call of {_task_of(future)}")
            await unrunnable.check(client, future)
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

    def end() -> None:
        if not ended.done():
            ended.set_result(None)

    def mark(_: Future) -> None:  # Dask calls it from a thread of its own
        loop.call_soon_threadsafe(end)

    future.add_done_callback(mark)
    await ended


async def explain(client: Client, error: BaseException) -> BaseException:
    """A Dask task's failure as Flyte's error class (see `flyte_dask.errors`); runs on the client's loop.

    The worker already made a task's own exception Flyte's; here Dask's ``KilledWorker``
    becomes `errors.RuntimeSystemError`, or `errors.OOMError` when the scheduler's event
    log says the nanny restarted that worker for memory, and code the cluster cannot
    import (Dask's "Error during deserialization of the task graph") becomes
    `errors.ModuleLoadError` naming the module and the fix.
    """
    missing = _missing_module(error)
    if missing is not None:
        return missing
    if not isinstance(error, KilledWorker):
        return error
    address = getattr(error.last_worker, "address", None)
    try:
        restarts = await scheduler_rpc(client).events(topic="worker-restart-memory")
    except Exception:  # the scheduler is gone too: what we know is enough
        restarts = []
    oom = [event for _, event in restarts if event.get("worker") == address]
    if oom:
        why = f"The worker was restarted for exceeding its memory limit (it used {oom[-1].get('rss', 0) / 2**20:.0f} MiB)."
        return flyte_error("worker-restarted-for-memory", error, message=f"{error} {why}", worker=address)
    return flyte_error(
        "worker-lost", error, message=f"{error}{await _crashed_beside(client, error.task)}", worker=address
    )


async def _crashed_beside(client: Client, key: Any) -> str:
    """What else the workers that died under ``key`` were running (`runtime.crashes` records it), as a sentence
    naming the suspects: a task that kills its process takes every call on that worker with it."""
    try:
        crashes = await scheduler_rpc(client).events(topic=CRASH_TOPIC)
    except Exception:  # the scheduler is gone too: what we know is enough
        return ""
    beside: Counter[str] = Counter()
    deaths = 0
    for _, crash in crashes:
        keys = [as_key(k) for k in crash.get("keys", ())]
        if key in keys:
            deaths += 1
            beside.update(task_of(k) for k in keys if k != key)
    if not beside:
        return ""
    tasks = ", ".join(f"{name} ({count} Dask task{'s' if count > 1 else ''})" for name, count in beside.items())
    return (
        f" Each of the {deaths} times its worker died, it was also running {tasks}: a call that kills its process "
        "(os._exit, a crash in a C extension, the OOM killer) takes every call on that worker with it."
    )


def _missing_module(error: BaseException) -> BaseException | None:
    """Flyte's `errors.ModuleLoadError` for a call the scheduler or a worker could not unpickle
    for want of a module; None for any other failure (a task's own errors are Flyte's already)."""
    cause = error if isinstance(error, ModuleNotFoundError) else error.__cause__
    if isinstance(error, errors.BaseRuntimeError) or not isinstance(cause, ModuleNotFoundError):
        return None
    name = cause.name or str(cause)
    message = (
        f"the Dask cluster cannot import {name!r}, which the task's code or data needs: {cause}. "
        f"Install {name.split('.')[0]!r} where the scheduler and workers run (the same version as here), "
        "or, if it is your project's own code, import it at the top of the task's module so flyte_dask ships it "
        "to them by value."
    )
    return flyte_error("module-missing", cause, message=message)


async def gather(client: Client, futures: list[Future]) -> list[Any]:
    """Await the results of finished Dask ``futures`` from any event loop."""
    return await _bridge.await_on(_client_loop(client), client.gather(futures, asynchronous=True))


async def failure(client: Client, future: Future) -> BaseException:
    """Why ``future`` (erred, cancelled or lost as a whole) has no value, as a caller should see it."""

    async def why() -> BaseException:
        try:
            await client.gather(future, asynchronous=True)
        except BaseException as exc:
            return await explain(client, exc)
        return RuntimeError(f"{future.key} ended in state {future.status}")

    return await _bridge.await_on(_client_loop(client), why())


def release(client: Client, futures: list[Future]) -> None:
    """Drop this process's hold on ``futures`` (collected: their values are here) in one hop to the client's loop.

    Dask's own `Future.release` (run when a future is garbage collected) hops to the
    client's loop once per future, and each hop wakes that loop from this thread: at
    thousands of results a second, on a driver whose loop also runs the embedded
    scheduler, that is work taken from the scheduler. Futures already released are skipped.
    """
    keys = []
    for future in futures:
        if not future._cleared and future._generation == client.generation:
            future._cleared = True  # Future.release (and __del__) now does nothing
            keys.append(future.key)
    if keys and client.loop is not None:
        client.loop.add_callback(_release_keys, client, keys)


def _release_keys(client: Client, keys: list[Any]) -> None:
    for key in keys:
        client._dec_ref(key)


async def cancel(client: Client, futures: list[Future]) -> None:
    """Cancel ``futures`` on the cluster, from any event loop (nothing to do once the scheduler is gone)."""
    if futures and not scheduler_gone(client):
        await _bridge.await_on(_client_loop(client), client.cancel(futures, asynchronous=True))


async def result_async(client: Client, future: Future, request: dict[str, float] | None = None) -> Any:
    """Await one Dask future from any event loop; cancelling the await cancels the future."""
    orchestrate_if_on_worker()
    try:
        return unshipped(await _bridge.await_on(_client_loop(client), _outcome(client, future, request)))
    except BaseException:
        _cancel_interrupted(client, future)
        raise
