"""Progress bars: drawn in a terminal, silent in a pipe, switched by an environment variable."""

from __future__ import annotations

import fcntl
import os
import pty
import select
import struct
import subprocess
import sys
import termios
from pathlib import Path

SCRIPT = Path(__file__).with_name("progress_script.py")


def _env(progress: str | None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "FLYTE_DASK_PROGRESS"}
    env["DASK_FLYTE_DASK__PROGRESS_DELAY"] = "0s"
    if progress is not None:
        env["FLYTE_DASK_PROGRESS"] = progress
    return env


def _in_terminal(progress: str | None = None, script: Path = SCRIPT) -> str:
    """Everything ``script`` writes to a 120x40 pseudo-terminal."""
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 120, 0, 0))
    proc = subprocess.Popen([sys.executable, str(script)], stdin=slave, stdout=slave, stderr=slave, env=_env(progress))
    os.close(slave)
    out = b""
    while select.select([master], [], [], 120)[0]:
        try:
            chunk = os.read(master, 65536)
        except OSError:  # the terminal closed with the process
            break
        if not chunk:
            break
        out += chunk
    os.close(master)
    assert proc.wait(timeout=120) == 0, out.decode(errors="replace")[-2000:]
    return out.decode(errors="replace")


def _in_a_pipe(progress: str | None = None) -> str:
    done = subprocess.run(
        [sys.executable, str(SCRIPT)], capture_output=True, text=True, timeout=120, env=_env(progress)
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout + done.stderr


def test_bars_in_a_terminal() -> None:
    out = _in_terminal()
    assert "mapped 2000" in out and "streamed 1000" in out and "gathered 300" in out
    assert "outer / prog.step: 100%" in out and "2000/2000" in out and "failed=4" in out  # nested in its group
    assert "prog.step: 1000item [" in out and "item/s" in out  # unknown length: a count and a rate
    assert "prog.astep: 100%" in out and "300/300" in out  # a gather of many calls


def test_silent_in_a_pipe_unless_switched_on() -> None:
    quiet = _in_a_pipe()
    assert "mapped 2000" in quiet and "item/s" not in quiet
    assert "item/s" in _in_a_pipe("1")


def test_switched_off_in_a_terminal() -> None:
    out = _in_terminal("0")
    assert "gathered 300" in out and "item/s" not in out


def test_a_run_draws_a_bar_per_kind_of_map_with_totals_and_no_parents() -> None:
    out = _in_terminal(script=Path(__file__).parent / "flyte2" / "nested_progress.py")
    assert "24500" in out  # the run's answer
    assert "nest.main / nest.mid: 100%" in out and "20/20" in out  # main's map of parents, with its total
    assert "nest.mid / nest.mid_map / nest.leaf: 100%" in out and "1000/1000" in out  # 20 maps of 50, one bar
    finals = [line for line in out.replace("\r", "\n").splitlines() if line.startswith("run nest.main:")]
    assert finals and "1000item" in finals[-1], finals[-3:]  # the leaves; main and the mids are parents
