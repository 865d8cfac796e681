"""`PoolCluster`: one local Dask cluster with pools of different workers (CPU, GPU), each scaling on its own.

Beyond Flyte 2 and Dask. Dask's ``cluster.adapt()`` sizes a cluster from one number and
starts one kind of worker, so it cannot grow a GPU pool for GPU work and a CPU pool for
CPU work. Here each pool has its own `PoolAdaptive`, whose target counts only the work
that pool's workers can take (`runtime.adaptive.pool_target`), so a pool can start from
zero and return to it: the scale-to-zero GPU pools of dask-kubernetes worker groups and
dask-jobqueue job types, on one machine.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from distributed import Nanny, Scheduler, SpecCluster
from distributed.core import clean_exception
from distributed.deploy.adaptive import Adaptive
from distributed.protocol.pickle import dumps

from flyte_dask._internal.runtime import adaptive as _target
from flyte_dask._internal.transport.cluster import EMBEDDED_PRELOAD, _keep_main_to_driver
from flyte_dask._resources import GPU_RESOURCE


@dataclass(frozen=True)
class WorkerPool:
    """One kind of worker: what each advertises, its threads, and any other `Nanny` options (``env``, ``preload``,
    ``memory_limit``)."""

    threads: int = 1  #: threads per worker
    resources: dict[str, float] = field(default_factory=dict)  #: Dask resources each worker advertises
    options: dict[str, Any] = field(default_factory=dict)  #: more options for `distributed.Nanny`

    @property
    def takes_unrestricted(self) -> bool:
        """Whether work that asks for no resources counts toward this pool's size (CPU pools, not GPU pools)."""
        return not self.resources.get(GPU_RESOURCE)


class PoolAdaptive(Adaptive):
    """Dask's `Adaptive` for one pool of a `PoolCluster`: it counts, starts and retires that pool's workers only."""

    def __init__(self, cluster: PoolCluster, pool: str, **kwargs: Any) -> None:
        self.pool = pool  #: the pool's name; its workers' names start with ``<pool>-``
        self.pools = cluster  #: the cluster, typed as ours (Dask's `Adaptive` types ``cluster`` as any cluster)
        super().__init__(cluster, **kwargs)

    def _mine(self, names: set[Any]) -> set[Any]:
        return {name for name in names if str(name).startswith(f"{self.pool}-")}

    @property
    def plan(self) -> set[Any]:
        return self._mine(self.cluster.plan)

    @property
    def requested(self) -> set[Any]:
        return self._mine(self.cluster.requested)

    @property
    def observed(self) -> set[Any]:
        return self._mine(self.cluster.observed)

    async def _on_scheduler(self, function: Any, **kwargs: Any) -> Any:
        response = await self.scheduler.run_function(function=dumps(function), args=dumps(()), kwargs=dumps(kwargs))
        if response["status"] != "OK":
            _, error, _ = clean_exception(**response)
            raise RuntimeError(f"the scheduler could not size pool {self.pool!r}") from error
        return response["result"]

    async def target(self) -> int:
        """Workers this pool needs for the work its workers can take (see `runtime.adaptive.pool_target`)."""
        pool = self.pools.pools[self.pool]
        return int(
            await self._on_scheduler(
                _target.pool_target,
                prefix=f"{self.pool}-",
                resources=pool.resources,
                threads=pool.threads,
                unrestricted=pool.takes_unrestricted,
                target_duration=self.target_duration,
            )
        )

    async def workers_to_close(self, target: int) -> list[str]:
        """This pool's idle workers, enough to bring it down to ``target``."""
        extra = len(self.observed) - target
        return (
            list(await self._on_scheduler(_target.idle_workers, prefix=f"{self.pool}-", count=extra))
            if extra > 0
            else []
        )

    async def scale_up(self, n: int) -> None:  # type: ignore[override]
        self.pools.scale(n, pool=self.pool)


