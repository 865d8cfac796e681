"""`Resources`: what a task asks of a worker, and its translation to Dask resource tags.

Dask schedules on abstract, worker-advertised resources. A GPU request becomes a
restriction on the ``GPU`` resource (and ``GPU-<MODEL>`` for a named model), so the
scheduler places the task only on workers started with ``--resources GPU=1``. Flyte's
other accelerators (`TPU`, `Neuron`, `AMD_GPU`, ...) become resources named for their class.
"""

from __future__ import annotations

import re
import warnings
from dataclasses import dataclass
from typing import Literal, get_args

GPU_RESOURCE = "GPU"
"""The Dask resource name a GPU worker advertises, one unit per GPU."""

_MODEL_PREFIX = "GPU-"
_VENDOR_WORDS = {"NVIDIA", "TESLA", "GEFORCE", "QUADRO", "AMD", "RADEON", "INSTINCT"}
_QUANTITY = re.compile(r"^\s*(?P<model>[A-Za-z][\w\s-]*?)\s*(?::\s*(?P<count>[\d.]+))?\s*$")

CPUSpec = int | float | str


def model_resource(model: str) -> str:
    """The Dask resource name a worker with a GPU of ``model`` advertises (``GPU-H100``)."""
    return _MODEL_PREFIX + normalize_model(model)


def normalize_model(name: str) -> str:
    """Reduce a GPU name as NVML or a user spells it to a short model tag.

    ``"NVIDIA H100 80GB HBM3"`` and ``"h100"`` both give ``"H100"``;
    ``"Tesla V100-SXM2-16GB"`` gives ``"V100"``; ``"NVIDIA GeForce RTX 4090"`` gives
    ``"RTX4090"``. Already-short tags such as ``"A100_80G"`` are kept.
    """
    words = [w for w in re.split(r"[\s]+", name.strip().upper()) if w and w not in _VENDOR_WORDS]
    if not words:
        raise ValueError(f"cannot read a GPU model from {name!r}")
    first = words[0].split("-")[0]
    if first == "RTX" and len(words) > 1:
        first = "RTX" + words[1].split("-")[0]
    return first


DeviceClass = Literal["GPU", "TPU", "NEURON", "AMD_GPU", "HABANA_GAUDI", "APPLE_SILICON"]


@dataclass(frozen=True)
class Device:
    """An accelerator request (Flyte 2's ``flyte.Device``), as `GPU`, `TPU`, `Neuron`... make it.

    On Dask a device becomes a resource restriction: a GPU the ``GPU`` and ``GPU-<MODEL>``
    resources; another class its own (``TPU`` and ``TPU-V5P``: beyond Flyte, workers started
    with ``--resources TPU=4`` run them). A MIG or TPU ``partition`` is not modelled.
    """

    quantity: int
    device_class: DeviceClass = "GPU"
    device: str | None = None
    partition: str | None = None

    def __post_init__(self) -> None:
        if self.device_class not in get_args(DeviceClass):
            raise ValueError(
                f"Device(device_class={self.device_class!r}): use one of {', '.join(get_args(DeviceClass))}"
            )
        if not isinstance(self.quantity, int) or self.quantity < 1:
            raise ValueError(f"Device(quantity={self.quantity!r}): use an int >= 1")
        if (self.device == "AppleSilicon") != (self.device_class == "APPLE_SILICON"):
            raise ValueError('The Apple Silicon device is device="AppleSilicon" with device_class="APPLE_SILICON"')

    def dask_resources(self) -> dict[str, float]:
        """The Dask resources one call holds: its class and model, ``{"GPU": 1, "GPU-H100": 1}``, ``{"TPU": 1, ...}``."""
        out: dict[str, float] = {self.device_class: float(self.quantity)}
        if self.device:
            out[f"{self.device_class}-{normalize_model(self.device)}"] = float(self.quantity)
        return out


def GPU(device: str, quantity: int, partition: str | None = None) -> Device:
    """A request for ``quantity`` GPUs of model ``device`` (Flyte 2's ``flyte.GPU``), e.g. ``GPU("H100", 1)``."""
    if not isinstance(device, str) or not device:
        raise ValueError(f"GPU(device={device!r}): name a GPU model such as 'H100' or 'A100'")
    if partition is not None:
        warnings.warn(
            f"GPU({device!r}, partition={partition!r}): flyte_dask does not schedule MIG partitions; the task asks for a whole {device}",
            UserWarning,
            stacklevel=2,
        )
    return Device(quantity=quantity, device_class="GPU", device=device.split(" ")[0], partition=partition)


