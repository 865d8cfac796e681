"""Dask worker preload: advertise the worker's GPUs, read from NVML, as Dask resources.

    dask cuda worker tcp://scheduler:8786 --preload flyte_dask.gpu_preload
    dask worker tcp://scheduler:8786 --preload flyte_dask.gpu_preload

Each worker then offers ``GPU=<n>`` and ``GPU-<MODEL>=<n>`` for the GPUs in its
``CUDA_VISIBLE_DEVICES`` (all GPUs when unset), with no ``--resources`` by hand.
"""

from __future__ import annotations

from typing import Any

from ._gpu import gpu_resources
from ._nvml import visible_devices


def dask_setup(worker: Any) -> None:
    """Called by Dask before the worker registers: its resources go out with the registration."""
    for name, amount in gpu_resources(visible_devices()).items():
        worker.state.total_resources[name] = amount
        worker.state.available_resources[name] = amount
