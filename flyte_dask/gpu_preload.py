"""Dask worker preload: advertise the worker's GPUs, read from NVML, as Dask resources.

    dask cuda worker tcp://scheduler:8786 --preload flyte_dask.gpu_preload
    dask worker tcp://scheduler:8786 --preload flyte_dask.gpu_preload

Each worker then offers ``GPU=1`` and ``GPU-<MODEL>=1`` for its own GPU (the first in
its ``CUDA_VISIBLE_DEVICES``, as dask-cuda lays out one worker per GPU), with no
``--resources`` by hand. A worker owning several GPUs takes
``--resources "$(flyte-dask gpu-resources)"`` instead.
"""

from __future__ import annotations

from typing import Any

from flyte_dask._internal.runtime.gpu import own_gpu_resources


def dask_setup(worker: Any) -> None:
    """Called by Dask before the worker registers: its resources go out with the registration."""
    for name, amount in own_gpu_resources().items():
        worker.state.total_resources[name] = amount
        worker.state.available_resources[name] = amount