def TPU(device: str, partition: str | None = None) -> Device:
    """A TPU of ``device`` (``"V5P"``), Flyte 2's ``flyte.TPU``: on Dask the ``TPU`` and ``TPU-<device>`` resources."""
    return Device(quantity=1, device_class="TPU", device=device, partition=partition)


def Neuron(device: str) -> Device:
    """An AWS Neuron device (``"Trn1"``), Flyte 2's ``flyte.Neuron``: the ``NEURON`` resources on Dask."""
    return Device(quantity=1, device_class="NEURON", device=device)


def AMD_GPU(device: str) -> Device:
    """An AMD GPU (``"MI300X"``), Flyte 2's ``flyte.AMD_GPU``: the ``AMD_GPU`` resources on Dask."""
    return Device(quantity=1, device_class="AMD_GPU", device=device)


def HABANA_GAUDI(device: str) -> Device:
    """A Habana Gaudi (``"Gaudi1"``), Flyte 2's ``flyte.HABANA_GAUDI``: the ``HABANA_GAUDI`` resources on Dask."""
    return Device(quantity=1, device_class="HABANA_GAUDI", device=device)


def APPLE_SILICON() -> Device:
    """The Mac's Metal GPU, Flyte 2's ``flyte.APPLE_SILICON``: the ``APPLE_SILICON`` resources on Dask."""
    return Device(quantity=1, device_class="APPLE_SILICON", device="AppleSilicon")


def parse_gpu(gpu: int | float | str | Device | None) -> tuple[float, str | None]:
    """Turn Flyte's ``gpu=`` value into ``(count, model or None)``.

    Accepts an int (``1``), a fraction (``0.25``: four tasks share a GPU), Flyte's
    ``"MODEL:COUNT"`` string (``"H100:1"``, ``"A100"`` meaning one) or a `Device`
    (``GPU("H100", 1)``).
    """
    if gpu is None:
        return 0.0, None
    if isinstance(gpu, Device):
        if gpu.device_class != "GPU":  # another accelerator: its own resources (`Device.dask_resources`)
            return 0.0, None
        return float(gpu.quantity), normalize_model(gpu.device) if gpu.device else None
    if isinstance(gpu, bool):
        raise TypeError("Resources(gpu=...) takes a count such as 1 or 0.5, or 'MODEL:COUNT'; got a bool")
    if isinstance(gpu, (int, float)):
        if gpu < 0:
            raise ValueError(f"Resources(gpu={gpu!r}): the GPU count cannot be negative")
        return float(gpu), None
    if isinstance(gpu, str):
        match = _QUANTITY.match(gpu)
        if not match:
            raise ValueError(
                f"Resources(gpu={gpu!r}) is not understood: use a count (1, 0.5) or 'MODEL:COUNT' such as 'H100:1'"
            )
        count = float(match.group("count") or 1)
        if count <= 0:
            raise ValueError(f"Resources(gpu={gpu!r}): the GPU count must be positive")
        return count, normalize_model(match.group("model"))
    raise TypeError(f"Resources(gpu=...) takes an int, a float or a 'MODEL:COUNT' string, not {type(gpu).__name__}")


@dataclass(frozen=True)
class Resources:
    """Compute resources for a task, with Flyte 2's names.

    ``gpu`` becomes a Dask resource restriction (see `dask_resources`). ``cpu``,
    ``memory``, ``disk`` and ``shm`` are validated and kept for reference: Dask places
    work by worker threads, not by CPU or memory requests, so they do not restrict
    placement (beyond Flyte: nothing on Dask enforces them).
    """

    cpu: CPUSpec | tuple[CPUSpec, CPUSpec] | None = None
    memory: str | tuple[str, str] | None = None
    gpu: int | float | str | Device | None = None
    disk: str | None = None
    shm: str | None = None

    def __post_init__(self) -> None:
        parse_gpu(self.gpu)
        if self.cpu is not None and not isinstance(self.cpu, (int, float, str, tuple)):
            raise TypeError("Resources(cpu=...) takes a number, a string such as '500m' or a (request, limit) tuple")

    @property
    def gpu_count(self) -> float:
        """How many GPUs (possibly a fraction of one) each call holds."""
        return parse_gpu(self.gpu)[0]

    @property
    def gpu_model(self) -> str | None:
        """The GPU model asked for (``"H100"``), or None for any GPU."""
        return parse_gpu(self.gpu)[1]

    def dask_resources(self) -> dict[str, float]:
        """The Dask ``resources=`` restriction for one call: ``{"GPU": 1, "GPU-H100": 1}``."""
        if isinstance(self.gpu, Device):
            return self.gpu.dask_resources()
        count, model = parse_gpu(self.gpu)
        if not count:
            return {}
        out = {GPU_RESOURCE: count}
        if model:
            out[_MODEL_PREFIX + model] = count
        return out
