"""flyte_dask on a batch system or Kubernetes: a CPU pool and a GPU pool, each scaling on its own.

SLURM and PBS (`slurm_pools`, `pbs_pools`): a `PoolCluster` of batch jobs (dask-jobqueue). Kubernetes
(`kube_pools`): dask-kubernetes' ``KubeCluster`` with a GPU worker group that `PoolAdaptive` sizes from zero.

Beyond Flyte 2 and Dask: ``pip install 'flyte-dask[deploy]'``, then::

    from flyte_dask.deploy import slurm_pools
    cluster = slurm_pools(cpu={"queue": "cpu", "walltime": "04:00:00"}, gpu={"queue": "gpu"})
    cluster.adapt(pool="cpu", maximum=20)
    cluster.adapt(pool="gpu", maximum=8)
    flyte.init(cluster)

Each pool's dict holds dask-jobqueue job options (``queue``, ``cores``, ``memory``,
``processes``, ``walltime``, ``account``, ``job_extra_directives``, ``worker_extra_args``,
``log_directory``, ...); whatever is not given comes from dask-jobqueue's own config
(``jobqueue.slurm.*``, ``jobqueue.pbs.*``), as ``SLURMCluster`` reads it. A pool's worker
threads follow from its job's ``cores`` and ``processes``. GPU jobs ask for one GPU each
(``--gres=gpu:1`` on SLURM, ``-l select=1:ncpus=N:ngpus=1`` on PBS) and their workers advertise it
(``--preload flyte_dask.gpu_preload``); CPU jobs see no GPU. Job logs go to
``<flyte-dask cache dir>/jobqueue-logs`` unless ``log_directory`` says otherwise. Every other
keyword goes to `PoolCluster` (``host``, ``port``, ``dashboard_address``).

Work that can never start fails clearly: a job the batch system refuses (``sbatch``/``qsub`` exits non-zero),
or that SLURM holds pending for a reason that will not clear (``PartitionConfig``,
``ReqNodeNotAvail``, an unknown account, ...), marks its pool failed (the job is cancelled and not submitted
again); every map, gather or call waiting for that pool's workers then raises
`flyte_dask.UnsatisfiableResourcesError` naming the pool, what was asked and the batch system's words.
"""

from __future__ import annotations

import os
import sys
import types
from typing import Any, NoReturn

import dask

from flyte_dask._absent import Absent
from flyte_dask._internal import storage
from flyte_dask._internal.transport import PoolAdaptive, PoolCluster, WorkerPool, watched_job

GPU_WORKER_ARGS = ["--resources", "GPU=1", "--preload", "flyte_dask.gpu_preload"]
"""What a GPU job's worker adds to its command line: the one GPU its job was given, advertised as a Dask
resource, and its model (``GPU-<MODEL>=1``, read from NVML by the preload)."""

_GPU_DIRECTIVE = {"slurm": "--gres=gpu:1", "pbs": "-l select=1:ncpus={cores}:ngpus=1"}
"""How each batch system is asked for one GPU."""


def slurm_pools(cpu: dict[str, Any] | None = None, gpu: dict[str, Any] | None = None, **cluster: Any) -> PoolCluster:
    """Pools ``"cpu"`` and ``"gpu"`` of SLURM jobs (``gpu=None``: no GPU pool), both empty until scaled or
    adapted; ``cpu``/``gpu`` are job options over ``jobqueue.slurm.*`` (see the module doc)."""
    from dask_jobqueue.slurm import SLURMJob

    return _pools("slurm", SLURMJob, cpu, gpu, cluster)


def pbs_pools(cpu: dict[str, Any] | None = None, gpu: dict[str, Any] | None = None, **cluster: Any) -> PoolCluster:
    """The same pools as PBS jobs, over ``jobqueue.pbs.*``."""
    from dask_jobqueue.pbs import PBSJob

    return _pools("pbs", PBSJob, cpu, gpu, cluster)


def _pools(
    system: str, job_class: type, cpu: dict[str, Any] | None, gpu: dict[str, Any] | None, cluster: dict[str, Any]
) -> PoolCluster:
    made: list[PoolCluster] = []  # the cluster, once made: the pools' jobs report to it
    pools = {"cpu": _pool(system, watched_job(job_class, "cpu", made), dict(cpu or {}), with_gpu=False)}
    if gpu is not None:
        pools["gpu"] = _pool(system, watched_job(job_class, "gpu", made), dict(gpu), with_gpu=True)
    cluster.setdefault("host", "0.0.0.0")  # jobs on other nodes join this scheduler
    made.append(PoolCluster(pools, **cluster))
    return made[0]


