"""`ClusterLimit`: a concurrency limit that holds across every run and client of a cluster.

Enforced with Dask's `distributed.Semaphore`: the submitting side takes a lease before
it submits a call (or a map batch, which runs its items one at a time) and returns it
when the call ends, so no worker thread ever waits for a lease. Leases are refreshed by
the client that took them; if its process dies, the scheduler frees them after
``distributed.scheduler.locks.lease-timeout`` (30s by default).
"""

from __future__ import annotations

import threading
import weakref
from dataclasses import dataclass

from distributed import Client, Semaphore


@dataclass(frozen=True)
class ClusterLimit:
    """At most ``max_concurrent`` calls of the tasks sharing ``name`` run at once, cluster-wide.

    Declare it on an environment (``TaskEnvironment(..., limit=ClusterLimit("openai", 8))``)
    or a task (``@env.task(limit=...)``); every task naming the same limit shares it,
    across runs, clients and processes. Beyond Flyte 2, which has no cluster-wide limit.
    """

    name: str
    max_concurrent: int

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name:
            raise ValueError("ClusterLimit(name=...) must be a non-empty string")
        if not isinstance(self.max_concurrent, int) or isinstance(self.max_concurrent, bool) or self.max_concurrent < 1:
            raise ValueError(f"ClusterLimit(max_concurrent={self.max_concurrent!r}): use an int >= 1")

    def semaphore(self, client: Client) -> Semaphore:
        """This process's handle on the limit's Dask semaphore, for ``client``'s cluster."""
        with _lock:
            per_client = _semaphores.setdefault(client, {})
            sem = per_client.get(self.name)
            if sem is None:
                sem = Semaphore(max_leases=self.max_concurrent, name=f"flyte-dask-limit-{self.name}", scheduler_rpc=client.scheduler, loop=client.loop)
                per_client[self.name] = sem
            return sem


_lock = threading.Lock()
_semaphores: weakref.WeakKeyDictionary[Client, dict[str, Semaphore]] = weakref.WeakKeyDictionary()
