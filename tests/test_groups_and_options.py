"""Groups as Dask spans; retries, timeouts, cache and override as Flyte 2 task options."""

from __future__ import annotations

import asyncio
import time
from datetime import timedelta
from pathlib import Path

import pytest
from distributed import Client

import flyte_dask as flyte

from .conftest import eventually

env = flyte.TaskEnvironment(name="opts")


@env.task
def one(x: int) -> int:
    return x


@env.task
def grouped_parent(n: int) -> int:
    with flyte.group("inner"):
        return sum(flyte.map(one, range(n), group_name="items"))


@env.task(retries=3)
def flaky_once(folder: str) -> str:
    marker = Path(folder, "attempt")
    if not marker.exists():
        marker.touch()
        raise OSError("first attempt fails")
    return "second attempt"


@env.task(timeout=0.5)
def spins(seconds: float) -> str:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        pass
    return "finished"


@env.task(timeout=timedelta(seconds=0.5))
async def sleeps(seconds: float) -> str:
    await asyncio.sleep(seconds)
    return "finished"


@env.task(cache="auto")
def stamp(x: int) -> float:
    return time.time()


def _span_names(client: Client) -> set[tuple[str, ...]]:
    return set(
        client.run_on_scheduler(
            lambda dask_scheduler: [s.name for s in dask_scheduler.extensions["spans"].spans.values()]
        )
    )


def test_groups_and_maps_are_dask_spans(session: Client) -> None:
    with flyte.group("outer"):
        assert one(1) == 1
        run = flyte.run(grouped_parent, 3)
    assert run.outputs()[0] == 3
    expected = {
        ("outer",),
        ("outer", run.name),  # each run is a span of its own
        ("outer", run.name, "inner", "opts.one_items"),  # nested across the worker boundary
    }
    assert eventually(lambda: expected <= _span_names(session)), _span_names(session)
    list(flyte.map(one, [1]))
    assert eventually(lambda: ("opts.one_map",) in _span_names(session)), _span_names(session)


def test_retries_are_dask_retries(session: Client, tmp_path: Path) -> None:
    assert flaky_once(str(tmp_path)) == "second attempt"


def test_sync_and_async_timeouts(session: Client) -> None:
    with pytest.raises(
        flyte.errors.MaxRuntimeExceededError, match=r"opts\.spins ran longer than its max_runtime of 0\.5s"
    ):
        spins(30)
    assert spins(0.01) == "finished"
    with pytest.raises(TimeoutError, match=r"opts\.sleeps ran longer"):
        asyncio.run(sleeps(30))
    assert asyncio.run(sleeps(0.01)) == "finished"


def test_timeout_applies_to_each_mapped_item(session: Client) -> None:
    results = list(flyte.map(spins, [0.01, 5.0, 0.01], batch_size=3))
    assert results[0] == results[2] == "finished"
    assert isinstance(results[1], TimeoutError)


def test_cache_reuses_an_identical_call(session: Client) -> None:
    first = stamp(1)
    assert stamp(1) == first
    assert stamp(2) != first
    assert stamp.override(cache="disable")(1) != first


def test_override_changes_options_per_call_site(session: Client) -> None:
    quick = spins.override(timeout=10)
    assert quick(0.8) == "finished"
    assert spins.override(resources=flyte.Resources(cpu=2)).resources.cpu == 2
