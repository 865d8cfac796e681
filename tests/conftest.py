"""Shared fixtures: real Dask clusters on loopback, and flyte_dask sessions on them."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from distributed import Client, LocalCluster

import flyte_dask as flyte
from flyte_dask._loader import load_script

SEEDS = Path(__file__).parent / "seeds"


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
