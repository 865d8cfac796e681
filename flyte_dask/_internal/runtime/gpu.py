"""GPU workers and GPU tasks: advertising GPUs as Dask resources, telemetry, CuPy results.

- Workers advertise ``GPU=<count>`` and ``GPU-<MODEL>=<count>`` (`gpu_resources`), set
  by hand (``--resources``), by `GPUResources` on running workers, or by the
  ``flyte_dask.gpu_preload`` preload at worker start.
- Each GPU task records the GPU it ran on and its peak GPU memory as a Dask event
  (topic `TELEMETRY_TOPIC`), which `Run.gpu_usage` reads back.
- CuPy arrays a GPU task returns to a process without a GPU arrive as NumPy arrays
  (`to_host`); between processes with GPUs they travel with Dask's CUDA serialization.
"""

from __future__ import annotations

import functools
import importlib.util
import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from distributed import get_worker
from distributed.diagnostics.plugin import WorkerPlugin

from flyte_dask._internal import events
from flyte_dask._internal.nvml import GPUDevice, probe, visible_devices
from flyte_dask._resources import GPU_RESOURCE, model_resource

TELEMETRY_TOPIC = events.GpuRecord.TOPIC
"""The Dask event topic GPU task telemetry is logged under (``client.get_events(TELEMETRY_TOPIC)``)."""

_SAMPLE_SECONDS = 0.01


def gpu_resources(devices: list[GPUDevice]) -> dict[str, float]:
    """The Dask resources a worker owning ``devices`` advertises: ``{"GPU": 2, "GPU-H100": 2}``."""
    out: dict[str, float] = {}
    for device in devices:
        out[GPU_RESOURCE] = out.get(GPU_RESOURCE, 0) + 1
        tag = model_resource(device.model)
        out[tag] = out.get(tag, 0) + 1
    return out


def resources_flag(devices: list[GPUDevice]) -> str:
    """``gpu_resources`` as ``dask worker --resources`` takes it: ``"GPU=1 GPU-H100=1"``."""
    return " ".join(f"{name}={count:g}" for name, count in gpu_resources(devices).items())


def own_gpu_resources() -> dict[str, float]:
    """What a one-GPU-per-worker process (dask-cuda's layout) advertises: its first visible GPU.

    dask-cuda gives each worker every GPU in ``CUDA_VISIBLE_DEVICES``, rotated so that
    the worker's own comes first; CUDA libraries use that one by default.
    """
    return gpu_resources(visible_devices()[:1])


class GPUResources(WorkerPlugin):
    """Make running workers advertise their GPU (NVML) as Dask resources, one GPU per worker.

    ``client.register_plugin(GPUResources())``; workers that join later get it too.
    A worker that owns several GPUs is started with
    ``--resources "$(flyte-dask gpu-resources)"`` instead.
    Beyond Flyte: Flyte's GPUs come from Kubernetes; here they come from the worker.
    """

    name = "flyte-dask-gpu-resources"

    async def setup(self, worker: Any) -> None:
        resources = own_gpu_resources()
        if resources:
            await worker.set_resources(**resources)


@functools.cache
def can_receive_cuda() -> bool:
    """Whether this process can hold CuPy arrays (CuPy installed and a GPU visible)."""
    return importlib.util.find_spec("cupy") is not None and bool(visible_devices())


def to_host(value: Any) -> Any:
    """Copy CuPy arrays in ``value`` (also inside lists, tuples and dicts) to NumPy arrays."""
    if type(value).__module__.split(".")[0] == "cupy" and hasattr(value, "get"):
        return value.get()
    if isinstance(value, (list, tuple)):
        converted = [to_host(v) for v in value]
        return type(value)(converted) if not hasattr(value, "_fields") else type(value)(*converted)
    if isinstance(value, dict):
        return {k: to_host(v) for k, v in value.items()}
    return value


@contextmanager
def telemetry(task_name: str, key: Any, items: int = 1) -> Iterator[None]:
    """Around a GPU task on a worker: sample its GPU memory, then log where it ran and its peak."""
    devices = visible_devices()
    if not devices:
        yield
        return
    device = devices[0]
    gpu_probe = probe()
    pid = os.getpid()
    peak: list[Any] = [0, "device"]  # [bytes, scope], set from the sampling thread
    stop = threading.Event()

    def sample() -> None:
        while True:
            used, scope = gpu_probe.memory_used(device, pid)
            if used >= peak[0]:
                peak[0], peak[1] = used, scope
            if stop.wait(_SAMPLE_SECONDS):
                return

    sampler = threading.Thread(target=sample, name="flyte-dask-gpu-sampler", daemon=True)
    start = time.perf_counter()
    sampler.start()
    try:
        yield
    finally:
        stop.set()
        sampler.join()
        worker = get_worker()
        record = events.GpuRecord(
            key=str(key),
            task=task_name,
            items=items,
            worker=worker.address,
            gpu_index=device.index,
            gpu_uuid=device.uuid,
            gpu_model=device.model,
            peak_memory_bytes=peak[0],
            memory_scope=peak[1],
            seconds=time.perf_counter() - start,
            span_ids=events.current_span_ids(),
        )
        events.log(worker, record)
