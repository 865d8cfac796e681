"""`PoolCluster`: one local Dask cluster with pools of different workers (CPU, GPU), each scaling on its own.

Beyond Flyte 2 and Dask. Dask's ``cluster.adapt()`` sizes a cluster from one number and
starts one kind of worker, so it cannot grow a GPU pool for GPU work and a CPU pool for
CPU work. Here each pool has its own `PoolAdaptive`, whose target counts only the work
that pool's workers can take (`runtime.adaptive.pool_target`), so a pool can start from
zero and return to it: the scale-to-zero GPU pools of dask-kubernetes worker groups and
dask-jobqueue job types, on one machine.
"""

from __future__ import annotations

import dataclasses
import inspect
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from distributed import Nanny, Scheduler, SpecCluster
from distributed.core import clean_exception
from distributed.deploy.adaptive import Adaptive
from distributed.protocol.pickle import dumps

from flyte_dask._internal.runtime import adaptive as _target
from flyte_dask._internal.transport.cluster import EMBEDDED_PRELOAD, _keep_main_to_driver
from flyte_dask._resources import GPU_RESOURCE

POOL_FAILURES = ["flyte-dask", "pool-failures"]
"""Scheduler metadata: per pool whose workers cannot start, why (`PoolFailure`); waits read it (`Unrunnable`)."""


@dataclass(frozen=True)
class PoolFailure:
    """Why a pool's workers cannot start: the batch system refused its job, or holds it for a reason that will
    not clear on its own. The pool starts no more workers until ``adapt``/``scale`` asks for it again."""

    pool: str  #: the pool's name
    resources: dict[str, float]  #: what each of its workers would have offered
    takes_unrestricted: bool  #: whether it would have run work that asks for no resources
    why: str  #: the batch system's own words (the ``sbatch`` error, the ``squeue`` reason)


@dataclass(frozen=True)
class WorkerPool:
    """One kind of worker of a `PoolCluster`: what each advertises, its threads, and how it starts (beyond Flyte 2).

    By default each worker is a local `distributed.Nanny` process, and ``options`` are
    more Nanny options (``env``, ``memory_limit``). Any other ``worker_class`` (a
    dask-jobqueue job class such as ``SLURMJob``) is started as Dask's `SpecCluster`
    starts one, ``worker_class(scheduler_address, name=..., **options)``: its options
    must then start workers with these ``threads`` and ``resources`` themselves.
    """

    threads: int = 1  #: threads per worker
    resources: dict[str, float] = field(default_factory=dict)  #: Dask resources each worker advertises
    options: dict[str, Any] = field(default_factory=dict)  #: more options for ``worker_class``
    worker_class: type = Nanny  #: what starts one worker of the pool

    @property
    def takes_unrestricted(self) -> bool:
        """Whether work that asks for no resources counts toward this pool's size (CPU pools, not GPU pools)."""
        return not self.resources.get(GPU_RESOURCE)

    def spec(self, host: str) -> dict[str, Any]:
        """The `SpecCluster` worker spec of one worker of the pool, bound to ``host`` (local workers)."""
        if self.worker_class is not Nanny:
            return {"cls": self.worker_class, "options": dict(self.options)}
        options = {
            "nthreads": self.threads,
            "resources": dict(self.resources),
            "host": host,
            "dashboard_address": None,
            "preload": [EMBEDDED_PRELOAD],
        }
        return {"cls": Nanny, "options": {**options, **self.options}}


