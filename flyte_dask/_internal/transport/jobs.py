"""Batch-system jobs (dask-jobqueue) that report a job which cannot start to their `PoolCluster`.

A dask-jobqueue job that ``sbatch``/``qsub`` refuses raises once inside Dask's cluster loop, and one that SLURM
holds pending for a reason that cannot clear just waits: either way a map waiting for its workers would
wait forever. `watched_job` makes the pool's job class say so to the cluster (`PoolCluster.fail_pool`).
"""

from __future__ import annotations

import asyncio
from typing import Any

from distributed.deploy.spec import ProcessInterface

from flyte_dask._internal.transport.pools import PoolCluster

UNCLEARABLE = {
    "PartitionConfig": "the job asks for more than its partition allows (cores, memory, nodes or time)",
    "PartitionNodeLimit": "the job asks for more nodes than its partition allows",
    "PartitionTimeLimit": "the job's walltime is longer than its partition allows",
    "ReqNodeNotAvail": "the nodes it needs are down, drained or reserved",
    "InvalidAccount": "its account is not known to SLURM",
    "InvalidQOS": "its QOS is not known to SLURM",
    "AccountNotAllowed": "its account may not use that partition",
    "QOSNotAllowed": "its QOS may not use that partition",
    "BadConstraints": "its constraints can never be met",
}
"""SLURM pending reasons that do not clear on their own, and what each means for a pool's job options."""

PENDING_POLL_SECONDS = 2.0
"""How often a pool's pending job is looked at in ``squeue``."""


def watched_job(job_class: Any, pool: str, made: list[PoolCluster]) -> type:
    """``job_class`` for ``pool``'s jobs, reporting to the cluster (`PoolCluster.fail_pool`) a job the batch
    system refuses, or (SLURM) holds pending for a reason that will not clear, instead of waiting forever."""

    class Watched(job_class):
        async def start(self) -> None:
            try:
                await super().start()
            except Exception as exc:  # sbatch/qsub exited non-zero: said once, the job is not submitted again
                said = " ".join(str(exc).split())
                await ProcessInterface.start(self)  # an empty job, which the cluster closes: no traceback
                made[0].fail_pool(pool, f"{self.submit_command.split()[0]} refused the job: {said}")
                return
            if self.submit_command.startswith("sbatch") and self.job_id:
                self._pending = asyncio.ensure_future(self._watch_pending())

        async def _watch_pending(self) -> None:
            while True:
                try:
                    out = await self._call(["squeue", "-h", "-j", str(self.job_id), "-o", "%T %r"])
                except Exception:  # gone from squeue: it ran and ended, or was cancelled
                    return
                state, _, reason = out.strip().partition(" ")
                if state != "PENDING":
                    return
                if reason in UNCLEARABLE:
                    made[0].fail_pool(
                        pool,
                        f"SLURM holds job {self.job_id} PENDING ({reason}): {UNCLEARABLE[reason]}; it was cancelled",
                    )
                    await job_class.close(self)  # cancels the job; not our close, which would cancel this watch
                    return
                await asyncio.sleep(PENDING_POLL_SECONDS)

        async def close(self) -> None:
            watch = getattr(self, "_pending", None)
            if watch is not None:
                watch.cancel()
            await super().close()

    Watched.__name__ = Watched.__qualname__ = job_class.__name__
    return Watched
