"""`flyte.run` as Flyte 2.12 runs it: local mode (the embedded cluster) runs to the end and raises there, remote
mode (a cluster given by address or object) returns at once; the syncified entry points have their ``.aio``
forms; a run left unfinished at exit is waited for, never abandoned."""

from __future__ import annotations

import asyncio
import http.server
import json
import queue
import subprocess
import sys
import textwrap
import threading
import time
import typing
import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest
from distributed import Client, Event, LocalCluster

import flyte_dask as flyte
from flyte_dask import _deployment, errors, notify
from flyte_dask.models import ActionPhase

from .conftest import DaskProcesses, eventually

env = flyte.TaskEnvironment(name="run_modes")
ROOT = Path(__file__).resolve().parents[1]


@env.task
def waits_for(name: str) -> str:
    assert Event(name).wait(60)
    return name


@env.task
def fails(x: int) -> int:
    raise ValueError(f"bad {x}")


@env.task
async def mode_seen() -> str:
    return flyte.ctx().mode


@pytest.fixture
def embedded(no_session: None) -> Iterator[Client]:
    """The embedded cluster, as ``flyte.init()`` with no address starts it (kept small)."""
    client = flyte.init(n_workers=1, threads_per_worker=2)
    yield client
    flyte.shutdown()


class _Hooks(http.server.BaseHTTPRequestHandler):
    """Records each JSON request a notification makes; answers 200."""

    received: typing.ClassVar[queue.Queue[tuple[str, str, str | None, dict[str, object]]]]

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        self.received.put((self.command, self.path, self.headers.get("X-Run"), body))
        self.send_response(200)
        self.end_headers()

    do_PUT = do_POST

    def log_message(self, *args: object) -> None:
        """Quiet."""


@pytest.fixture
def hooks() -> Iterator[tuple[str, queue.Queue[tuple[str, str, str | None, dict[str, object]]]]]:
    """A real HTTP server on loopback standing in for Slack, Teams and a webhook receiver."""
    handler = type("Hooks", (_Hooks,), {"received": queue.Queue()})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", handler.received
    server.shutdown()
    server.server_close()


def test_on_the_embedded_cluster_run_runs_to_the_end_and_raises_there(
    embedded: Client, hooks: tuple[str, typing.Any]
) -> None:
    url, received = hooks
    told = notify.Webhook(on_phase=(ActionPhase.FAILED, ActionPhase.SUCCEEDED), url=url, body={"p": "{run.phase}"})
    with pytest.raises(ValueError, match="bad 3") as caught:
        flyte.with_runcontext(notifications=told).run(fails, 3)
    assert isinstance(caught.value, errors.RuntimeUserError)
    assert received.get_nowait()[-1] == {"p": "failed"}  # delivered before run() raised, as Flyte's local runner
    run = flyte.with_runcontext(notifications=told).run(mode_seen)
    assert received.get_nowait()[-1] == {"p": "succeeded"}
    assert run.done() and run.phase == "SUCCEEDED"
    assert run.outputs()[0] == "local"


def test_init_takes_flytes_platform_keywords_and_names_a_misspelt_option(
    no_session: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    with pytest.raises(
        TypeError, match="init\\(\\) got 'n_wrkers', which neither Flyte's init nor Dask's LocalCluster"
    ):
        flyte.init(n_wrkers=1)
    monkeypatch.setattr(_deployment, "_warned", set())  # each ignored option warns once per process
    with warnings.catch_warnings(record=True) as warned:
        warnings.simplefilter("always")
        client = flyte.init(api_key="", project="p", domain="d", n_workers=1, threads_per_worker=1)
    try:
        said = {str(w.message).split(":")[0]: w.filename for w in warned if w.category is UserWarning}
        assert said == {f"flyte_dask ignores init({name}=...)": __file__ for name in ("api_key", "project", "domain")}
        assert len(client.scheduler_info(n_workers=-1)["workers"]) == 1
        assert flyte.run(mode_seen).outputs()[0] == "local"
    finally:
        flyte.shutdown()


def test_mode_remote_returns_at_once_even_on_the_embedded_cluster(embedded: Client) -> None:
    name = f"release-{time.monotonic_ns()}"
    run = flyte.with_runcontext(mode="remote").run(waits_for, name)
    assert not run.done()
    Event(name, client=embedded).set()
    run.wait()
    assert run.outputs()[0] == name


def test_on_a_cluster_given_by_object_run_returns_at_once(session: Client) -> None:
    name = f"release-{time.monotonic_ns()}"
    run = flyte.run(waits_for, name)
    assert not run.done() and run.phase == "RUNNING"
    Event(name, client=session).set()
    assert run.outputs()[0] == name
    failed = flyte.run(fails, 4)  # remote mode: the error waits for outputs()
    with pytest.raises(ValueError, match="bad 4"):
        failed.outputs()
    with pytest.raises(ValueError, match="bad 5"):
        flyte.with_runcontext(mode="local").run(fails, 5)
    assert flyte.run(mode_seen).outputs()[0] == "remote"


def test_the_async_forms_of_init_run_wait_and_outputs(cluster: LocalCluster, no_session: None) -> None:
    async def go() -> tuple[str, str, str]:
        client = await flyte.init.aio(Client(cluster, set_as_default=False))
        name = f"release-{time.monotonic_ns()}"
        run = await flyte.run.aio(waits_for, name)
        Event(name, client=client).set()
        await run.wait.aio()
        (value,) = await run.outputs.aio()
        failed = await flyte.with_runcontext(mode="remote").run.aio(fails, 6)
        try:
            await failed.outputs.aio()
        except ValueError as exc:
            return value, run.phase, str(exc)
        raise AssertionError("outputs.aio() did not raise")

    try:
        value, phase, error = asyncio.run(go())
    finally:
        flyte.shutdown()
    assert value.startswith("release-") and phase == "SUCCEEDED" and error == "bad 6"


def test_init_from_config_has_an_async_form(dask_processes: DaskProcesses, tmp_path: Path, no_session: None) -> None:
    config = tmp_path / "flyte-dask.yaml"
    config.write_text(f"address: {dask_processes.address}\n")

    async def go() -> str:
        client = await flyte.init_from_config.aio(str(config))
        return str(client.scheduler.address)

    try:
        assert asyncio.run(go()) == dask_processes.address
    finally:
        flyte.shutdown()


def test_abort_cancels_the_run(session: Client, hooks: tuple[str, typing.Any]) -> None:
    url, received = hooks
    told = notify.Webhook(on_phase=ActionPhase.ABORTED, url=url, body={"phase": "{{.Phase}}", "run": "{{.Run.Name}}"})
    name = f"never-{time.monotonic_ns()}"
    run = flyte.with_runcontext(notifications=told).run(waits_for, name)
    run.abort()
    run.wait(timeout=30)
    Event(name, client=session).set()  # the cancelled call's thread stops waiting
    assert run.phase == "ABORTED"
    assert received.get_nowait()[-1] == {"phase": "aborted", "run": run.name}


SCRIPT = """
import sys, time
import flyte_dask as flyte

env = flyte.TaskEnvironment(name="left_running")

@env.task
def slow(path: str) -> int:
    time.sleep(2)
    open(path, "w").write("finished")
    return 1

flyte.init(sys.argv[1])
flyte.run(slow, sys.argv[2])  # remote mode: returns at once, and nobody asks for its outputs
print("script ended", flush=True)
"""


def test_a_run_nobody_waited_for_is_finished_at_exit_saying_so(dask_processes: DaskProcesses, tmp_path: Path) -> None:
    marker = tmp_path / "marker"
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(SCRIPT), dask_processes.address, str(marker)],
        capture_output=True,
        text=True,
        timeout=90,
        cwd=ROOT,
    )
    assert done.returncode == 0, done.stderr
    assert marker.read_text() == "finished"
    assert "flyte_dask: waiting for 1 unfinished run(s) before exiting: left_running.slow-" in done.stderr
    assert "SUCCEEDED" in done.stderr
    assert "Traceback" not in done.stderr and "cannot schedule new futures" not in done.stderr, done.stderr