class PoolAdaptive(Adaptive):
    """Dask's `Adaptive` for one pool of workers on a cluster of several (beyond Flyte 2 and Dask): it counts, starts
    and retires that pool's workers only, with a target from the work they can take (`runtime.adaptive.pool_target`).

    ``pool`` says what each worker of the pool offers; its workers are those whose names start with ``prefix``;
    ``resize(n)`` asks the cluster for ``n`` of them (``PoolCluster.scale(n, pool=...)``, or dask-kubernetes'
    ``KubeCluster.scale(n, worker_group=...)``). ``kwargs`` go to `Adaptive` (``minimum``, ``maximum``,
    ``interval``, ``wait_count``, ``target_duration``).
    """

    def __init__(
        self, cluster: Any, pool: WorkerPool, prefix: str, resize: Callable[[int], Any], **kwargs: Any
    ) -> None:
        self.pool = pool  #: what each worker of the pool offers
        self.prefix = prefix  #: the start of the names of the pool's workers, and of no other worker's
        self.resize = resize  #: asks the cluster for that many of the pool's workers
        super().__init__(cluster, **kwargs)

    def _mine(self, names: set[Any]) -> set[Any]:
        return {name for name in names if str(name).startswith(self.prefix)}

    @property
    def plan(self) -> set[Any]:
        # A SpecCluster names the workers it plans; any other cluster is known by the workers that joined.
        return self._mine(self.cluster.plan if isinstance(self.cluster, SpecCluster) else self.cluster.observed)

    @property
    def requested(self) -> set[Any]:
        return self._mine(self.cluster.requested if isinstance(self.cluster, SpecCluster) else self.cluster.observed)

    @property
    def observed(self) -> set[Any]:
        return self._mine(self.cluster.observed)

    async def _on_scheduler(self, function: Any, **kwargs: Any) -> Any:
        response = await self.scheduler.run_function(function=dumps(function), args=dumps(()), kwargs=dumps(kwargs))
        if response["status"] != "OK":
            _, error, _ = clean_exception(**response)
            raise RuntimeError(f"the scheduler could not size the pool of {self.prefix}* workers") from error
        return response["result"]

    async def target(self) -> int:
        """Workers this pool needs for the work its workers can take (see `runtime.adaptive.pool_target`)."""
        return int(
            await self._on_scheduler(
                _target.pool_target,
                prefix=self.prefix,
                resources=self.pool.resources,
                threads=self.pool.threads,
                unrestricted=self.pool.takes_unrestricted,
                target_duration=self.target_duration,
            )
        )

    async def workers_to_close(self, target: int) -> list[str]:
        """This pool's idle workers, enough to bring it down to ``target``."""
        extra = len(self.observed) - target
        return (
            list(await self._on_scheduler(_target.idle_workers, prefix=self.prefix, count=extra)) if extra > 0 else []
        )

    async def scale_up(self, n: int) -> None:  # type: ignore[override]
        await _awaited(self.resize(n))

    async def scale_down(self, workers: list[str]) -> None:  # type: ignore[override]
        """Retire ``workers`` through the scheduler (their results move first), then size the pool without them."""
        if not workers:
            return
        await self.scheduler.retire_workers(names=workers, remove=True, close_workers=True)
        if isinstance(self.cluster, SpecCluster):
            await self.cluster.scale_down(workers)  # exactly these leave its plan
        else:
            await _awaited(self.resize(len(self.plan - set(workers))))


async def _awaited(result: Any) -> None:
    if inspect.isawaitable(result):
        await result


