"""`cluster_status`: what flyte_dask sees here and on a cluster, and the problems it can name.

Beyond Flyte 2 (which has no such call): before a run, say which versions and GPUs this
process has, what each worker offers (threads, memory, advertised resources, GPU
models, GPUs in use now), and name each problem that would bite later with its fix.
"""

from __future__ import annotations

import importlib.metadata
import ipaddress
import os
import platform
import stat
from dataclasses import dataclass, field
from typing import Any

import dask

from flyte_dask._internal import storage, transport
from flyte_dask._internal.nvml import GPUDevice, probe
from flyte_dask._internal.runtime.gpu import can_receive_cuda
from flyte_dask._internal.transport import Client
from flyte_dask._internal.transport.cluster import dask_cuda_installed
from flyte_dask._resources import GPU_RESOURCE

_PACKAGES = ("dask", "distributed", "cloudpickle", "dask-cuda", "cupy", "nvidia-ml-py")
_MUST_MATCH = ("flyte-dask", "python", "dask", "distributed", "cloudpickle", "msgpack", "tornado")
"""Packages every process must share; flyte-dask too, since its runtime functions travel by reference."""
_MODEL_PREFIX = GPU_RESOURCE + "-"


def _version(package: str) -> str | None:
    for name in (package, *([f"cupy-cuda{v}" for v in ("13x", "12x", "11x")] if package == "cupy" else [])):
        try:
            return importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            continue
    return None


@dataclass(frozen=True)
class WorkerStatus:
    """One worker as the scheduler and the worker itself report it."""

    address: str
    name: str
    threads: int
    memory_limit: int
    resources: dict[str, float]
    gpus_in_use: float
    gpus_seen: int | None  # GPUs NVML sees on the worker's machine (None: could not ask)
    versions: dict[str, str | None]

    @property
    def gpus(self) -> float:
        """GPUs the worker advertises (its ``GPU`` resource)."""
        return self.resources.get(GPU_RESOURCE, 0.0)

    @property
    def gpu_models(self) -> list[str]:
        """Models it advertises (``GPU-H100`` gives ``H100``)."""
        return sorted(name[len(_MODEL_PREFIX) :] for name in self.resources if name.startswith(_MODEL_PREFIX))


@dataclass(frozen=True)
class ClusterStatus:
    """What `cluster_status` found; ``str()`` of it is the report ``flyte-dask status`` prints."""

    versions: dict[str, str | None]
    gpus: list[GPUDevice]
    address: str | None = None
    error: str | None = None
    workers: list[WorkerStatus] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    @property
    def reachable(self) -> bool:
        """Whether a cluster was asked for and answered."""
        return self.address is not None and self.error is None

    def __str__(self) -> str:
        lines = ["here: " + " · ".join(f"{name} {version or '-'}" for name, version in self.versions.items())]
        lines.append(
            "GPUs here (NVML): "
            + (", ".join(f"{g.index}: {g.name} {g.memory_total / 2**30:.0f} GiB" for g in self.gpus) or "none")
        )
        if self.address is None:
            lines.append("cluster: none given (--address, DASK_SCHEDULER_ADDRESS or Dask's scheduler-address config)")
        elif self.error is not None:
            lines.append(f"cluster {self.address}: not reachable: {self.error}")
        else:
            gpus = sum(w.gpus for w in self.workers)
            in_use = sum(w.gpus_in_use for w in self.workers)
            threads = sum(w.threads for w in self.workers)
            lines.append(
                f"cluster {self.address}: {len(self.workers)} workers, {threads} threads, {gpus:g} GPUs advertised ({in_use:g} in use)"
            )
            for w in self.workers:
                resources = " ".join(f"{k}={v:g}" for k, v in sorted(w.resources.items())) or "-"
                gpu = f"  GPUs in use {w.gpus_in_use:g}/{w.gpus:g}" if w.gpus else ""
                lines.append(
                    f"  {w.address}  threads {w.threads}  memory {w.memory_limit / 2**30:.1f} GiB  resources {resources}{gpu}"
                )
        lines.append("problems: none" if not self.problems else "problems:")
        lines += [f"  - {problem}" for problem in self.problems]
        return "\n".join(lines)


def _local_versions() -> dict[str, str | None]:
    return {
        "flyte_dask": _version("flyte-dask"),
        "python": platform.python_version(),
        **{p: _version(p) for p in _PACKAGES},
    }


