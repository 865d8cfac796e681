"""A Flyte 2 GPU script with no main guard, on the embedded LocalCUDACluster: top-level code runs once."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

SCRIPT = """
import sys
import flyte_dask as flyte

with open(sys.argv[1], "a") as log:
    log.write("top-level\\n")

env = flyte.TaskEnvironment(name="gpunoguard", resources=flyte.Resources(gpu=1))


@env.task
def on_gpu(x: int) -> float:
    import cupy

    return float(cupy.arange(x).sum())


flyte.init()
print(list(flyte.map(on_gpu, [3, 4, 5])))
"""


def test_gpu_script_without_main_guard(tmp_path: Path) -> None:
    script, log = tmp_path / "gpu_no_guard.py", tmp_path / "top-level.log"
    script.write_text(SCRIPT)
    root = Path(__file__).parent.parent.parent
    done = subprocess.run(
        [sys.executable, str(script), str(log)],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "PYTHONPATH": str(root)},
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[3.0, 6.0, 10.0]"
    assert log.read_text().splitlines() == ["top-level"]