class PoolCluster(SpecCluster):
    """A local cluster of named worker pools, each scaled by `scale(n, pool=...)` or `adapt(pool=...)` (beyond
    Flyte 2 and Dask, whose ``adapt()`` sizes one kind of worker from one cluster-wide target).

    ``pools`` maps each pool's name to its `WorkerPool`; the first is the default pool.
    Every address binds to ``host``, the scheduler to ``port`` (0: any free one), its
    dashboard to ``dashboard_address`` (None: no dashboard); workers leave Ctrl-C to the driver and never rerun its
    script, as the embedded cluster's do. Example: ``PoolCluster({"cpu": WorkerPool(2),
    "gpu": WorkerPool(4, {"GPU": 1})})``, then ``adapt(pool="gpu", maximum=4)``.
    """

    def __init__(
        self,
        pools: dict[str, WorkerPool],
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        dashboard_address: str | None = "127.0.0.1:0",
        asynchronous: bool = False,
        **kwargs: Any,
    ) -> None:
        if not pools:
            raise ValueError("PoolCluster needs at least one pool, e.g. {'cpu': WorkerPool(threads=2)}")
        self.pools = dict(pools)  #: each pool's kind of worker, by name; the first is the default
        self.adaptives: dict[str, PoolAdaptive] = {}  #: the adaptive scaling of each pool that has it
        self.failures: dict[str, PoolFailure] = {}  #: pools whose workers cannot start, and why (`fail_pool`)
        self._host = host
        self._counters = dict.fromkeys(self.pools, 0)
        _keep_main_to_driver()
        # Without a dashboard the scheduler still serves /health and /metrics: on a free port, not Dask's 8787.
        served = {"dashboard_address": dashboard_address or f"{host}:0", "dashboard": dashboard_address is not None}
        scheduler = {"cls": Scheduler, "options": {"host": host, "port": port, **served}}
        super().__init__(workers={}, scheduler=scheduler, asynchronous=asynchronous, **kwargs)

    def _pool_of(self, pool: str | None) -> str:
        name = pool or next(iter(self.pools))
        if name not in self.pools:
            raise ValueError(f"PoolCluster has no pool {name!r}; its pools are {sorted(self.pools)}")
        return name

    def workers_of(self, pool: str) -> list[str]:
        """The names of the workers planned in ``pool``."""
        return [str(name) for name in self.worker_spec if str(name).startswith(f"{self._pool_of(pool)}-")]

    def fail_pool(self, pool: str, why: str) -> None:
        """Record that ``pool``'s workers cannot start (``why``: the batch system's words), stop planning any, and
        tell the scheduler, where every call waiting for such a worker reads it and fails (`Unrunnable`)."""
        spec = self.pools[pool]
        failure = PoolFailure(pool, dict(spec.resources), spec.takes_unrestricted, why)
        if self.failures.get(pool) == failure:
            return
        self.failures[pool] = failure
        joined = {info["name"] for info in self.scheduler_info.get("workers", {}).values()}
        for worker in self.workers_of(pool):
            if worker not in joined:
                del self.worker_spec[worker]  # never resubmitted: the job is left cancelled, not queued
        scheduler = self.scheduler
        if isinstance(scheduler, Scheduler):
            scheduler.set_metadata(keys=[*POOL_FAILURES, pool], value=dataclasses.asdict(failure))
        if self.loop is not None:
            self.loop.add_callback(self._correct_state)  # closes the jobs left out of the plan

    def _clear_failure(self, pool: str) -> None:
        if self.failures.pop(pool, None) is not None and isinstance(self.scheduler, Scheduler):
            self.scheduler.set_metadata(keys=[*POOL_FAILURES, pool], value=None)

    def scale(self, n: int = 0, memory: Any = None, cores: Any = None, *, pool: str | None = None) -> None:
        """Plan ``n`` workers in ``pool`` (the default pool if None); the others are left as they are. A pool whose
        workers cannot start (`fail_pool`) plans none until `adapt` is called for it again."""
        name = self._pool_of(pool)
        if name in self.failures:
            n = 0
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
            self.worker_spec[f"{name}-{self._counters[name]}"] = spec.spec(self._host)
        if self.loop is not None:
            self.loop.add_callback(self._correct_state)

    def adapt(  # type: ignore[override]
        self, pool: str | None = None, minimum: int = 0, maximum: float = math.inf, **kwargs: Any
    ) -> PoolAdaptive:
        """Scale ``pool`` with the work its workers can take, between ``minimum`` and ``maximum`` workers;
        ``kwargs`` go to Dask's `Adaptive` (``interval``, ``wait_count``, ``target_duration``)."""
        name = self._pool_of(pool)
        self._clear_failure(name)
        if name in self.adaptives:
            self.adaptives[name].stop(reason="adapt() called again")
        adaptive = self.adaptives[name] = PoolAdaptive(
            self,
            self.pools[name],
            f"{name}-",
            lambda n: self.scale(n, pool=name),
            minimum=minimum,
            maximum=maximum,
            **kwargs,
        )
        return adaptive

    async def _close(self) -> None:
        for adaptive in self.adaptives.values():
            adaptive.stop(reason="cluster closing")
        for pool in self.pools:  # Dask's close scales only the default pool (scale(0)) before it checks all closed
            self.scale(0, pool=pool)
        await super()._close()