def test_ctrl_c_while_waiting_at_exit_aborts_the_run(dask_processes: DaskProcesses, tmp_path: Path) -> None:
    import signal

    marker = tmp_path / "marker"
    script = textwrap.dedent(SCRIPT).replace("time.sleep(2)", "time.sleep(30)")
    proc = subprocess.Popen(
        [sys.executable, "-c", script, dask_processes.address, str(marker)],
        stderr=subprocess.PIPE,
        text=True,
        cwd=ROOT,
    )
    assert proc.stderr is not None
    for line in proc.stderr:
        if "waiting for 1 unfinished run(s)" in line:
            break
    proc.send_signal(signal.SIGINT)
    rest = proc.stderr.read()
    assert proc.wait(timeout=60) == 0
    assert "flyte_dask: aborted left_running.slow-" in rest, rest
    with Client(dask_processes.address, set_as_default=False) as client:  # the run is gone from the scheduler

        def left() -> int:
            return client.run_on_scheduler(
                lambda dask_scheduler: sum(1 for key in dask_scheduler.tasks if "left_running.slow" in str(key))
            )

        assert eventually(lambda: left() == 0, timeout=20)


def test_notifications_are_delivered_when_the_run_ends_in_their_phase(
    session: Client, hooks: tuple[str, typing.Any]
) -> None:
    # flyte 2.12's notify/_notifiers.py (fields, checks) and notify/_sender.py (local delivery on the run's end)
    url, received = hooks
    sent = (
        notify.Webhook(
            on_phase=ActionPhase.SUCCEEDED, url=f"{url}/done", method="PUT", headers={"X-Run": "{run.name}"}
        ),
        notify.Slack(on_phase=(ActionPhase.FAILED, ActionPhase.TIMED_OUT), webhook_url=f"{url}/slack"),
        notify.Teams(on_phase=ActionPhase.SUCCEEDED, webhook_url="http://127.0.0.1:9/refused"),  # fails, logged
        notify.NamedDelivery(on_phase=ActionPhase.FAILED, name="pager"),  # lives on Flyte's backend: skipped
    )
    run = flyte.with_runcontext(name="notified", notifications=sent).run(mode_seen)
    run.wait()  # remote mode on this cluster: wait() returns once the notifications are out
    assert received.get_nowait() == (
        "PUT",
        "/done",
        "notified",
        {"run": "notified", "project": "", "domain": "", "phase": "succeeded", "error": ""},
    )
    with pytest.raises(ValueError, match="bad 5"):
        flyte.with_runcontext(name="failing", notifications=sent).run(fails, 5).outputs()
    method, path, _, body = received.get_nowait()
    assert (method, path) == ("POST", "/slack")
    assert body == {"text": "Run: failing finished with phase failed\n | /\n"}
    assert received.empty()
    with pytest.raises(ValueError, match=r"Notification on phase ActionPhase.RUNNING is not supported"):
        notify.Webhook(on_phase=ActionPhase.RUNNING, url=url)
    with pytest.raises(ValueError, match="At least one recipient"):
        notify.Email(on_phase=ActionPhase.FAILED, recipients=[])
    with pytest.raises(TypeError, match=r"takes a flyte\.notify notification"):
        flyte.with_runcontext(notifications=["slack"])  # type: ignore[list-item]
