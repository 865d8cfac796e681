"""Auto-batching keeps every per-item guarantee: order, exceptions, cap, retries, cancellation."""

from __future__ import annotations

import itertools
import os
import time
from pathlib import Path

import pytest
from dask.utils import key_split
from distributed import Client, get_task_stream

import flyte_dask as flyte

from .conftest import max_overlap

env = flyte.TaskEnvironment(name="batched")


@env.task
def ident(x: int) -> int:
    return x


@env.task
def fail_on_multiples_of_five(x: int) -> int:
    if x % 5 == 0:
        raise ArithmeticError(f"{x} is a multiple of five")
    return x


@env.task
def window(x: int, seconds: float) -> tuple[int, float, float]:
    start = time.time()
    time.sleep(seconds)
    return x, start, time.time()


@env.task
def mark(x: int, folder: str, seconds: float) -> int:
    Path(folder, str(x)).touch()
    if x == 3:
        raise LookupError("item three fails")
    time.sleep(seconds)
    return x


def _map_tasks(stream: object, prefix: str) -> int:
    return len([t for t in stream.data if key_split(t["key"]) == prefix])  # type: ignore[attr-defined]


def test_order_across_many_batches(session: Client) -> None:
    with get_task_stream(client=session) as stream:
        assert list(flyte.map(ident, range(1_000), batch_size=7)) == list(range(1_000))
    assert _map_tasks(stream, "batched.ident") == 143  # ceil(1000 / 7)


def test_exceptions_stay_in_place_inside_batches(session: Client) -> None:
    results = list(flyte.map(fail_on_multiples_of_five, range(40), batch_size=8))
    for x, r in enumerate(results):
        if x % 5 == 0:
            assert isinstance(r, ArithmeticError) and str(r) == f"{x} is a multiple of five"
        else:
            assert r == x


def test_cap_counts_items_not_batches(session: Client) -> None:
    results = list(flyte.map(window, range(18), itertools.repeat(0.05), concurrency=2, batch_size=3))
    assert [r[0] for r in results] == list(range(18))
    assert max_overlap([(s, e) for _, s, e in results]) == 2


def test_first_failure_cancels_the_remaining_batches(session: Client, tmp_path: Path) -> None:
    with pytest.raises(LookupError, match="item three fails"):
        list(
            flyte.map(
                mark,
                range(200),
                itertools.repeat(str(tmp_path)),
                itertools.repeat(0.05),
                concurrency=2,
                batch_size=2,
                return_exceptions=False,
            )
        )
    assert len(os.listdir(tmp_path)) < 40


def test_auto_batches_grow_for_cheap_items_and_stay_single_for_slow_ones(session: Client) -> None:
    with get_task_stream(client=session) as stream:
        assert list(flyte.map(ident, range(50_000))) == list(range(50_000))
    cheap_tasks = _map_tasks(stream, "batched.ident")
    assert cheap_tasks < 500, f"{cheap_tasks} Dask tasks for 50,000 cheap items"
    with get_task_stream(client=session) as stream:
        list(flyte.map(window, range(12), itertools.repeat(0.2)))
    assert _map_tasks(stream, "batched.window") == 12  # 200 ms items are already worth a task each


def test_streaming_starts_before_the_map_is_done(session: Client, tmp_path: Path) -> None:
    results = flyte.map(mark, range(100, 140), itertools.repeat(str(tmp_path)), itertools.repeat(0.1))
    assert next(results) == 100
    started = len(os.listdir(tmp_path))
    assert started < 40, f"all {started} items had started before the first result"
    assert list(results) == list(range(101, 140))
