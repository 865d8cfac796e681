"""Shared fixtures: real Dask clusters on loopback, and flyte_dask sessions on them."""

from __future__ import annotations

import atexit
import contextlib
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import dask
import pytest
from distributed import Client, LocalCluster

import flyte_dask as flyte
from flyte_dask._loader import load_script

SEEDS = Path(__file__).parent / "seeds"

# The persistent cache of cached tasks goes to a scratch directory, for this process,
# the clusters it starts (Dask hands its config to worker processes) and subprocesses.
_CACHE = tempfile.mkdtemp(prefix="flyte-dask-cache-")
atexit.register(shutil.rmtree, _CACHE, ignore_errors=True)
os.environ["DASK_FLYTE_DASK__CACHE__PATH"] = _CACHE
dask.config.set({"flyte-dask.cache.path": _CACHE})


@pytest.fixture(scope="session")
def cluster() -> Iterator[LocalCluster]:
    """Two worker processes with two threads each: the shared CPU cluster."""
    with LocalCluster(n_workers=2, threads_per_worker=2, dashboard_address=None, processes=True) as c:
        yield c


@pytest.fixture
def session(cluster: LocalCluster) -> Iterator[Client]:
    """flyte_dask initialised on the shared cluster; task calls are Dask futures."""
    client = flyte.init(Client(cluster, set_as_default=False))
    yield client
    flyte.shutdown()


@pytest.fixture
def no_session() -> Iterator[None]:
    """No flyte_dask session: task calls are plain Python."""
    flyte.shutdown()
    os.environ.pop("DASK_SCHEDULER_ADDRESS", None)
    yield


def seed(name: str):
    """A seed example module, loaded by path (its tasks travel to workers by value)."""
    return load_script(SEEDS / f"{name}.py")


def max_overlap(spans: list[tuple[float, float]]) -> int:
    """The largest number of (start, end) intervals open at one instant."""
    events = sorted([(s, 1) for s, _ in spans] + [(e, -1) for _, e in spans], key=lambda ev: (ev[0], ev[1]))
    best = now = 0
    for _, step in events:
        now += step
        best = max(best, now)
    return best


def free_port() -> int:
    """A TCP port on loopback that nothing listens on right now."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class DaskProcesses:
    """Real ``dask scheduler`` and ``dask worker`` processes on loopback, in a scratch directory."""

    def __init__(self, workdir: Path, env: dict[str, str] | None = None) -> None:
        self.workdir = workdir
        self.env = {**os.environ, **(env or {})}  # every process's environment (Dask config as DASK_* variables)
        self.address = f"tcp://127.0.0.1:{free_port()}"
        self.procs: list[subprocess.Popen[bytes]] = []
        self._spawn("scheduler", "--host", "127.0.0.1", "--port", self.address.rsplit(":", 1)[1], "--no-dashboard")

    def _spawn(self, *args: str) -> None:
        log = open(self.workdir / f"{args[0]}-{len(self.procs)}.log", "wb")
        self.procs.append(
            subprocess.Popen(
                [sys.executable, "-m", "dask", *args],
                cwd=self.workdir,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=self.env,
            )
        )

    def worker(self, *args: str) -> None:
        """Start one worker process (``args`` as for ``dask worker``, e.g. ``--resources GPU=1``)."""
        self._spawn("worker", self.address, "--no-dashboard", "--nworkers", "1", *args)

    def wait_for_workers(self, count: int) -> None:
        """Block until ``count`` workers have joined the scheduler."""
        with Client(self.address, timeout=30, set_as_default=False) as probe:
            probe.wait_for_workers(count, timeout=60)

    def close(self) -> None:
        for proc in reversed(self.procs):
            proc.terminate()
        for proc in self.procs:
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()


@contextlib.contextmanager
def started_processes(
    workdir: Path, workers: int, nthreads: int, env: dict[str, str] | None = None
) -> Iterator[DaskProcesses]:
    """A scheduler and ``workers`` CPU workers of ``nthreads`` threads (each under a nanny), closed afterwards;
    ``env`` is added to their environment."""
    procs = DaskProcesses(workdir, env)
    try:
        for _ in range(workers):
            procs.worker("--nthreads", str(nthreads))
        procs.wait_for_workers(workers)
        yield procs
    finally:
        procs.close()


@pytest.fixture(scope="session")
def dask_processes(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DaskProcesses]:
    """A scheduler and two 2-thread CPU workers as separate processes, started like on a cluster."""
    with started_processes(tmp_path_factory.mktemp("dask-processes"), workers=2, nthreads=2) as procs:
        yield procs


@pytest.fixture
def own_cluster(tmp_path: Path, no_session: None) -> Iterator[DaskProcesses]:
    """A scheduler and two workers of this test's own, which the test may kill."""
    procs = DaskProcesses(tmp_path)
    try:
        procs.worker("--nthreads", "2")
        procs.worker("--nthreads", "2")
        procs.wait_for_workers(2)
        flyte.init(procs.address)
        yield procs
    finally:
        flyte.shutdown()
        procs.close()


def eventually(predicate: Callable[[], bool], timeout: float = 10.0) -> bool:
    """Whether ``predicate`` becomes true within ``timeout`` seconds (for state the scheduler updates asynchronously)."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True
