"""Flyte 2 programs beyond the seed, run unchanged as scripts in subprocesses on the embedded cluster.

Each starts its own real Dask cluster (``flyte.init()``); the assertions read what the
program printed: its findings, its traceback, its silence.
"""

from __future__ import annotations

import itertools
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

PROGRAMS = Path(__file__).parent / "flyte2"
ROOT = Path(__file__).parent.parent


def _answer_ctrl_c() -> None:
    """In the child: SIGINT acts as in a terminal, even where this test runs with it ignored (a background job)."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def run_program(
    name: str, *args: str, timeout: float = 120, extra_env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Run ``tests/flyte2/<name>.py`` as ``python <file>`` would, from a scratch directory (``extra_env`` added)."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    env.pop("FLYTE_DASK_FULL_TRACEBACKS", None)
    env.update(extra_env or {})
    return subprocess.run(
        [sys.executable, str(PROGRAMS / f"{name}.py"), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
        cwd=PROGRAMS,
    )


def test_errors_trace_ctx_runcontext_retries_and_validation(tmp_path: Path) -> None:
    attempts = tmp_path / "attempts.log"
    done = run_program("program", str(attempts))
    assert done.returncode == 0, done.stderr
    found = json.loads(done.stdout.strip().splitlines()[-1])
    # Errors caught both ways: Flyte's class (code = the original type) and the original type.
    assert found["await_flyte"] == ["ValueError", "user", "item 2 is bad", True, True]
    assert found["await_plain"] == ["ValueError", "item 5 is bad"]
    assert found["gather"] == [0, 1, "ValueError", 3, 4, "ValueError"]
    assert found["map"] == [0, 1, "ValueError", 3, 4, "ValueError"]
    assert found["sum"] == "item 2 is bad"  # arithmetic on a returned error re-raises it
    assert found["run_outputs"] == ["ValueError", True]
    assert "prog.wrong_type" in found["validation"] and "expected int, got str '1'" in found["validation"]
    assert found["trace"] == 40 and found["trace_nested"] == "TraceDoesNotAllowNestedTasksError"
    assert "await sync_double.aio(...)" in found["sync_in_async"] and found["sync_via_aio"] == 4
    # ctx inside a task, and the run's context reaching a nested call in another process.
    assert found["outside_ctx"] == [False, "NullTaskContext()"]
    assert found["ctx"] == {"truthy": True, "run": "nightly", "mode": "local", "key": True, "custom": {"owner": "ml"}}
    assert found["child"] == {
        "run": "nightly",
        "custom": {"owner": "ml", "team": "search"},
        "env": "small",
        "run_env": "on",
    }
    assert found["run_name"] == "nightly" and found["run_aio"] == 42
    # Retries: two failures then success, paced by the backoff (0.3 s, then 0.6 s).
    assert found["flaky"] == 3
    times = [float(line.split()[1]) for line in attempts.read_text().splitlines() if line.startswith("flaky ")]
    gaps = [b - a for a, b in itertools.pairwise(times)]
    assert len(times) == 3 and gaps[0] >= 0.29 and gaps[1] >= 0.59, gaps
    assert found["non_recoverable"] == "NonRecoverableError"
    assert sum(1 for line in attempts.read_text().splitlines() if line.startswith("gives_up ")) == 1
    assert found["exhausted"] == ["KeyError", "KeyError", True]


def test_a_script_without_a_main_guard_runs_its_top_level_code_once(tmp_path: Path) -> None:
    log = tmp_path / "top-level.log"
    done = run_program("no_guard", str(log))
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[0, 1, 4, 9, 16, 25]"
    assert log.read_text().splitlines() == ["top-level"]  # the driver only: workers never re-run the script
    assert "bootstrapping phase" not in done.stderr


def test_an_unhandled_failure_prints_one_short_traceback_of_user_frames() -> None:
    done = run_program("unhandled")
    assert done.returncode == 1
    lines = done.stderr.strip().splitlines()
    assert lines[-1] == "ValueError: invalid literal for int() with base 10: 'forty-two'"
    assert 'unhandled.py", line 19, in <module>' in done.stderr  # the call site in the driver
    assert 'unhandled.py", line 14, in load' in done.stderr and "return parse(record)" in done.stderr
    assert 'unhandled.py", line 9, in parse' in done.stderr
    assert "flyte_dask" not in done.stderr.replace("import flyte_dask", "") and "distributed" not in done.stderr
    assert "Compute Failed" not in done.stderr and done.stderr.count("Traceback") == 1
    assert len(lines) <= 12, done.stderr


def test_failures_the_program_handles_print_nothing() -> None:
    done = run_program("handled")
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["5", "3"]
    assert done.stderr == ""


@pytest.mark.parametrize(
    "mode, cancelled",
    [
        ("map", "cancelled the map items of interrupt.slow: "),
        ("gather", "cancelled the gathered calls of interrupt.waits: 500 were running, 0 of 500 had finished"),
        ("run", "cancelled the running call of interrupt.main"),
    ],
)
def test_ctrl_c_prints_keyboardinterrupt_and_what_it_cancelled(mode: str, cancelled: str, tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen(
        [sys.executable, str(PROGRAMS / "interrupt.py"), mode, str(tmp_path / "running")],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        start_new_session=True,
        preexec_fn=_answer_ctrl_c,
    )
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "started"
        os.killpg(proc.pid, signal.SIGINT)  # as a terminal's Ctrl-C does: the whole process group
        sent = time.monotonic()
        _, stderr = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert time.monotonic() - sent < 15
    assert proc.returncode in (-signal.SIGINT, 130)
    lines = stderr.strip().splitlines()
    assert lines[0] == "KeyboardInterrupt", stderr
    assert len(lines) == 2 and lines[1].startswith("flyte_dask: cancelled ") and cancelled in lines[1], stderr


@pytest.mark.parametrize(
    "argv, code, expected",
    [
        (
            ["--help"],
            0,
            ["--xs LIST[INT]", "list[int] (required)", "--scale FLOAT", "float (default: 1.0)", "Add up xs"],
        ),
        (["--xs", "abc"], 2, ["error: --xs takes list[int] as JSON, got 'abc'"]),
    ],
)
def test_cli_lists_task_inputs_and_rejects_a_bad_value_in_one_line(
    tmp_path: Path, argv: list[str], code: int, expected: list[str]
) -> None:
    script = tmp_path / "pipeline.py"
    script.write_text(
        "import flyte_dask as flyte\nenv = flyte.TaskEnvironment(name='p')\n\n"
        "@env.task\ndef total(xs: list[int], scale: float = 1.0) -> float:\n    '''Add up xs, scaled.'''\n    return sum(xs) * scale\n"
    )
    cli = Path(sys.executable).parent / "flyte-dask"
    done = subprocess.run(
        [str(cli), "run", str(script), "total", *argv],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert done.returncode == code
    out = done.stdout + done.stderr
    for text in expected:
        assert text in out, out
    if code:
        assert len(done.stderr.strip().splitlines()) == 1


def test_run_outputs_shows_the_items_its_tasks_finish_and_a_bar_per_map() -> None:
    done = run_program("run_progress", extra_env={"FLYTE_DASK_PROGRESS": "1", "DASK_FLYTE_DASK__PROGRESS_DELAY": "0s"})
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "30"
    final = [line for line in done.stderr.replace("\r", "\n").splitlines() if line.startswith("run runprogress.main:")][
        -1
    ]
    assert "3000item" in final and "failed=30" in final, final  # 3,000 map items; the run's own call is a parent
    bars = done.stderr.replace("\r", "\n")
    assert "runprogress.main / runprogress.step: 100%" in bars and "3000/3000" in bars  # the map's bar, with its total


def test_a_new_version_override_runs_a_cached_map_again(tmp_path: Path) -> None:
    log = tmp_path / "executed.log"
    cache = {"DASK_FLYTE_DASK__CACHE__PATH": str(tmp_path / "store")}

    def run(version: str) -> tuple[list[str], int]:
        before = len(log.read_text().splitlines()) if log.exists() else 0
        done = run_program("versioned_cache", version, str(log), extra_env=cache)
        assert done.returncode == 0, done.stderr
        return done.stdout.strip().splitlines()[-1].split(","), len(log.read_text().splitlines()) - before

    assert run("v1") == ([f"v1:{x}" for x in range(50)], 50)
    assert run("v1") == ([f"v1:{x}" for x in range(50)], 0)  # same override: every item from the cache
    assert run("v2") == ([f"v2:{x}" for x in range(50)], 50)  # a new override: every item runs again


def test_clone_with_override_partial_positional_run_and_init_from_config() -> None:
    done = run_program("surface")
    assert done.returncode == 0, done.stderr
    found = json.loads(done.stdout.strip().splitlines()[-1])
    assert found["label"] == "positional"  # flyte.run(main, 3, label=...): positional inputs
    assert found["base"] == "base:-:1"
    assert found["override"] == "over:yes:2"  # override(env_vars=...) for those calls only
    assert found["clone"] == "fast:3" and found["clone_name"] == ["surface_fast", True]
    assert found["partial"] == ["hi-0-7", "hi-1-7", "hi-2-7"]
    # The mapped items fill the next positional parameter; a partial that names it fails as in Flyte 2.
    assert found["partial_error"] == (
        "Parameter 'name' is provided both as positional argument and keyword argument in partial function surface.greet."
    )
    assert found["override_name"] == "Name cannot be overridden"
    assert found["override_reusable"].startswith("Cannot override env when reusable is set.")
    assert len(found["override_warns"]) == 1 and "task.override(queue=...)" in found["override_warns"][0]
    assert "colour" in found["clone_error"]
