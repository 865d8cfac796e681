"""GPU helpers for Dask clusters that run flyte_dask tasks.

- `GPUResources`: a worker plugin making running workers advertise their GPUs
  (``client.register_plugin(GPUResources())``);
- ``flyte_dask.gpu_preload``: the same at worker start (``--preload``);
- `resources_flag`: the ``--resources`` value for a worker owning all visible GPUs;
- `GPUProbe`, `ProbePlugin`, `set_probe`: the seam through which GPUs are read
  (NVML by default), for tests and other accelerators;
- `TELEMETRY_TOPIC`: the Dask event topic of per-task GPU telemetry (`Run.gpu_usage`).
"""

from flyte_dask._internal.nvml import (
    GPUDevice,
    GPUProbe,
    NVMLProbe,
    ProbePlugin,
    probe,
    set_probe,
    visible_devices,
)
from flyte_dask._internal.runtime.gpu import (
    TELEMETRY_TOPIC,
    GPUResources,
    gpu_resources,
    own_gpu_resources,
    resources_flag,
    to_host,
)

__all__ = [
    "TELEMETRY_TOPIC",
    "GPUDevice",
    "GPUProbe",
    "GPUResources",
    "NVMLProbe",
    "ProbePlugin",
    "gpu_resources",
    "own_gpu_resources",
    "probe",
    "resources_flag",
    "set_probe",
    "to_host",
    "visible_devices",
]
