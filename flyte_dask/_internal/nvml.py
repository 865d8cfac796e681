"""What the GPUs of this process are, read through NVML behind a small, replaceable seam.

NVML comes from nvidia-ml-py (module ``pynvml``). Everything GPU-aware in flyte_dask
(advertising worker resources, telemetry) asks the current `GPUProbe`, so a test or
another vendor's library can stand in for NVML (`set_probe`, `ProbePlugin`).
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass
from typing import Any, Protocol

from distributed.diagnostics.plugin import WorkerPlugin

from flyte_dask._resources import normalize_model


@dataclass(frozen=True)
class GPUDevice:
    """One GPU as NVML numbers it."""

    index: int
    uuid: str
    name: str
    memory_total: int

    @property
    def model(self) -> str:
        """Short model tag, as `Resources(gpu="H100:1")` spells it."""
        return normalize_model(self.name)


class GPUProbe(Protocol):
    """Reads the GPUs of this machine and the GPU memory a process holds."""

    def devices(self) -> list[GPUDevice]: ...

    def memory_used(self, device: GPUDevice, pid: int) -> tuple[int, str]:
        """Bytes in use on ``device``: by process ``pid`` (scope ``"process"``) or, where NVML
        cannot see that process (a container's PID namespace), on the whole device (``"device"``)."""
        ...


class NVMLProbe:
    """The real `GPUProbe`: NVML through nvidia-ml-py. No NVML, no GPUs."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._nvml: Any = None
        self._tried = False

    def _library(self) -> Any:
        with self._lock:
            if not self._tried:
                self._tried = True
                try:
                    import pynvml

                    pynvml.nvmlInit()
                    self._nvml = pynvml
                except Exception:
                    self._nvml = None
            return self._nvml

    def devices(self) -> list[GPUDevice]:
        nvml = self._library()
        if nvml is None:
            return []
        out = []
        for index in range(nvml.nvmlDeviceGetCount()):
            handle = nvml.nvmlDeviceGetHandleByIndex(index)
            name = nvml.nvmlDeviceGetName(handle)
            uuid = nvml.nvmlDeviceGetUUID(handle)
            out.append(
                GPUDevice(
                    index=index,
                    uuid=uuid.decode() if isinstance(uuid, bytes) else uuid,
                    name=name.decode() if isinstance(name, bytes) else name,
                    memory_total=int(nvml.nvmlDeviceGetMemoryInfo(handle).total),
                )
            )
        return out

    def memory_used(self, device: GPUDevice, pid: int) -> tuple[int, str]:
        nvml = self._library()
        if nvml is None:
            return 0, "device"
        handle = nvml.nvmlDeviceGetHandleByIndex(device.index)
        for proc in nvml.nvmlDeviceGetComputeRunningProcesses(handle):
            if proc.pid == pid:
                return int(proc.usedGpuMemory or 0), "process"
        return int(nvml.nvmlDeviceGetMemoryInfo(handle).used), "device"


_probe: GPUProbe = NVMLProbe()


def probe() -> GPUProbe:
    """The `GPUProbe` in use in this process."""
    return _probe


def set_probe(new: GPUProbe) -> None:
    """Replace the `GPUProbe` of this process (tests, non-NVIDIA accelerators)."""
    global _probe
    _probe = new


def visible_devices() -> list[GPUDevice]:
    """The GPUs this process may use, in CUDA's order (``CUDA_VISIBLE_DEVICES`` by index or UUID)."""
    devices = probe().devices()
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if visible is None:
        return devices
    by_id = {str(d.index): d for d in devices} | {d.uuid: d for d in devices}
    return [by_id[v.strip()] for v in visible.split(",") if v.strip() in by_id]


class ProbePlugin(WorkerPlugin):
    """Install a `GPUProbe` on every worker: ``client.register_plugin(ProbePlugin(probe))``."""

    name = "flyte-dask-gpu-probe"

    def __init__(self, gpu_probe: GPUProbe) -> None:
        self.gpu_probe = gpu_probe

    def setup(self, worker: Any) -> None:
        set_probe(self.gpu_probe)