def _pool(system: str, job_class: type, options: dict[str, Any], *, with_gpu: bool) -> WorkerPool:
    """One pool: its job options completed from dask-jobqueue's config, and its workers' threads from them."""
    config = f"jobqueue.{system}"
    cores = int(options.get("cores") or dask.config.get(f"{config}.cores", None) or 1)
    processes = int(options.get("processes") or dask.config.get(f"{config}.processes", None) or 1)
    options["cores"], options["processes"] = cores, processes
    options.setdefault("memory", dask.config.get(f"{config}.memory", None) or "4GB")
    options.setdefault("log_directory", dask.config.get(f"{config}.log-directory", None) or _log_directory())
    if with_gpu:
        directives = list(
            options.get("job_extra_directives") or dask.config.get(f"{config}.job-extra-directives", None) or []
        )
        wanted = _GPU_DIRECTIVE[system].format(cores=cores)
        if not any("gpu" in str(d) for d in directives):
            directives.append(wanted)
        options["job_extra_directives"] = directives
        options["worker_extra_args"] = [*(options.get("worker_extra_args") or []), *GPU_WORKER_ARGS]
    else:
        options["job_script_prologue"] = [
            *(options.get("job_script_prologue") or dask.config.get(f"{config}.job-script-prologue", None) or []),
            "export CUDA_VISIBLE_DEVICES=",
        ]
    return WorkerPool(
        threads=max(1, cores // processes),
        resources={"GPU": 1} if with_gpu else {},
        worker_class=job_class,
        options=options,
    )


def _log_directory() -> str:
    """Where job output goes by default: beside flyte_dask's cache, not in the driver's working directory."""
    return os.path.join(storage.local_cache_dir() or os.path.expanduser("~/.cache/flyte-dask"), "jobqueue-logs")


def kube_cluster_spec(
    name: str, image: str, cpu_workers: int = 1, threads: int = 4, memory: str = "16G"
) -> dict[str, Any]:
    """The dask-kubernetes ``DaskCluster``: its scheduler and the default worker group of CPU workers that see no
    GPU (``image``: flyte-dask installed, the driver's release)."""
    from dask_kubernetes.operator import make_cluster_spec

    limits = {"cpu": str(threads), "memory": memory}
    spec: dict[str, Any] = make_cluster_spec(
        name=name,
        image=image,
        n_workers=cpu_workers,
        resources={"requests": dict(limits), "limits": dict(limits)},
        env={"CUDA_VISIBLE_DEVICES": ""},
        worker_command=["dask", "worker", "--nthreads", str(threads)],
    )
    return spec


def kube_gpu_group_spec(gpu_image: str, threads: int = 4) -> dict[str, Any]:
    """The ``gpu`` worker group's worker: one GPU per pod, advertised (GPU=1, GPU-<MODEL>=1) by the preload
    (``gpu_image``: ``flyte-dask[gpu-cuda13]`` installed, with CuPy, dask-cuda and nvidia-ml-py)."""
    from dask_kubernetes.operator import make_worker_spec

    spec: dict[str, Any] = make_worker_spec(
        image=gpu_image,
        n_workers=0,
        resources={"limits": {"nvidia.com/gpu": "1"}},
        worker_command=["dask", "cuda", "worker", "--nthreads", str(threads), "--preload", "flyte_dask.gpu_preload"],
    )
    spec["spec"]["tolerations"] = [{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}]
    return spec


def kube_gpu_pool(cluster: Any, threads: int = 4, maximum: int = 8) -> PoolAdaptive:
    """Size the ``gpu`` worker group of ``cluster`` (a `KubeCluster`) from zero to ``maximum`` with the GPU work
    (dask-kubernetes' own autoscaler sizes the default group only)."""
    return PoolAdaptive(
        cluster,
        WorkerPool(threads=threads, resources={"GPU": 1}),
        prefix=f"{cluster.name}-gpu-worker-",
        resize=lambda n: cluster.scale(n, worker_group="gpu"),
        minimum=0,
        maximum=maximum,
    )


def kube_pools(
    image: str, gpu_image: str, name: str = "flyte-dask", threads: int = 4, max_cpu: int = 20, max_gpu: int = 8
) -> tuple[Any, PoolAdaptive]:
    """A `KubeCluster` on the current Kubernetes context with a CPU pool (the default group, the operator's
    autoscaler) and a GPU pool from zero (`kube_gpu_pool`), both adapting; ``flyte.init(cluster)`` then."""
    from dask_kubernetes.operator import KubeCluster

    cluster = KubeCluster(custom_cluster_spec=kube_cluster_spec(name, image, threads=threads))
    cluster.add_worker_group("gpu", custom_spec=kube_gpu_group_spec(gpu_image, threads))
    cluster.adapt(minimum=1, maximum=max_cpu)  # the operator's DaskAutoscaler, for the default group
    dask.config.set({"flyte-dask.elastic": True})  # fan-outs keep a backlog in flight for both to see
    return cluster, kube_gpu_pool(cluster, threads, max_gpu)


class _DeployModule(types.ModuleType):
    """This module, callable as Flyte 2's ``flyte.deploy(env)`` is (under ``import flyte``), to say what to do."""

    def __call__(self, *args: Any, **kwargs: Any) -> NoReturn:
        Absent(
            "flyte.deploy",
            "nothing is deployed: code travels to workers with cloudpickle; flyte.run(task, ...) runs it",
        )()


sys.modules[__name__].__class__ = _DeployModule
