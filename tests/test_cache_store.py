"""The persistent cache: a killed map resumes without rerunning finished items; the store
is safe against concurrent and partial writes, ages entries out, and is untouched without ``cache``."""

from __future__ import annotations

import os
import pickle
import signal
import subprocess
import sys
import threading
import time
from datetime import timedelta
from pathlib import Path

import pytest

import flyte_dask as flyte
from flyte_dask._internal.runtime.store import Store

PROGRAMS = Path(__file__).parent / "flyte2"
ROOT = Path(__file__).parent.parent

env = flyte.TaskEnvironment(name="store")


@env.task
def uncached(x: int) -> int:
    return x


def test_a_killed_map_resumes_and_skips_what_finished(tmp_path: Path) -> None:
    n, log, store = 20_000, tmp_path / "runs.log", tmp_path / "store"
    environ = {**os.environ, "PYTHONPATH": str(ROOT), "DASK_FLYTE_DASK__CACHE__PATH": str(store)}
    command = [sys.executable, str(PROGRAMS / "resumable.py"), str(n), str(log)]
    first = subprocess.Popen(command, stdout=subprocess.PIPE, text=True, env=environ, start_new_session=True)
    try:
        assert first.stdout is not None
        for line in first.stdout:  # kill driver and cluster at about 90%
            if line.split()[0].isdigit() and int(line.split()[0]) >= 0.9 * n:
                break
        os.killpg(first.pid, signal.SIGKILL)
    finally:
        first.wait(timeout=30)
    ran_first = len(log.read_text().split())
    stored = sum(1 for p in store.rglob("*") if p.is_file() and not p.name.endswith(".partial"))
    assert 0.9 * n <= stored <= ran_first < n
    log.write_text("")
    second = subprocess.run(command, capture_output=True, text=True, env=environ, timeout=300)
    assert second.returncode == 0, second.stderr
    assert second.stdout.split()[-2:] == ["total", str(sum(x % 7 for x in range(n)))]
    ran_second = [int(x) for x in log.read_text().split()]
    assert len(ran_second) == n - stored  # exactly the items with no entry ran again
    run_twice = ran_first + len(ran_second) - n
    assert 0 <= run_twice <= ran_first - stored  # only items caught mid-write by the kill


def test_concurrent_writers_and_partial_writes_leave_whole_entries(tmp_path: Path) -> None:
    store = Store(str(tmp_path))
    value = list(range(50_000))
    threads = [threading.Thread(target=store.put, args=("t", "ab12", value)) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert store.get("t", "ab12", None) == (True, value)
    partial = tmp_path / "t" / "cd" / "cd34.0123.partial"  # a writer killed mid-write leaves only this
    partial.parent.mkdir(parents=True)
    partial.write_bytes(pickle.dumps(value)[:100])
    assert store.get("t", "cd34", None) == (False, None)
    assert not [p for p in tmp_path.rglob("*.partial") if p.parent.name == "ab"]


def test_entries_older_than_max_age_are_ignored_and_removed(tmp_path: Path) -> None:
    store = Store(str(tmp_path))
    store.put("t", "ef56", "old")
    entry = tmp_path / "t" / "ef" / "ef56"
    stale = time.time() - 3600
    os.utime(entry, (stale, stale))
    assert store.get("t", "ef56", 7200) == (True, "old")
    assert store.get("t", "ef56", 60) == (False, None)
    assert not entry.exists()


def test_without_cache_nothing_is_written(session: object) -> None:
    import dask

    root = Path(os.path.expanduser(dask.config.get("flyte-dask.cache.path")))
    assert list(flyte.map(uncached, range(100))) == list(range(100))
    assert not (root / "store.uncached").exists()


def test_cache_command_prints_and_clears_the_store(tmp_path: Path) -> None:
    store = Store(str(tmp_path))
    store.put("env.kept", "aa11", 1)
    store.put("env.dropped", "bb22", 2)
    cli = [str(Path(sys.executable).parent / "flyte-dask"), "cache"]
    environ = {**os.environ, "DASK_FLYTE_DASK__CACHE__PATH": str(tmp_path)}
    shown = subprocess.run([*cli, "path"], capture_output=True, text=True, env=environ, timeout=60)
    assert shown.returncode == 0 and shown.stdout.strip() == str(tmp_path)
    cleared = subprocess.run([*cli, "clear", "env.dropped"], capture_output=True, text=True, env=environ, timeout=60)
    assert cleared.returncode == 0 and "cleared env.dropped" in cleared.stderr
    assert store.get("env.kept", "aa11", None) == (True, 1) and store.get("env.dropped", "bb22", None) == (False, None)


class _Pinned:
    """A custom cache policy, as Flyte's docs write one (a git hash, say)."""

    def __init__(self, tag: str) -> None:
        self.tag = tag

    def get_version(self, salt: str, params: flyte.VersionParameters) -> str:
        return f"{salt}{self.tag}{params.func.__name__ if params.func else ''}"


def test_cache_fields_follow_flyte_2_12() -> None:
    def f(x: int) -> int:
        return x

    # version_override versions the cache whenever it is set, whatever the behavior (Flyte's get_version).
    assert flyte.Cache("auto", version_override="v2").version(f) == "v2"
    assert flyte.Cache("auto", version_override="v1").version(f) != flyte.Cache("auto", version_override="v2").version(
        f
    )
    assert flyte.Cache("override").version(f) == flyte.Cache("auto").version(f)  # no override: the function's source
    # Custom policies version it too; a changed policy is a new version.
    assert flyte.Cache("auto", policies=_Pinned("abc")).version(f) != flyte.Cache(
        "auto", policies=[_Pinned("abd")]
    ).version(f)
    with pytest.raises(TypeError, match="get_version"):
        flyte.Cache("auto", policies=[object()])
    # Flyte's behavior aliases, and max_age as an int of seconds or a timedelta only.
    assert (flyte.Cache("on").behavior, flyte.Cache("OFF").behavior, flyte.Cache("enable").enabled) == (
        "auto",
        "disable",
        True,
    )
    with pytest.raises(ValueError, match="aliases"):
        flyte.Cache("sometimes")  # type: ignore[arg-type]
    assert (
        flyte.Cache("auto", max_age=90).max_age == timedelta(seconds=90)
        and flyte.Cache("auto", max_age=0).max_age_seconds is None
    )
    with pytest.raises(TypeError, match="max_age"):
        flyte.Cache("auto", max_age=1.5)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="max_age"):
        flyte.Cache("auto", max_age=-1)
