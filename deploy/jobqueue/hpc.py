"""flyte_dask on SLURM or PBS with dask-jobqueue: a CPU pool and a GPU pool of batch jobs, each scaling on its own.

A `flyte_dask.PoolCluster` whose pools start dask-jobqueue jobs instead of local processes:
one scheduler (here, on the login node), GPU jobs that ask the batch system for a GPU
(``job_extra_directives``) and whose worker advertises it (``--preload
flyte_dask.gpu_preload``: GPU=1 and GPU-<MODEL>=1, read from NVML), and CPU jobs that see
no GPU. Each pool adapts from zero with the work its workers can take.

    from hpc import slurm_pools
    cluster = slurm_pools(cpu_queue="cpu", gpu_queue="gpu")
    cluster.adapt(pool="cpu", maximum=20)
    cluster.adapt(pool="gpu", maximum=8)
    flyte.init(cluster)
"""

from __future__ import annotations

from typing import Any

import flyte_dask as flyte

GPU_WORKER_ARGS = ["--preload", "flyte_dask.gpu_preload"]
"""What a GPU job's worker adds to its command line: its GPU advertised as Dask resources."""


def gpu_job(queue: str, cores: int = 8, memory: str = "64GB", directive: str = "--gres=gpu:1") -> dict[str, Any]:
    """Options of a GPU job: one GPU (``directive``: SLURM's ``--gres=gpu:1``, PBS's ``-l select=1:ngpus=1``),
    one worker of ``cores`` threads advertising it."""
    return {
        "queue": queue,
        "cores": cores,
        "processes": 1,
        "memory": memory,
        "job_extra_directives": [directive],
        "worker_extra_args": GPU_WORKER_ARGS,
    }


def cpu_job(queue: str, cores: int = 16, memory: str = "64GB") -> dict[str, Any]:
    """Options of a CPU job: one worker of ``cores`` threads that sees no GPU."""
    return {
        "queue": queue,
        "cores": cores,
        "processes": 1,
        "memory": memory,
        "job_script_prologue": ["export CUDA_VISIBLE_DEVICES="],
    }


def slurm_pools(cpu_queue: str, gpu_queue: str, host: str = "0.0.0.0", **cluster: Any) -> flyte.PoolCluster:
    """A CPU pool and a GPU pool of SLURM jobs, both empty until scaled or adapted."""
    from dask_jobqueue.slurm import SLURMJob

    return flyte.PoolCluster(
        {
            "cpu": flyte.WorkerPool(threads=16, worker_class=SLURMJob, options=cpu_job(cpu_queue)),
            "gpu": flyte.WorkerPool(threads=8, resources={"GPU": 1}, worker_class=SLURMJob, options=gpu_job(gpu_queue)),
        },
        host=host,
        **cluster,
    )


def pbs_pools(cpu_queue: str, gpu_queue: str, host: str = "0.0.0.0", **cluster: Any) -> flyte.PoolCluster:
    """The same pools as PBS jobs (``-l select=1:ncpus=8:ngpus=1`` for a GPU)."""
    from dask_jobqueue.pbs import PBSJob

    gpu = gpu_job(gpu_queue, directive="-l select=1:ncpus=8:ngpus=1")
    return flyte.PoolCluster(
        {
            "cpu": flyte.WorkerPool(threads=16, worker_class=PBSJob, options=cpu_job(cpu_queue)),
            "gpu": flyte.WorkerPool(threads=8, resources={"GPU": 1}, worker_class=PBSJob, options=gpu),
        },
        host=host,
        **cluster,
    )
