"""Where a call may run: resource requests checked against what workers offer, CPU work kept off GPUs.

On a fixed cluster, a request no worker can meet waits ``resources-timeout`` for workers
to join, then fails with an error naming what was asked and what the cluster offers,
instead of sitting forever in Dask's ``no-worker`` state. On a cluster that can grow
(`ClusterView.growable`) it is submitted at once: Dask holds it as unrunnable, which is
what an adaptive cluster's target counts, and the waits bound it by ``grow-timeout``.
CPU-only work is given the CPU-only workers as a loose restriction
(``allow_other_workers=True``): Dask uses GPU workers for it only when no CPU-only
worker exists.

Dask queues only unrestricted tasks on its scheduler (dask/distributed#8177): restricted
ones are assigned at once, and several can land on one busy worker while another sits
idle. So a fan-out of restricted work (GPU work, or CPU work on a cluster that also has
GPU workers) is planned with `WorkerCapacity`: each batch goes to the eligible worker
with the most room, and no more are in flight than those workers can run.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import Any

from dask.utils import parse_timedelta

from flyte_dask._internal import settings
from flyte_dask._internal.transport import (
    Client,
    ClusterView,
    cluster_view,
    cluster_view_async,
    on_client_loop,
)
from flyte_dask._resources import GPU_RESOURCE
from flyte_dask.errors import UnsatisfiableResourcesError

FRESH_SECONDS = 1.0
"""How old a view of the workers may be when planning where work goes."""


def _meets(offer: dict[str, float], request: dict[str, float]) -> bool:
    return all(offer.get(name, 0) >= amount for name, amount in request.items())


def placement(client: Client, task_name: str, request: dict[str, float]) -> dict[str, Any]:
    """The extra ``submit``/``map`` arguments for a call asking for ``request`` Dask resources.

    For sync callers: a wait for workers blocks this thread (never the client's loop).
    On a fixed cluster, raises `UnsatisfiableResourcesError` when no worker offers
    ``request`` within ``flyte-dask.resources-timeout`` (Dask config, default 30s); on one
    that can grow, returns at once (see the module doc).
    """
    view = cluster_view(client, FRESH_SECONDS)
    if request and not view.growable and not _offered(view, request):
        view = on_client_loop(client, _wait_for_offer(client, task_name, request))
    return _restriction(view, request)


async def placement_async(client: Client, task_name: str, request: dict[str, float]) -> dict[str, Any]:
    """`placement` for async callers: waiting for workers to join never blocks their event loop."""
    view = await cluster_view_async(client, FRESH_SECONDS)
    if request and not view.growable and not _offered(view, request):
        view = await _wait_for_offer(client, task_name, request)
    return _restriction(view, request)


def _offered(view: ClusterView, request: dict[str, float]) -> bool:
    return any(_meets(offer, request) for offer in view.offers.values())


def _restriction(view: ClusterView, request: dict[str, float]) -> dict[str, Any]:
    """Restricted work is placed by Dask's resources alone; CPU work prefers CPU-only workers."""
    if request:
        return {}
    gpu_workers = {address for address, offer in view.offers.items() if offer.get(GPU_RESOURCE)}
    cpu_workers = sorted(set(view.offers) - gpu_workers)
    if gpu_workers and cpu_workers:
        return {"workers": cpu_workers, "allow_other_workers": True}
    return {}


@dataclass
class WorkerCapacity:
    """Where one fan-out puts its Dask tasks, when Dask's own queuing cannot (see the module doc).

    ``capacity`` maps each eligible worker to how many of these tasks it runs at once;
    ``restriction`` is the placement every task keeps besides its pick.
    """

    capacity: dict[str, int]
    restriction: dict[str, Any]

    @property
    def total(self) -> int:
        """Tasks all eligible workers run at once."""
        return sum(self.capacity.values())

    def pick(self, load: dict[str, int]) -> tuple[dict[str, Any], str | None]:
        """Placement for one more task, given how many of ours each worker runs, and the worker
        picked (the freest), or None where the restriction alone places it."""
        if not self.capacity:
            return self.restriction, None
        address = max(self.capacity, key=lambda a: (self.capacity[a] - load.get(a, 0)) / self.capacity[a])
        return {"workers": [address], "allow_other_workers": True}, address


async def worker_capacity(
    client: Client, task_name: str, request: dict[str, float], is_async: bool
) -> WorkerCapacity | None:
    """The `WorkerCapacity` of a fan-out asking for ``request``, or None where Dask's queuing places it well.

    Sync tasks are bounded by worker threads and by the resources they ask for; async
    tasks hold no thread, so only by resources.
    """
    restriction = await placement_async(client, task_name, request)
    if not request and not restriction:
        return None  # unrestricted CPU work: Dask's scheduler queues it onto free threads
    view = await cluster_view_async(client, FRESH_SECONDS)
    if request:
        eligible = [a for a, offer in view.offers.items() if _meets(offer, request)]
    else:
        eligible = list(restriction["workers"])
    capacity = {}
    for address in eligible:
        fits = [
            int(view.offers[address].get(name, 0) / amount + 1e-9) for name, amount in request.items() if amount > 0
        ]
        if not is_async:
            fits.append(view.threads_by_worker.get(address, 1))
        capacity[address] = max(1, min(fits)) if fits else _UNBOUNDED
    return WorkerCapacity(capacity, restriction)


_UNBOUNDED = 1 << 20
"""Capacity of a worker for tasks that hold neither threads nor resources (async CPU work)."""


async def _wait_for_offer(client: Client, task_name: str, request: dict[str, float]) -> ClusterView:
    """The cluster's view once some worker offers ``request``, asked every 0.25 s (Dask's scheduler
    pushes no event when a worker joins); `UnsatisfiableResourcesError` after ``resources-timeout``."""
    timeout = parse_timedelta(settings.get("resources-timeout"))
    deadline = time.monotonic() + timeout
    view = await cluster_view_async(client, max_age=0)
    while not _offered(view, request):
        if time.monotonic() >= deadline:
            raise UnsatisfiableResourcesError.for_request(task_name, request, view.offers, timeout, view.growable)
        await asyncio.sleep(min(0.25, max(0.0, deadline - time.monotonic())))
        view = await cluster_view_async(client, max_age=0)
    return view
