"""The Dask dashboard of flyte_dask's embedded cluster, over HTTP, and `flyte-dask run --report`."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

from distributed import Event

import flyte_dask as flyte

ROOT = Path(__file__).resolve().parents[1]
env = flyte.TaskEnvironment(name="dash")


@env.task
def held(x: int, event_name: str) -> int:
    """Runs until the test has looked at the dashboard."""
    assert Event(event_name).wait(60)
    return x


def _get(url: str) -> str:
    with urllib.request.urlopen(url, timeout=30) as response:
        assert response.status == 200, url
        return response.read().decode(errors="replace")


def test_the_dashboard_link_serves_the_live_dashboard(no_session: None) -> None:
    client = flyte.init(n_workers=1, threads_per_worker=2, dashboard_address="127.0.0.1:0")
    try:
        Event("dash-no-wait-needed", client=client).set()  # the embedded cluster runs it to the end (local mode)
        link = flyte.run(held, 0, "dash-no-wait-needed")  # a run's url is the dashboard
        assert link.outputs()[0] == 0 and link.url is not None
        base = link.url.rsplit("/", 1)[0]
        assert "needs bokeh" not in _get(link.url) and "Dask" in _get(link.url)
        assert "Task Stream" in _get(f"{base}/individual-plots.json")
        event = Event("dash-hold", client=client)
        mapped = threading.Thread(target=lambda: list(flyte.map(held, range(2), ["dash-hold"] * 2, batch_size=1)))
        mapped.start()
        (worker,) = client.scheduler_info()["workers"]
        deadline = time.monotonic() + 30
        while "dash.held" not in (page := _get(f"{base}/info/worker/{worker}.html")):
            assert time.monotonic() < deadline, page[-2000:]
            time.sleep(0.1)
        event.set()
        mapped.join(60)
        assert not mapped.is_alive()
    finally:
        flyte.shutdown()


def test_run_report_saves_the_performance_report(tmp_path: Path) -> None:
    report = tmp_path / "run.html"
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "flyte_dask._cli",
            "run",
            "tests/seeds/map_basic.py",
            "main",
            "--items",
            "[1, 2, 3]",
            "--report",
            str(report),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[2, 4, 6]" and f"report: {report}" in done.stderr
    html = report.read_text()
    assert "Task Stream" in html and "Worker Profile" in html and "Bandwidth" in html
    assert "my_env.process_item" in html


def test_with_runcontext_report_saves_the_runs_performance_report(tmp_path: Path, session: object) -> None:
    from .conftest import seed

    report = tmp_path / "nightly.html"
    run = flyte.with_runcontext(name="nightly", report=str(report)).run(seed("map_basic").main, items=[1, 2, 3])
    assert run.outputs()[0] == [2, 4, 6]
    html = report.read_text()
    assert "Task Stream" in html and "my_env.process_item" in html