class PoolCluster(SpecCluster):
    """A local cluster of named worker pools, each scaled by `scale(n, pool=...)` or `adapt(pool=...)`.

    ``pools`` maps each pool's name to its `WorkerPool`; the first is the default pool.
    Every address binds to ``host``; workers leave Ctrl-C to the driver and never rerun its
    script, as the embedded cluster's do. Example: ``PoolCluster({"cpu": WorkerPool(2),
    "gpu": WorkerPool(4, {"GPU": 1})})``, then ``adapt(pool="gpu", maximum=4)``.
    """

    def __init__(
        self,
        pools: dict[str, WorkerPool],
        *,
        host: str = "127.0.0.1",
        dashboard_address: str | None = "127.0.0.1:0",
        asynchronous: bool = False,
        **kwargs: Any,
    ) -> None:
        if not pools:
            raise ValueError("PoolCluster needs at least one pool, e.g. {'cpu': WorkerPool(threads=2)}")
        self.pools = dict(pools)  #: each pool's kind of worker, by name; the first is the default
        self.adaptives: dict[str, PoolAdaptive] = {}  #: the adaptive scaling of each pool that has it
        self._host = host
        self._counters = dict.fromkeys(self.pools, 0)
        _keep_main_to_driver()
        scheduler = {"cls": Scheduler, "options": {"host": host, "dashboard_address": dashboard_address}}
        super().__init__(workers={}, scheduler=scheduler, asynchronous=asynchronous, **kwargs)

    def _pool_of(self, pool: str | None) -> str:
        name = pool or next(iter(self.pools))
        if name not in self.pools:
            raise ValueError(f"PoolCluster has no pool {name!r}; its pools are {sorted(self.pools)}")
        return name

    def workers_of(self, pool: str) -> list[str]:
        """The names of the workers planned in ``pool``."""
        return [str(name) for name in self.worker_spec if str(name).startswith(f"{self._pool_of(pool)}-")]

    def scale(self, n: int = 0, memory: Any = None, cores: Any = None, *, pool: str | None = None) -> None:
        """Plan ``n`` workers in ``pool`` (the default pool if None); the others are left as they are."""
        name = self._pool_of(pool)
        spec = self.pools[name]
        if cores is not None:
            n = max(n, math.ceil(cores / spec.threads))
        planned = self.workers_of(name)
        launched = {v["name"] for v in self.scheduler_info.get("workers", {}).values()}
        for worker in sorted(planned, key=lambda w: w in launched):  # not-yet-launched ones go first
            if len(self.workers_of(name)) <= n:
                break
            del self.worker_spec[worker]
        while len(self.workers_of(name)) < n:
            self._counters[name] += 1
            options = {
                "nthreads": spec.threads,
                "resources": dict(spec.resources),
                "host": self._host,
                "dashboard_address": None,
                "preload": [EMBEDDED_PRELOAD],
            }
            self.worker_spec[f"{name}-{self._counters[name]}"] = {"cls": Nanny, "options": {**options, **spec.options}}
        if self.loop is not None:
            self.loop.add_callback(self._correct_state)

    def adapt(  # type: ignore[override]
        self, pool: str | None = None, minimum: int = 0, maximum: float = math.inf, **kwargs: Any
    ) -> PoolAdaptive:
        """Scale ``pool`` with the work its workers can take, between ``minimum`` and ``maximum`` workers;
        ``kwargs`` go to Dask's `Adaptive` (``interval``, ``wait_count``, ``target_duration``)."""
        name = self._pool_of(pool)
        if name in self.adaptives:
            self.adaptives[name].stop(reason="adapt() called again")
        adaptive = self.adaptives[name] = PoolAdaptive(self, name, minimum=minimum, maximum=maximum, **kwargs)
        return adaptive

    async def _close(self) -> None:
        for adaptive in self.adaptives.values():
            adaptive.stop(reason="cluster closing")
        await super()._close()
