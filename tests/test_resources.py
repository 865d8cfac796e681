"""Resources and GPU helpers that need no cluster: parsing, model tags, host copies, preload."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from distributed import Client, LocalCluster

import flyte_dask as flyte
from flyte_dask.gpu import (
    GPUDevice,
    gpu_resources,
    probe,
    resources_flag,
    set_probe,
    to_host,
)

from .test_gpu_scheduling import FakeProbe


@pytest.mark.parametrize(
    ("gpu", "expected"),
    [
        (None, {}),
        (1, {"GPU": 1.0}),
        (0.25, {"GPU": 0.25}),
        ("H100:1", {"GPU": 1.0, "GPU-H100": 1.0}),
        ("a100:2", {"GPU": 2.0, "GPU-A100": 2.0}),
        ("L4", {"GPU": 1.0, "GPU-L4": 1.0}),
    ],
)
def test_gpu_requests_become_dask_resources(gpu: object, expected: dict[str, float]) -> None:
    assert flyte.Resources(gpu=gpu).dask_resources() == expected  # type: ignore[arg-type]


@pytest.mark.parametrize("bad", [-1, "H100:0", "H100:x", True, [1]])
def test_bad_gpu_requests_say_what_to_write(bad: object) -> None:
    with pytest.raises((ValueError, TypeError), match="gpu"):
        flyte.Resources(gpu=bad)  # type: ignore[arg-type]


def test_models_from_nvml_names_match_flyte_spellings() -> None:
    names = {
        "NVIDIA H100 80GB HBM3": "H100",
        "Tesla V100-SXM2-16GB": "V100",
        "NVIDIA A100-SXM4-80GB": "A100",
        "NVIDIA GeForce RTX 4090": "RTX4090",
        "NVIDIA L4": "L4",
    }
    for name, model in names.items():
        assert GPUDevice(0, "GPU-x", name, 1).model == model
    devices = [GPUDevice(0, "a", "NVIDIA H100 80GB HBM3", 1), GPUDevice(1, "b", "NVIDIA H100 80GB HBM3", 1)]
    assert gpu_resources(devices) == {"GPU": 2, "GPU-H100": 2}
    assert resources_flag(devices) == "GPU=2 GPU-H100=2"


class FakeDeviceArray:
    """Looks like a CuPy array to `to_host`: its class lives in a ``cupy`` module and has ``get``."""

    __module__ = "cupy._core.core"

    def __init__(self, values: list[int]) -> None:
        self.values = values

    def get(self) -> list[int]:
        return list(self.values)


def test_device_arrays_become_host_copies_anywhere_in_a_result() -> None:
    result = {"a": FakeDeviceArray([1, 2]), "b": [FakeDeviceArray([3]), 4], "c": (FakeDeviceArray([5]),)}
    assert to_host(result) == {"a": [1, 2], "b": [[3], 4], "c": ([5],)}
    assert to_host("text") == "text"


@pytest.fixture
def fake_gpus() -> Iterator[None]:
    previous = probe()
    set_probe(FakeProbe(count=1, name="NVIDIA L40S"))
    yield
    set_probe(previous)


def test_preload_advertises_gpus_at_worker_start(fake_gpus: None, no_session: None) -> None:
    with (
        LocalCluster(
            n_workers=1, processes=False, dashboard_address=None, preload=["flyte_dask.gpu_preload"]
        ) as cluster,
        Client(cluster, set_as_default=False) as client,
    ):
        (info,) = client.scheduler_info()["workers"].values()
        assert info["resources"] == {"GPU": 1, "GPU-L40S": 1}
