"""The embedded cluster `init()` starts when no scheduler address is given.

Without GPUs: Dask's `LocalCluster`. With GPUs (NVML sees any) and dask-cuda installed:
dask-cuda's `LocalCUDACluster`, one worker per GPU (each pinned to its GPU with
``CUDA_VISIBLE_DEVICES`` and advertising ``GPU=1`` and its model), plus CPU-only
workers for CPU work, so CPU fan-outs do not occupy the GPU workers' threads.
"""

from __future__ import annotations

import importlib.util
import os
import warnings
from typing import Any

from distributed import LocalCluster, Nanny, SpecCluster

from ._nvml import probe

GPU_THREADS = 4
"""Threads per GPU worker: enough for ``Resources(gpu=0.25)`` to pack four calls on a GPU."""

CPU_THREADS = 4
"""Threads per CPU worker process of the embedded cluster.

A sync task call holds a worker thread while it runs, so one thread per core (Dask's
default) would let a 2-core laptop run only two I/O-bound sync calls at once. Four per
process overlap them; async calls hold no thread at all (see `_worker`). Pass
``threads_per_worker=1`` to `init` for pure-CPU work.
"""


def _cpus() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def dask_cuda_installed() -> bool:
    """Whether dask-cuda (for `LocalCUDACluster` GPU workers) can be imported here."""
    return importlib.util.find_spec("dask_cuda") is not None


def start_local_cluster(**options: Any) -> Any:
    """Start the embedded cluster; ``options`` go to `LocalCluster` (or `LocalCUDACluster`)."""
    options.setdefault("dashboard_address", ":0")
    devices = probe().devices()
    if devices and dask_cuda_installed():
        return start_gpu_cluster(len(devices), **options)
    if devices:
        warnings.warn(
            f"NVML sees {len(devices)} GPU(s) but dask-cuda is not installed, so the embedded cluster has no GPU "
            "workers and GPU tasks cannot run: pip install 'flyte-dask[gpu]'",
            RuntimeWarning,
            stacklevel=3,
        )
    options.setdefault("threads_per_worker", CPU_THREADS)
    return LocalCluster(**options)


def start_gpu_cluster(n_gpus: int, *, cpu_workers: int = 1, cpu_threads: int | None = None, **options: Any) -> Any:
    """A `LocalCUDACluster` with one worker per GPU, plus ``cpu_workers`` CPU-only workers."""
    from dask_cuda import LocalCUDACluster

    options.setdefault("threads_per_worker", GPU_THREADS)
    options.setdefault("preload", ["flyte_dask.gpu_preload"])
    cluster = LocalCUDACluster(**options)
    add_workers(cluster, cpu_workers, cpu_threads or max(2, _cpus() - n_gpus), env={"CUDA_VISIBLE_DEVICES": ""})
    cluster.wait_for_workers(len(cluster.worker_spec))
    return cluster


def add_workers(cluster: SpecCluster, count: int, threads: int, *, resources: dict[str, float] | None = None, env: dict[str, str] | None = None) -> list[str]:
    """Add ``count`` worker processes to a running `SpecCluster` (LocalCluster, LocalCUDACluster).

    Used for the CPU-only workers beside GPU workers; ``resources`` lets tests and
    mixed machines add workers that advertise e.g. ``GPU=1``.
    """
    names = []
    for _ in range(count):
        name = f"extra-{len(cluster.worker_spec)}"
        options: dict[str, Any] = {"nthreads": threads, "resources": resources or {}, "dashboard_address": None}
        if env:
            options["env"] = env
        cluster.worker_spec[name] = {"cls": Nanny, "options": options}
        names.append(name)
    cluster.scale(len(cluster.worker_spec))
    return names

