"""The real-GPU suite: a real LocalCUDACluster started by flyte_dask.init(), CuPy and NVML.

Run on a GPU host from the repository root: ``python -m pytest gpu/tests``. Without a
usable GPU, CuPy, dask-cuda or NVML every test is skipped with the reason.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Iterator
from pathlib import Path

import pytest


def _unavailable() -> str | None:
    """Why this machine cannot run the GPU suite, or None if it can."""
    for module, hint in (
        ("cupy", "CuPy"),
        ("dask_cuda", "dask-cuda (../shared/gpu/offline-wheels.sh)"),
        ("pynvml", "nvidia-ml-py"),
    ):
        if importlib.util.find_spec(module) is None:
            return f"{hint} is not installed"
    import cupy

    try:
        if cupy.cuda.runtime.getDeviceCount() < 1:
            return "CUDA sees no GPU"
    except Exception as exc:  # no driver, no device
        return f"CUDA is not usable here: {exc}"
    from flyte_dask.gpu import probe

    if not probe().devices():
        return "NVML sees no GPU"
    return None


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    here = Path(__file__).parent
    mine = [item for item in items if here in Path(str(item.fspath)).parents]
    reason = _unavailable() if mine else None
    if reason:
        for item in mine:
            item.add_marker(pytest.mark.skip(reason=f"GPU suite needs a GPU host: {reason}"))


@pytest.fixture(scope="session")
def gpu_client() -> Iterator[object]:
    """flyte_dask's own embedded GPU cluster: LocalCUDACluster workers plus a CPU worker."""
    import flyte_dask as flyte

    client = flyte.init(dashboard_address=None)
    yield client
    flyte.shutdown()


@pytest.fixture(scope="session")
def roles(gpu_client: object) -> dict[str, list[str]]:
    """Worker addresses by kind: ``gpu`` (advertising GPU) and ``cpu``."""
    workers = gpu_client.scheduler_info()["workers"]  # type: ignore[attr-defined]
    out: dict[str, list[str]] = {"gpu": [], "cpu": []}
    for address, info in workers.items():
        out["gpu" if (info.get("resources") or {}).get("GPU") else "cpu"].append(address)
    return out
