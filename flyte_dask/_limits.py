"""`ClusterLimit`: a concurrency limit that holds across every run and client of a cluster.

Enforced with Dask's `distributed.Semaphore`: the submitting side takes a lease before
it submits a call (or a map batch, which runs its items one at a time) and returns it
when the call ends, so no worker thread ever waits for a lease. Leases are refreshed by
the client that took them; if its process dies (kill -9, a lost machine), the scheduler
frees them within ``lease_timeout`` plus the scheduler's lease check interval: by
default 30 s + 10 s. Lower ``ClusterLimit(..., lease_timeout=...)`` and, where the
scheduler runs, Dask's ``distributed.scheduler.locks.lease-validation-interval`` (for
the embedded cluster: this process's Dask config) to free them sooner. A driver that
exits, is interrupted or fails returns its leases at once.
"""

from __future__ import annotations

from dataclasses import dataclass

from flyte_dask._internal import transport
from flyte_dask._internal.transport import Client, Semaphore


@dataclass(frozen=True)
class ClusterLimit:
    """At most ``max_concurrent`` calls of the tasks sharing ``name`` run at once, cluster-wide.

    Declare it on an environment (``TaskEnvironment(..., limit=ClusterLimit("openai", 8))``)
    or a task (``@env.task(limit=...)``); every task naming the same limit shares it,
    across runs, clients and processes. Beyond Flyte 2, which has no cluster-wide limit.
    """

    name: str
    max_concurrent: int
    lease_timeout: float | None = None  # seconds; None: Dask's distributed.scheduler.locks.lease-timeout (30 s)

    def __post_init__(self) -> None:
        if self.lease_timeout is not None and (
            not isinstance(self.lease_timeout, (int, float)) or self.lease_timeout <= 0
        ):
            raise ValueError(
                f"ClusterLimit(lease_timeout={self.lease_timeout!r}): use seconds > 0, or None for Dask's default"
            )
        if not isinstance(self.name, str) or not self.name:
            raise ValueError("ClusterLimit(name=...) must be a non-empty string")
        if not isinstance(self.max_concurrent, int) or isinstance(self.max_concurrent, bool) or self.max_concurrent < 1:
            raise ValueError(f"ClusterLimit(max_concurrent={self.max_concurrent!r}): use an int >= 1")

    def semaphore(self, client: Client) -> Semaphore:
        """This process's handle on the limit's Dask semaphore, for ``client``'s cluster."""
        return transport.limit_semaphore(client, self.name, self.max_concurrent, self.lease_timeout)
