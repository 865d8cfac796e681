"""Faults during a 10,000-item map, on real ``dask scheduler`` / ``dask worker`` processes.

    python benchmarks/faults.py [--items 10000] [--item-ms 2]

For each fault it prints the time to detect it, the time to finish (or to fail clearly),
and the items lost and run more than once, against the same map with no fault, measured
in the same run:

- worker kill: a worker process is killed (SIGKILL) at 50%; the map should finish;
- scheduler kill: the scheduler is killed at 50%; the map should fail with
  ``RuntimeSystemError`` at once, saying how far it got;
- driver kill, then resume: the driver (with ``cache="auto"``) is killed at 90% and run
  again; the rerun should skip every item that finished;
- poison item: one item kills its worker every time it runs; only it should fail;
- sys.exit item: one item calls ``sys.exit``; only it should fail, and no worker restart;
- poison item inside a parent: a task maps 200 items, one of which calls ``os._exit``; the
  parent should return the other 199 and the poison item's error;
- runaway recursion: a task that calls itself without end should fail at
  ``flyte-dask.max-depth``, and the cluster be idle again soon after.

Each item appends its index to a log, so executions are counted, not estimated.
"""

from __future__ import annotations

import argparse
import functools
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from _common import Cluster

import flyte_dask as flyte
from flyte_dask import errors
from flyte_dask._internal import transport

env = flyte.TaskEnvironment(name="faults_bench")


@env.task
def item(x: int, log: str, ms: float, poison: int = -1, exits: int = -1) -> int:
    with open(log, "a") as f:
        f.write(f"{x}\n")
    if x == poison:
        os._exit(1)
    if x == exits:
        sys.exit(2)
    time.sleep(ms / 1000)
    return x


@env.task
def parent(n: int, log: str, ms: float, poison: int) -> list[object]:
    return list(flyte.map(functools.partial(item, log=log, ms=ms, poison=poison), range(n)))


@env.task
def rec(depth: int) -> int:
    return rec(depth + 1)


DRIVER = """
import functools, sys, time
import flyte_dask as flyte
env = flyte.TaskEnvironment(name="faults_resume")

@env.task(cache="auto")
def item(x: int, log: str, ms: float) -> int:
    with open(log, "a") as f:
        f.write(f"{x}\\n")
    time.sleep(ms / 1000)
    return x

n, log, ms = int(sys.argv[1]), sys.argv[2], float(sys.argv[3])
flyte.init(sys.argv[4])
for i, value in enumerate(flyte.map(functools.partial(item, log=log, ms=ms), range(n))):
    if i % 100 == 0:
        print(i, flush=True)
print("done", flush=True)
"""


def _runs(log: Path) -> list[int]:
    return [int(x) for x in log.read_text().split()] if log.exists() else []


def _map(
    n: int,
    log: Path,
    ms: float,
    poison: int = -1,
    at: float = 1.0,
    fault: Callable[[], None] | None = None,
    exits: int = -1,
) -> tuple[list[object], float, float, BaseException | None]:
    """Run the map, calling ``fault()`` once ``at`` of the items have come back.

    Returns the results, the map's seconds, the seconds from the fault to the map's end
    (its detection, when the map fails) and the error it ended with, if any.
    """
    results: list[object] = []
    fired = 0.0
    start = time.perf_counter()
    error: BaseException | None = None
    try:
        for value in flyte.map(functools.partial(item, log=str(log), ms=ms, poison=poison, exits=exits), range(n)):
            results.append(value)
            if fault is not None and not fired and len(results) >= at * n:
                fired = time.perf_counter()
                fault()
    except Exception as exc:  # the scheduler kill ends here, and is what is measured
        error = exc
    end = time.perf_counter()
    return results, end - start, (end - fired if fired else float("nan")), error


