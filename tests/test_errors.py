"""Bad input fails early and clearly, naming the problem and the fix."""

from __future__ import annotations

import re
import socket
import threading
import time

import pytest
from distributed import Client

import flyte_dask as flyte

env = flyte.TaskEnvironment(name="errs")


@env.task
def typed(count: int, names: list[str], ratio: float = 1.0, tag: str | None = None) -> int:
    return count


@env.task
def takes_anything(value: object) -> str:
    return type(value).__name__


@pytest.mark.parametrize(
    ("args", "kwargs", "needle"),
    [
        (("3", ["a"]), {}, "argument 'count' does not match its annotation int: expected int, got str '3'"),
        (
            (3, ["a", 2]),
            {},
            "argument 'names' does not match its annotation list[str]: at index 1: expected str, got int 2",
        ),
        ((3, ["a"]), {"tag": 5}, "argument 'tag'"),
        ((3,), {}, "missing a required argument: 'names'"),
        ((3, ["a"]), {"colour": "red"}, "unexpected keyword argument 'colour'"),
    ],
)
def test_argument_mismatch_names_task_parameter_expected_and_given(
    session: Client, args: tuple, kwargs: dict, needle: str
) -> None:
    submitted_before = len(session.futures)
    with pytest.raises(TypeError) as info:
        typed(*args, **kwargs)
    assert "task errs.typed" in str(info.value) and needle in str(info.value)
    assert len(session.futures) == submitted_before  # nothing was submitted


def test_int_passes_for_float_and_run_checks_too(session: Client) -> None:
    assert typed(1, [], ratio=2) == 1
    with pytest.raises(TypeError, match="argument 'count'"):
        flyte.run(typed, "x", [])


def test_unpicklable_argument_is_named(session: Client) -> None:
    with pytest.raises(TypeError, match=r"argument 0 \(lock\) cannot be pickled .* inside the task instead"):
        takes_anything(threading.Lock())
    results = list(flyte.map(takes_anything, [1, 2]))
    assert results == ["int", "int"]  # the session still works
    for batch_size in (1, 3):  # the item fails alone, in its place; the others run
        results = list(flyte.map(takes_anything, [1, threading.Lock(), "x"], batch_size=batch_size))
        assert results[0] == "int" and results[2] == "str"
        assert isinstance(results[1], TypeError) and re.search(r"map item 1\).* cannot be pickled", str(results[1]))


def test_unreachable_scheduler_fails_within_the_timeout(no_session: None) -> None:
    start = time.monotonic()
    with pytest.raises(
        ConnectionError, match=r"could not reach the Dask scheduler at tcp://127.0.0.1:9 .*dask scheduler"
    ):
        flyte.init("tcp://127.0.0.1:9", timeout=2)
    assert time.monotonic() - start < 15


def test_a_port_that_never_speaks_dask_fails_within_the_timeout(no_session: None) -> None:
    """A listener that accepts connections and never answers (like a dashboard port)."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(8)
        accepted: list[socket.socket] = []
        threading.Thread(target=lambda: accepted.append(listener.accept()[0]), daemon=True).start()
        address = f"tcp://127.0.0.1:{listener.getsockname()[1]}"
        start = time.monotonic()
        with pytest.raises(ConnectionError, match=r"within 2s \(nothing at .* answered as a Dask scheduler\)"):
            flyte.init(address, timeout=2)
        assert time.monotonic() - start < 10
        for conn in accepted:
            conn.close()


def test_bad_environment_and_options() -> None:
    with pytest.raises(ValueError, match="snake_case or kebab-case"):
        flyte.TaskEnvironment(name="Bad Name")
    with pytest.raises(ValueError, match="MODEL:COUNT"):
        flyte.Resources(gpu="??")
    with pytest.raises(ValueError, match=r"RetryStrategy\.count must be greater than or equal to 0"):
        env.task(retries=-1)(lambda: None)
    with pytest.raises(TypeError, match="map takes a task"):
        flyte.map(len, [1])
    with pytest.raises(ValueError, match="concurrency"):
        flyte.map(typed, [1], concurrency=-1)
    with pytest.raises(TypeError, match="run\\(\\) takes a task"):
        flyte.run(len, [1])
