"""`ClusterLimit` leases: the Dask `distributed.Semaphore` behind each limit, taken and returned from any loop."""

from __future__ import annotations

import threading
import weakref

import dask
from distributed import Client, Semaphore

from flyte_dask._internal import bridge as _bridge
from flyte_dask._internal.transport.health import _client_loop, scheduler_gone

_lock = threading.Lock()
_semaphores: weakref.WeakKeyDictionary[Client, dict[str, Semaphore]] = weakref.WeakKeyDictionary()


def limit_semaphore(client: Client, name: str, max_concurrent: int, lease_timeout: float | None) -> Semaphore:
    """This process's handle on limit ``name``'s Dask semaphore, for ``client``'s cluster."""
    with _lock:
        per_client = _semaphores.setdefault(client, {})
        sem = per_client.get(name)
        if sem is None:
            sem = per_client[name] = _register(client, name, max_concurrent, lease_timeout)
        return sem


def _register(client: Client, name: str, max_concurrent: int, lease_timeout: float | None) -> Semaphore:
    """Make the semaphore and register it with the scheduler under the limit's lease timeout.

    Dask reads the timeout from its config when a semaphore is made (its refresh
    interval) and first used (registration), so both happen here, under it.
    """
    settings = {} if lease_timeout is None else {"distributed.scheduler.locks.lease-timeout": f"{lease_timeout}s"}
    with dask.config.set(settings):
        sem = Semaphore(
            max_leases=max_concurrent, name=f"flyte-dask-limit-{name}", scheduler_rpc=client.scheduler, loop=client.loop
        )
        if lease_timeout is not None and sem.acquire(timeout=0):  # registers it now, while the setting holds
            sem.release()
    return sem


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