def _busy(dask_scheduler: object) -> int:
    """Tasks the scheduler still has waiting or running (run on the scheduler)."""
    states = ("processing", "waiting", "queued", "no-worker")
    return sum(1 for ts in dask_scheduler.tasks.values() if ts.state in states)  # type: ignore[attr-defined]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--items", type=int, default=10_000)
    parser.add_argument("--item-ms", type=float, default=2.0)
    args = parser.parse_args()
    n, ms = args.items, args.item_ms
    rows: list[tuple[str, str, str, str, str, str]] = []
    with tempfile.TemporaryDirectory() as scratch:
        work = Path(scratch)

        # no fault: the baseline
        cluster = Cluster(work)
        flyte.init(cluster.address)
        log = work / "baseline.log"
        results, baseline, _, _ = _map(n, log, ms)
        assert results == list(range(n))
        rows.append(("no fault (baseline)", "-", f"{baseline:.2f}", "1.00x", "0", str(len(_runs(log)) - n)))
        print(f"baseline: {n} items in {baseline:.2f}s", flush=True)

        # worker kill at 50%
        log = work / "worker.log"
        detected: list[float] = []

        def kill_worker() -> None:
            client = transport.current_client()
            assert client is not None
            before = set(client.scheduler_info()["workers"])
            os.kill(cluster.worker_pid(), signal.SIGKILL)
            killed = time.perf_counter()

            def watch() -> None:  # until the scheduler has dropped one of the workers it had
                while before <= set(client.scheduler_info()["workers"]) and time.perf_counter() - killed < 60:
                    time.sleep(0.01)
                detected.append(time.perf_counter() - killed)

            threading.Thread(target=watch, daemon=True).start()

        results, seconds, _, _ = _map(n, log, ms, at=0.5, fault=kill_worker)
        detect = detected[0] if detected else float("nan")
        lost = n - sum(1 for i, r in enumerate(results) if r == i)
        rows.append(
            (
                "worker kill at 50%",
                f"{detect:.2f}",
                f"{seconds:.2f}",
                f"{seconds / baseline:.2f}x",
                str(lost),
                str(len(_runs(log)) - n),
            )
        )

        # poison item
        log = work / "poison.log"
        results, seconds, _, _ = _map(n, log, ms, poison=n // 3)
        failed = [i for i, r in enumerate(results) if isinstance(r, BaseException)]
        lost = n - 1 - sum(1 for i, r in enumerate(results) if r == i)
        runs = _runs(log)
        rows.append(
            (
                f"poison item {n // 3}",
                "-",
                f"{seconds:.2f}",
                f"{seconds / baseline:.2f}x",
                f"{lost} (+ {failed} failed)",
                str(len(runs) - n),
            )
        )

        # sys.exit in one item: it fails alone, and no worker process restarts
        log = work / "exit.log"
        client = transport.current_client()
        assert client is not None
        client.wait_for_workers(2, timeout=60)  # the poison item's last victim is back
        pids = client.run(os.getpid)
        results, seconds, _, _ = _map(n, log, ms, exits=n // 3)
        failed = [i for i, r in enumerate(results) if isinstance(r, BaseException)]
        assert failed == [n // 3] and isinstance(results[n // 3], errors.TaskExitError), failed
        restarted = sum(1 for address, pid in client.run(os.getpid).items() if pids.get(address) != pid)
        lost = n - 1 - sum(1 for i, r in enumerate(results) if r == i)
        rows.append(
            (
                f"sys.exit in item {n // 3}",
                "-",
                f"{seconds:.2f}",
                f"{seconds / baseline:.2f}x",
                f"{lost} (+ {failed} failed)",
                f"{len(_runs(log)) - n} ({restarted} workers restarted)",
            )
        )

        # os._exit in one of 200 items mapped by a parent task
        log, m = work / "parent.log", 200
        start = time.perf_counter()
        (results,) = flyte.run(parent, m, str(log), ms, m // 3).outputs()
        seconds = time.perf_counter() - start
        failed = [i for i, r in enumerate(results) if isinstance(r, BaseException)]
        lost = m - 1 - sum(1 for i, r in enumerate(results) if r == i)
        rows.append(
            (
                f"parent's item {m // 3}/{m} os._exit",
                "-",
                f"{seconds:.2f}",
                "-",
                f"{lost} (+ {failed} failed)",
                str(len(_runs(log)) - m),
            )
        )

        # runaway recursion: the error, then the cluster idle again
        start = time.perf_counter()
        try:
            flyte.run(rec, 0).outputs()
            raise AssertionError("the recursion did not fail")
        except RecursionError as exc:
            failed_at = time.perf_counter() - start
            print(f"recursion: {str(exc)[:160]}...")
        while client.run_on_scheduler(_busy) and time.perf_counter() - start < 120:
            time.sleep(0.05)
        idle_at = time.perf_counter() - start
        rows.append(("runaway recursion", f"{failed_at:.2f}", f"{idle_at:.2f} (idle)", "-", "-", "-"))

        # scheduler kill at 50%
        log = work / "scheduler.log"
        results, seconds, detect, error = _map(n, log, ms, at=0.5, fault=cluster.scheduler.kill)
        assert isinstance(error, errors.RuntimeSystemError), error
        rows.append(
            (
                "scheduler kill at 50%",
                f"{detect:.2f}",
                f"{seconds:.2f} (failed)",
                f"{seconds / baseline:.2f}x",
                f"{n - len(results)} not returned",
                "-",
            )
        )
        print(f"scheduler kill: {error}")
        flyte.shutdown()
        cluster.close()

        # driver kill at 90%, then resume
        cluster = Cluster(work, {"DASK_FLYTE_DASK__CACHE__PATH": str(work / "store")})
        log = work / "resume.log"
        environ = {
            **os.environ,
            "PYTHONPATH": str(Path(__file__).resolve().parent.parent),
            "DASK_FLYTE_DASK__CACHE__PATH": str(work / "store"),
        }
        command = [sys.executable, "-c", DRIVER, str(n), str(log), str(ms), cluster.address]
        first = subprocess.Popen(command, stdout=subprocess.PIPE, text=True, env=environ, start_new_session=True)
        assert first.stdout is not None
        for line in first.stdout:
            if line.strip().isdigit() and int(line) >= 0.9 * n:
                break
        os.killpg(first.pid, signal.SIGKILL)
        first.wait()
        ran_first = len(_runs(log))
        start = time.perf_counter()
        second = subprocess.run(command, capture_output=True, text=True, env=environ, timeout=600)
        rerun_seconds = time.perf_counter() - start
        assert second.returncode == 0, second.stderr
        ran_second = len(_runs(log)) - ran_first
        rows.append(
            (
                "driver kill at 90%, rerun",
                "-",
                f"{rerun_seconds:.2f} (rerun)",
                f"{rerun_seconds / baseline:.2f}x",
                "0",
                f"{ran_first + ran_second - n} ({ran_second} ran in the rerun)",
            )
        )
        cluster.close()

    print(
        f"\nfaults during a {n}-item map of {ms:g} ms items, 2 single-thread workers (baseline: the same map, no fault)"
    )
    header = f"{'fault':<30}{'detect s':>10}{'finish s':>18}{'vs baseline':>13}{'items lost':>22}  items run twice"
    print(header)
    print("-" * len(header))
    for fault, detect, finish, ratio, lost, twice in rows:
        print(f"{fault:<30}{detect:>10}{finish:>18}{ratio:>13}{lost:>22}  {twice}")


if __name__ == "__main__":
    main()
