"""flyte_dask on the dask-kubernetes operator, from Python: the shape of ``daskcluster.yaml``.

A CPU pool (the default worker group, which the operator's autoscaler sizes) and a GPU
pool (a worker group that starts at zero), sized by `flyte_dask.PoolAdaptive` from the
GPU work waiting: dask-kubernetes' own autoscaler sizes the default group only.

    from kubecluster import start
    cluster, gpu_pool = start()
    flyte.init(cluster)

dask-kubernetes 2026.3 retires workers for a group's scale-down with the scheduler's
cluster-wide pick; `PoolAdaptive` retires the GPU pool's idle workers itself first.
"""

from __future__ import annotations

from typing import Any

import dask

import flyte_dask as flyte

IMAGE = "ghcr.io/your-org/flyte-dask:latest"  # flyte-dask installed, the driver's release
GPU_IMAGE = "ghcr.io/your-org/flyte-dask-gpu:latest"  # flyte-dask[gpu-cuda13]: CuPy, dask-cuda, nvidia-ml-py
THREADS = 4


def cluster_spec(name: str, cpu_workers: int = 1) -> dict[str, Any]:
    """The ``DaskCluster``: scheduler and the default worker group, CPU workers that see no GPU."""
    from dask_kubernetes.operator import make_cluster_spec

    return make_cluster_spec(
        name=name,
        image=IMAGE,
        n_workers=cpu_workers,
        resources={
            "requests": {"cpu": str(THREADS), "memory": "16G"},
            "limits": {"cpu": str(THREADS), "memory": "16G"},
        },
        env={"CUDA_VISIBLE_DEVICES": ""},
        worker_command=["dask", "worker", "--nthreads", str(THREADS)],
    )


def gpu_group_spec() -> dict[str, Any]:
    """The GPU worker group's worker: one GPU per pod, advertised (GPU=1, GPU-<MODEL>=1) by the preload."""
    from dask_kubernetes.operator import make_worker_spec

    spec: dict[str, Any] = make_worker_spec(
        image=GPU_IMAGE,
        n_workers=0,
        resources={"limits": {"nvidia.com/gpu": "1"}},
        worker_command=["dask", "cuda", "worker", "--nthreads", str(THREADS), "--preload", "flyte_dask.gpu_preload"],
    )
    spec["spec"]["tolerations"] = [{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}]
    return spec


def gpu_pool(cluster: Any, maximum: int = 8) -> flyte.PoolAdaptive:
    """Size the ``gpu`` worker group of ``cluster`` (a `KubeCluster`) from zero to ``maximum`` with the GPU work."""
    return flyte.PoolAdaptive(
        cluster,
        flyte.WorkerPool(threads=THREADS, resources={"GPU": 1}),
        prefix=f"{cluster.name}-gpu-worker-",
        resize=lambda n: cluster.scale(n, worker_group="gpu"),
        minimum=0,
        maximum=maximum,
    )


def start(name: str = "flyte-dask", max_cpu: int = 20, max_gpu: int = 8) -> tuple[Any, flyte.PoolAdaptive]:
    """Create the cluster on the current Kubernetes context, with both pools adapting."""
    from dask_kubernetes.operator import KubeCluster

    cluster = KubeCluster(custom_cluster_spec=cluster_spec(name))
    cluster.add_worker_group("gpu", custom_spec=gpu_group_spec())
    cluster.adapt(minimum=1, maximum=max_cpu)  # the operator's DaskAutoscaler, for the default group
    dask.config.set({"flyte-dask.elastic": True})  # fan-outs keep a backlog in flight for both to see
    return cluster, gpu_pool(cluster, max_gpu)
