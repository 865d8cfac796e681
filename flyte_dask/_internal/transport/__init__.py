"""transport: the only code that talks to the Dask client.

Runs on the driver and, for nested calls, in a worker's Dask task. Its modules:
`session` (connecting, the worker's client), `submission` (calls, batches and chains),
`leases` (`ClusterLimit` semaphores), `waits` (awaiting futures, failures as Flyte's
classes), `health` (the scheduler's liveness, the cluster's workers, whether it grows),
`reports` (what the scheduler can tell), `cluster` (the embedded cluster), `pools` (a
local cluster of pools that each scale on their own), `jobs` (batch-system jobs that report one that
cannot start). Everything else in flyte_dask
reaches Dask's client through the names below, and takes the types it annotates with
(`Client`, `Future`, `Security`, `Semaphore`) from here too.

May import: `flyte_dask.errors`, the shared `_internal` modules and `runtime` (the entry
points it submits); never `controllers` or the public modules.
"""

from __future__ import annotations

from distributed import Client, Future, Security, Semaphore

from flyte_dask._internal.transport.health import (
    ClusterView,
    cluster_view,
    cluster_view_async,
    ensure_scheduler,
    lost_scheduler,
    on_client_loop,
    scheduler_address,
    scheduler_check_interval,
    scheduler_gone,
)
from flyte_dask._internal.transport.jobs import watched_job
from flyte_dask._internal.transport.leases import (
    acquire_lease,
    limit_semaphore,
    release_leases,
)
from flyte_dask._internal.transport.pools import PoolAdaptive, PoolCluster, WorkerPool
from flyte_dask._internal.transport.reports import (
    cluster_report,
    dashboard_link,
    events,
    performance_report,
    span_report,
)
from flyte_dask._internal.transport.session import (
    DEFAULT_CONNECT_TIMEOUT,
    connect,
    current_client,
    embedded,
    init,
    require_client,
    shutdown,
)
from flyte_dask._internal.transport.submission import (
    ChainStage,
    picklable_result,
    submit_batches,
    submit_call,
    submit_call_async,
    submit_chains,
    unpicklable_argument,
)
from flyte_dask._internal.transport.waits import (
    Unrunnable,
    cancel,
    failure,
    gather,
    orchestrate_if_on_worker,
    release,
    result_async,
    wait,
)

__all__ = [
    "Client",
    "Future",
    "Security",
    "Semaphore",
    "ClusterView",
    "Unrunnable",
    "PoolAdaptive",
    "PoolCluster",
    "WorkerPool",
    "DEFAULT_CONNECT_TIMEOUT",
    "acquire_lease",
    "cancel",
    "cluster_report",
    "cluster_view",
    "cluster_view_async",
    "connect",
    "current_client",
    "embedded",
    "limit_semaphore",
    "dashboard_link",
    "ensure_scheduler",
    "events",
    "failure",
    "gather",
    "init",
    "lost_scheduler",
    "on_client_loop",
    "orchestrate_if_on_worker",
    "scheduler_address",
    "performance_report",
    "picklable_result",
    "release",
    "release_leases",
    "require_client",
    "result_async",
    "scheduler_check_interval",
    "scheduler_gone",
    "shutdown",
    "span_report",
    "ChainStage",
    "submit_batches",
    "submit_chains",
    "submit_call",
    "submit_call_async",
    "unpicklable_argument",
    "wait",
    "watched_job",
]
