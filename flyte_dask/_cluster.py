"""The embedded cluster `init()` starts when no scheduler address is given.

Without GPUs it is Dask's `LocalCluster`. GPU detection and dask-cuda's
`LocalCUDACluster` live in `_gpu` and are used when NVML sees a GPU.
"""

from __future__ import annotations

from typing import Any

from distributed import LocalCluster


def start_local_cluster(**options: Any) -> Any:
    """Start an embedded local Dask cluster; ``options`` go to `LocalCluster`."""
    options.setdefault("dashboard_address", ":0")
    return LocalCluster(**options)
