"""Dask worker preload: advertise the worker's GPUs, read from NVML, as Dask resources.

    dask cuda worker tcp://scheduler:8786 --preload flyte_dask.gpu_preload
    dask worker tcp://scheduler:8786 --preload flyte_dask.gpu_preload

Each worker then offers ``GPU=1`` and ``GPU-<MODEL>=1`` for its own GPU (the first in
its ``CUDA_VISIBLE_DEVICES``, as dask-cuda lays out one worker per GPU), with no
``--resources`` by hand. A worker owning several GPUs takes
``--resources "$(flyte-dask gpu-resources)"`` instead.
"""

from __future__ import annotations

import glob
import logging
import os
from typing import Any

from flyte_dask._internal.runtime.gpu import own_gpu_resources

logger = logging.getLogger("flyte_dask.gpu_preload")


def dask_setup(worker: Any) -> None:
    """Called by Dask before the worker registers: its resources go out with the registration.

    A worker that was given GPUs (``CUDA_VISIBLE_DEVICES`` set, or ``/dev/nvidia*`` present) but reads none
    through NVML says so in one line naming the fix: without it, GPU work would never find it.
    """
    found = own_gpu_resources()
    for name, amount in found.items():
        worker.state.total_resources[name] = amount
        worker.state.available_resources[name] = amount
    given = os.environ.get("CUDA_VISIBLE_DEVICES") or glob.glob("/dev/nvidia[0-9]*")
    if not found and given:
        logger.warning(
            "flyte_dask.gpu_preload: this worker was given GPUs (%s) but NVML reads none, so it advertises no GPU model "
            "of its own: install nvidia-ml-py where the workers run (pip install 'flyte-dask[gpu-cuda12]' or "
            "'flyte-dask[gpu-cuda13]', matching the host's CUDA) and check the NVIDIA driver is loaded",
            f"CUDA_VISIBLE_DEVICES={os.environ['CUDA_VISIBLE_DEVICES']}"
            if os.environ.get("CUDA_VISIBLE_DEVICES")
            else "/dev/nvidia*",
        )
