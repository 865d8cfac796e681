"""`Resources`: what a task asks of a worker, and its translation to Dask resource tags.

Dask schedules on abstract, worker-advertised resources. A GPU request becomes a
restriction on the ``GPU`` resource (and ``GPU-<MODEL>`` for a named model), so the
scheduler places the task only on workers started with ``--resources GPU=1``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Union

GPU_RESOURCE = "GPU"
"""The Dask resource name a GPU worker advertises, one unit per GPU."""

_MODEL_PREFIX = "GPU-"
_VENDOR_WORDS = {"NVIDIA", "TESLA", "GEFORCE", "QUADRO", "AMD", "RADEON", "INSTINCT"}
_QUANTITY = re.compile(r"^\s*(?P<model>[A-Za-z][\w\s-]*?)\s*(?::\s*(?P<count>[\d.]+))?\s*$")

CPUSpec = Union[int, float, str]


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


def parse_gpu(gpu: int | float | str | None) -> tuple[float, str | None]:
    """Turn Flyte's ``gpu=`` value into ``(count, model or None)``.

    Accepts an int (``1``), a fraction (``0.25``: four tasks share a GPU) or Flyte's
    ``"MODEL:COUNT"`` string (``"H100:1"``, ``"A100"`` meaning one).
    """
    if gpu is None:
        return 0.0, None
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
    gpu: int | float | str | None = None
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
        count, model = parse_gpu(self.gpu)
        if not count:
            return {}
        out = {GPU_RESOURCE: count}
        if model:
            out[_MODEL_PREFIX + model] = count
        return out
