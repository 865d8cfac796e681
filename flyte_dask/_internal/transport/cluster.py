"""The embedded cluster `init()` starts when no scheduler address is given.

Without GPUs: Dask's `LocalCluster`, one single-threaded worker process per core,
bound to 127.0.0.1. With GPUs (NVML sees any) and dask-cuda installed: dask-cuda's
`LocalCUDACluster`, one worker per GPU (each pinned to its GPU with
``CUDA_VISIBLE_DEVICES`` and advertising ``GPU=1`` and its model), plus CPU-only
workers for CPU work, so CPU fan-outs do not occupy the GPU workers' threads.

Worker processes never run the driver's script again (`_keep_main_to_driver`), so a
script that calls ``flyte.init()`` at top level, without a main guard, works.
"""

from __future__ import annotations

import importlib.machinery
import importlib.util
import inspect
import os
import sys
import warnings
from typing import Any

from distributed import LocalCluster, Nanny, SpecCluster, Worker
from distributed.core import Server

from flyte_dask._internal import settings
from flyte_dask._internal.nvml import probe

EMBEDDED_PRELOAD = "flyte_dask._internal.runtime.embedded_worker"
"""Preloaded by the embedded cluster's workers: they leave Ctrl-C to the driver."""

GPU_THREADS = 4
"""Threads per GPU worker: enough for ``Resources(gpu=0.25)`` to pack four calls on a GPU."""

CPU_THREADS = 1
"""Threads per CPU worker process of the embedded cluster, which has one process per core.

Pure-Python sync work then uses every core (no GIL shared between threads), and async
tasks run as coroutines that hold no thread (see `runtime.worker`). For many I/O-bound *sync*
calls, pass ``threads_per_worker=4`` (or more) to `init`.
"""


def _cpus() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def dask_cuda_installed() -> bool:
    """Whether dask-cuda (for `LocalCUDACluster` GPU workers) can be imported here."""
    return importlib.util.find_spec("dask_cuda") is not None


def start_local_cluster(**options: Any) -> Any:
    """Start the embedded cluster; ``options`` go to `LocalCluster` (or `LocalCUDACluster`).

    Defaults: every address on 127.0.0.1 (the dashboard on a free port) and, without
    GPUs, ``n_workers`` = the cores this process may use, ``threads_per_worker=1``.
    """
    _check_options(options)
    _keep_main_to_driver()
    options["preload"] = [*options.get("preload", ()), EMBEDDED_PRELOAD]
    options.setdefault("host", "127.0.0.1")
    options.setdefault("dashboard_address", "127.0.0.1:0")
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
    options.setdefault("n_workers", max(1, _cpus() // options["threads_per_worker"]))
    if ignores_gpu_requests(options):  # its workers run nested GPU calls without the request too
        options["env"] = {**options.get("env", {}), settings.IGNORING_GPU_ENV: "1"}
    return LocalCluster(**options)


def _check_options(options: dict[str, Any]) -> None:
    """Refuse an option no part of the embedded cluster takes, before Dask fails on it in a worker process.

    `LocalCluster` hands unknown keywords to every worker, whose start then fails with
    "Nanny failed to start" and a traceback that never names the option.
    """
    takers: list[Any] = [c.__init__ for c in (LocalCluster, SpecCluster, Nanny, Worker, Server)]
    if _has_gpu_workers():
        from dask_cuda import LocalCUDACluster

        takers += [LocalCUDACluster.__init__, start_gpu_cluster]
    known = {name for taker in takers for name in inspect.signature(taker).parameters}
    unknown = sorted(options.keys() - known)
    if unknown:
        raise TypeError(
            f"init() got {', '.join(map(repr, unknown))}, which neither Flyte's init nor Dask's LocalCluster and "
            "its workers take. Check the spelling; options for the embedded cluster are LocalCluster's "
            "(n_workers, threads_per_worker, resources, memory_limit, ...)"
        )


def ignores_gpu_requests(options: dict[str, Any]) -> bool:
    """Whether the embedded cluster that ``options`` start runs GPU tasks on CPU workers (``flyte-dask.local-gpu``):
    it has no GPU worker (no GPU here, or no dask-cuda) and advertises no resources of its own."""
    return settings.get("local-gpu") == "ignore" and not _has_gpu_workers() and not options.get("resources")


def _has_gpu_workers() -> bool:
    """Whether the embedded cluster started here gets GPU workers: NVML sees GPUs and dask-cuda is installed."""
    return bool(probe().devices()) and dask_cuda_installed()


def _keep_main_to_driver() -> None:
    """Stop worker processes from running the driver's script again when they start.

    Dask starts worker processes with multiprocessing's ``spawn``, which re-imports a
    script run as ``python script.py`` in every child: its top-level code runs there
    again, and a top-level ``flyte.init()`` fails with "An attempt has been made to start
    a new process before the current process has finished its bootstrapping phase".
    Python itself skips that re-import for a main module named ``__main__``, which is
    what this declares (``__main__.__spec__``, None for scripts). Workers never need the
    script: task code travels by value with cloudpickle (`shipping`).
    """
    main = sys.modules.get("__main__")
    if main is not None and getattr(main, "__spec__", None) is None and getattr(main, "__file__", None):
        main.__spec__ = importlib.machinery.ModuleSpec("__main__", None, origin=main.__file__)


def start_gpu_cluster(n_gpus: int, *, cpu_workers: int = 1, cpu_threads: int | None = None, **options: Any) -> Any:
    """A `LocalCUDACluster` with one worker per GPU, plus ``cpu_workers`` CPU-only workers."""
    from dask_cuda import LocalCUDACluster

    options.setdefault("threads_per_worker", GPU_THREADS)
    options["preload"] = ["flyte_dask.gpu_preload", *options.get("preload", ())]
    cluster = LocalCUDACluster(**options)
    add_workers(
        cluster,
        cpu_workers,
        cpu_threads or max(2, _cpus() - n_gpus),
        env={"CUDA_VISIBLE_DEVICES": ""},
        preload=[EMBEDDED_PRELOAD],
        host=options.get("host"),
    )
    cluster.wait_for_workers(len(cluster.worker_spec))
    return cluster


def add_workers(
    cluster: SpecCluster,
    count: int,
    threads: int,
    *,
    resources: dict[str, float] | None = None,
    env: dict[str, str] | None = None,
    preload: list[str] | None = None,
    host: str | None = None,
) -> list[str]:
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
        if preload:
            options["preload"] = preload
        if host:
            options["host"] = host
        cluster.worker_spec[name] = {"cls": Nanny, "options": options}
        names.append(name)
    cluster.scale(len(cluster.worker_spec))
    return names