def cluster_status(address: str | Client | None = None, *, timeout: float = 10.0) -> ClusterStatus:
    """What this process and a cluster offer, and the problems found, with their fixes.

    ``address``: a scheduler address or a `distributed.Client`; by default the current
    session's client, else ``DASK_SCHEDULER_ADDRESS`` / Dask's ``scheduler-address``.
    With none, only this process is described. Starts no cluster.
    """
    versions = _local_versions()
    gpus = probe().devices()
    problems = []
    if gpus and not dask_cuda_installed():
        problems.append(
            f"NVML sees {len(gpus)} GPU(s) here but dask-cuda is not installed, so flyte.init() starts no GPU workers: "
            "pip install 'flyte-dask[gpu]'"
        )
    client = address if isinstance(address, Client) else None
    if client is None and address is None:
        client = transport.current_client()
        address = dask.config.get("scheduler-address", None) if client is None else None
    if client is None and address is None:
        return ClusterStatus(versions, gpus, problems=problems)
    own = client is None
    try:
        if client is None:
            client = transport.connect(address, timeout)
        report = transport.cluster_report(client)
    except ConnectionError as exc:
        return ClusterStatus(versions, gpus, address=str(address), error=str(exc), problems=problems)
    finally:
        if own and client is not None:
            client.close()
    return _describe(report, versions, gpus, problems)


def _describe(
    report: dict[str, Any], versions: dict[str, str | None], gpus: list[GPUDevice], problems: list[str]
) -> ClusterStatus:
    info, in_use, seen, reported = report["workers"], report["gpus_in_use"], report["gpus_seen"], report["versions"]
    workers = [
        WorkerStatus(
            address=address,
            name=str(w.get("name", "")),
            threads=int(w.get("nthreads", 0)),
            memory_limit=int(w.get("memory_limit") or 0),
            resources=dict(w.get("resources") or {}),
            gpus_in_use=float(in_use.get(address, 0)),
            gpus_seen=seen.get(address),
            versions=dict(reported.get("workers", {}).get(address, {}).get("packages", {})),
        )
        for address, w in sorted(info.items())
    ]
    problems = problems + _problems(workers, reported) + _exposure(report["address"])
    return ClusterStatus(versions, gpus, address=report["address"], workers=workers, problems=problems)


def _exposure(address: str) -> list[str]:
    """The ways others could run code on the cluster: a scheduler reachable off this machine without TLS, and
    a cache directory other users can write (code shipped to workers and cached results are pickles)."""
    found = []
    scheme, _, location = address.partition("://")
    host = location.rsplit(":", 1)[0].strip("[]")
    if scheme == "tcp" and not _loopback(host):
        found.append(
            f"the scheduler listens on {address} without TLS: anyone who can reach that port can run code on the "
            "cluster (tasks travel as pickles). Start it with --protocol tls and connect with "
            "flyte.init(address, security=distributed.Security(...)), or keep it on a private network"
        )
    path = storage.local_cache_dir()
    if path is not None and os.path.isdir(path) and os.stat(path).st_mode & (stat.S_IWGRP | stat.S_IWOTH):
        found.append(
            f"the cache directory {path} (flyte-dask.cache.path) is writable by other users: cached results are "
            f"pickles that workers load, so anyone who can write there can run code on the cluster. "
            f"chmod go-w {path}, or point flyte-dask.cache.path at a directory only you can write"
        )
    return found


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:  # a host name: it may be reached from elsewhere
        return False


def _problems(workers: list[WorkerStatus], reported: dict[str, Any]) -> list[str]:
    """Each problem found on the cluster, with its fix."""
    found = []
    if not workers:
        found.append(
            "the cluster has no workers: start some with `dask worker ADDRESS` (`dask cuda worker ADDRESS` on GPU machines)"
        )
    for w in workers:
        if w.gpus_seen and not w.gpus:
            found.append(
                f"worker {w.address} has {w.gpus_seen} GPU(s) but advertises no GPU resource, so GPU tasks never run there: "
                'start it with `--preload flyte_dask.gpu_preload` (or `--resources "GPU=1"`), or run '
                "client.register_plugin(flyte_dask.gpu.GPUResources())"
            )
    if any(w.gpus for w in workers) and not can_receive_cuda():
        found.append(
            "this process has no usable CuPy, so CuPy results of GPU tasks arrive here as NumPy copies; "
            "pip install 'flyte-dask[gpu-cuda13]' (or [gpu-cuda12]) here to receive them as CuPy arrays"
        )
    mine = reported.get("client", {}).get("packages", {})
    others = {"scheduler": reported.get("scheduler", {}).get("packages", {})}
    others.update({address: v.get("packages", {}) for address, v in reported.get("workers", {}).items()})
    for package in _MUST_MATCH:
        skewed = {where: v.get(package) for where, v in others.items() if v.get(package) != mine.get(package)}
        if skewed:
            where = ", ".join(f"{k} has {v}" for k, v in sorted(skewed.items()))
            why = " (its engine's functions are pickled by their paths)" if package == "flyte-dask" else ""
            found.append(
                f"version skew in {package}{why}: this process has {mine.get(package)}, {where}; "
                "install the same version everywhere"
            )
    return found
