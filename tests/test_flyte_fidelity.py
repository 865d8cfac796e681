"""Behave as Flyte 2.12 does wherever a program can tell: the surface of `Cache`, `TaskEnvironment`,
`ReusePolicy`, `Backoff` and `RetryStrategy` (checked against flyte 2.12's code: ``_cache/cache.py``,
``_environment.py``, ``_task_environment.py``, ``_reusable_environment.py``, ``_retry.py``), values converted
at a task boundary as its type engine does, and a program written with ``import flyte`` run unchanged."""

from __future__ import annotations

import asyncio
import dataclasses
import datetime
import json
import os
import re
import subprocess
import sys
import threading
import time
import typing
from pathlib import Path

import pytest
from distributed import Client
from pydantic import BaseModel

import flyte_dask as flyte
from flyte_dask import _deployment, durable, errors

from .conftest import DaskProcesses

ROOT = Path(__file__).resolve().parents[1]
PROGRAMS = Path(__file__).parent / "flyte2"
env = flyte.TaskEnvironment(name="fidelity")


# -- Cache -------------------------------------------------------------------------------------------------------
def test_cache_surface_is_flytes() -> None:
    auto = flyte.Cache(behavior="auto")
    assert auto.is_enabled() and auto.get_ignored_inputs() == ()
    assert len(auto.policies) == 1 and type(auto.policies[0]).__name__ == "FunctionBodyPolicy"
    assert not flyte.Cache(behavior="disable").is_enabled() and flyte.Cache(behavior="disable").get_version() == ""
    assert flyte.Cache(behavior="auto", version_override="v1").get_version() == "v1"
    assert flyte.Cache(behavior="auto", ignored_inputs="x").get_ignored_inputs() == ("x",)
    assert flyte.Cache(behavior="auto", ignored_inputs=["x", "y"]).get_ignored_inputs() == ("x", "y")
    assert flyte.Cache(behavior="YES").behavior == "auto" and flyte.Cache(behavior="off").behavior == "disable"
    with pytest.raises(ValueError, match=r"Invalid cache behavior: 'sometimes'\. .*aliases accepted"):
        flyte.Cache(behavior="sometimes")
    with pytest.raises(ValueError, match="Version parameters must be provided"):
        auto.get_version(None)
    with pytest.raises(ValueError, match="at least one cache policy"):
        flyte.Cache(behavior="auto", policies=[])


def test_the_function_body_policy_versions_the_code_not_the_object() -> None:
    def one(a: str) -> str:
        return "hello"

    def make() -> typing.Callable[[str], str]:
        def one(a: str) -> str:
            return "hello"

        return one

    def other(a: str) -> str:
        return "bye"

    cache = flyte.Cache(behavior="auto")
    version = cache.get_version(flyte.VersionParameters(func=one))
    assert version == cache.get_version(flyte.VersionParameters(func=make()))
    assert version != cache.get_version(flyte.VersionParameters(func=other))
    assert version != flyte.Cache(behavior="auto", salt="v2").get_version(flyte.VersionParameters(func=one))


# -- TaskEnvironment ---------------------------------------------------------------------------------------------
def test_task_environment_checks_its_arguments_as_flyte_does() -> None:
    with pytest.raises(ValueError, match=r"Environment name 'bad name!' must be in snake_case or kebab-case format\."):
        flyte.TaskEnvironment(name="bad name!")
    cases: list[tuple[dict[str, object], str]] = [
        ({"image": 1}, "Expected image to be of type str or Image, got <class 'int'>"),
        ({"secrets": 1}, "Expected secrets to be of type SecretRequest, got <class 'int'>"),
        ({"depends_on": [1]}, r"Expected depends_on to be of type List\[Environment\]"),
        ({"resources": 1}, "Expected resources to be of type Resources, got <class 'int'>"),
        ({"env_vars": 1}, r"Expected env_vars to be of type Dict\[str, str\]"),
        ({"cache": 1}, "Expected cache to be of type str or Cache, got <class 'int'>"),
        ({"reusable": 1}, "Expected reusable to be of type ReusePolicy, got <class 'int'>"),
        ({"include": "a.html"}, "sequence of str paths"),
        ({"include": ["a.html", 2]}, "include entries must be str"),
    ]
    for kwargs, message in cases:
        with pytest.raises(TypeError, match=message):
            flyte.TaskEnvironment(name="checked", **kwargs)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="Expected Environment"):
        flyte.TaskEnvironment(name="deps").add_dependency(1)  # type: ignore[arg-type]


def test_task_environment_keeps_its_tasks_includes_and_clones() -> None:
    base = flyte.TaskEnvironment(name="kept", include=["a.html", "b.html"], cache="auto")

    @base.task
    async def first(x: int) -> int:
        return x

    @base.task(short_name="second_one")
    def second(x: int) -> int:
        return x

    assert list(base.tasks) == ["kept.first", "kept.second"] and base.tasks["kept.first"] is first
    assert (first.short_name, second.short_name) == ("first", "second_one")
    assert base.include == ("a.html", "b.html") and hash(base.include) == hash(("a.html", "b.html"))
    assert base._declaring_file == str(Path(__file__).resolve())
    clone = base.clone_with(name="kept_clone", cache="custom", include=["c.html"])
    assert clone.tasks == {} and clone.cache == "custom" and clone.include == ("c.html",)
    assert base.include == ("a.html", "b.html") and clone.depends_on == [] and clone.reusable is None
    with pytest.raises(ValueError, match="Invalid cache behavior: 'custom'"):
        clone.task(lambda: None)  # the behaviour is checked where a task takes it, as in Flyte
    with pytest.raises(TypeError, match="Unexpected keyword arguments"):
        base.clone_with(name="x", colour="red")
    reusable = base.clone_with(name="kept_reusable", reusable=flyte.ReusePolicy(replicas=(1, 2)))
    with pytest.raises(ValueError, match="Cannot set pod_template when environment is reusable"):
        reusable.task(pod_template="template")


def test_reuse_policy_normalises_as_flyte_does() -> None:
    policy = flyte.ReusePolicy(replicas=3, idle_ttl=60)
    assert policy.replicas == (3, 3) and policy.min_replicas == 3
    assert policy.idle_ttl == datetime.timedelta(seconds=60)
    assert policy.get_scaledown_ttl() == datetime.timedelta(seconds=30)
    assert flyte.ReusePolicy(replicas=1) == flyte.ReusePolicy(replicas=(1, 1))
    for kwargs, message in [
        ({"replicas": (3, 1)}, r"replicas min \(3\) must be less than or equal to max \(1\)"),
        ({"replicas": (1, 2, 3)}, "replicas must be an int or a tuple of two ints"),
        ({"concurrency": 0}, "concurrency must be at least 1"),
        ({"idle_ttl": 5}, "idle_ttl must be at least 30 seconds"),
        ({"scope": "cluster"}, 'scope must be "global" or "run"'),
    ]:
        with pytest.raises(ValueError, match=message):
            flyte.ReusePolicy(**kwargs)  # type: ignore[arg-type]


def test_backoff_retry_runcontext_and_durable_now_as_flyte_does() -> None:
    with pytest.raises(ValueError, match=re.escape("Backoff.base must be >= 0")):
        flyte.Backoff(base=datetime.timedelta(seconds=-1))
    with pytest.raises(ValueError, match=re.escape("Backoff.factor must be a finite number")):
        flyte.Backoff(base=datetime.timedelta(seconds=1), factor=float("nan"))
    with pytest.raises(ValueError, match=re.escape("Backoff.factor must be >= 1.0")):
        flyte.Backoff(base=datetime.timedelta(seconds=1), factor=0.5)
    with pytest.raises(ValueError, match=re.escape("Backoff.cap is required when factor > 1.0")):
        flyte.Backoff(base=datetime.timedelta(seconds=1), factor=2.0)
    with pytest.raises(ValueError, match="must be an int"):
        flyte.RetryStrategy(count=1.5)  # type: ignore[arg-type]
    for concurrency in (1, -1):
        with pytest.raises(ValueError, match="max_action_concurrency must be 0"):
            flyte.with_runcontext(max_action_concurrency=concurrency)
    stamp = durable.now()
    assert stamp.tzinfo is None and abs((datetime.datetime.now() - stamp).total_seconds()) < 60


def test_durable_sleep_sleeps_what_is_left_and_is_laid_out_as_flytes(monkeypatch: pytest.MonkeyPatch) -> None:
    # flyte 2.12's durable/_time.py: sleep until start + seconds, through asyncio.sleep in both forms; tests of
    # Flyte programs patch time.time and asyncio.sleep there.
    # Both are patched for this thread only: Dask's own threads keep the real clock and sleep.
    here, real_sleep, real_time = threading.get_ident(), asyncio.sleep, time.time
    slept: list[float] = []
    ticks: typing.Iterator[float] = iter(())

    async def sleep(seconds: float) -> None:
        if threading.get_ident() != here:
            return await real_sleep(seconds)
        slept.append(seconds)

    monkeypatch.setattr(durable._time.asyncio, "sleep", sleep)
    monkeypatch.setattr(
        durable._time.time, "time", lambda: next(ticks) if threading.get_ident() == here else real_time()
    )
    for clock, expected in (([100.0, 100.0], [5.0]), ([100.0, 103.0], [2.0]), ([100.0, 105.0], []), ([1.0, 9.0], [])):
        slept.clear()
        ticks = iter(clock)
        durable.sleep(5.0)
        assert slept == expected, clock
    monkeypatch.undo()
    started = time.monotonic()
    asyncio.run(durable.sleep.aio(0.2))
    durable.sleep(0.2)
    assert time.monotonic() - started >= 0.4


# -- values at a task boundary -----------------------------------------------------------------------------------
class Query(BaseModel):
    query: str
    name: str = "default"
    tags: dict[str, str] | None = None


@dataclasses.dataclass
class Inner:
    size: int = 1


@dataclasses.dataclass
class Request:
    label: str
    inner: Inner = dataclasses.field(default_factory=Inner)


class Point(typing.TypedDict):
    x: int
    y: int


class Reply(typing.TypedDict):
    text: str
    extra: typing.NotRequired[int]


@env.task
def reply(with_extra: bool) -> Reply:
    return {"text": "hi", "extra": 1} if with_extra else {"text": "hi"}


class Pair(typing.NamedTuple):
    count: int
    label: str


@env.task
def describe_query(q: Query) -> str:
    return f"{q.query}/{q.name}/{q.tags}"


@env.task
async def describe_request(r: Request) -> str:
    return f"{r.label}/{r.inner.size}"


@env.task
def add_point(p: Point) -> int:
    return p["x"] + p["y"]


@env.task
def shift(when: datetime.datetime) -> datetime.datetime:
    assert when.tzinfo is not None
    return (when + datetime.timedelta(hours=1)).replace(tzinfo=None)  # naive again: the return converts it too


@env.task
def pair(n: int) -> Pair:
    return Pair(n, "x")


@env.task
def two(n: int) -> tuple[int, str]:
    return n, str(n)


def test_dicts_become_the_models_their_parameters_name(session: Client) -> None:
    assert flyte.run(describe_query, {"query": "select 1"}).outputs()[0] == "select 1/default/None"
    assert describe_query({"query": "q", "tags": {"team": "ml"}}) == "q/default/{'team': 'ml'}"
    assert list(flyte.map(describe_request, [{"label": "a"}, {"label": "b", "inner": {"size": 4}}])) == ["a/1", "b/4"]

    async def gathered() -> list[str]:
        return list(await asyncio.gather(describe_request({"label": "c"}), describe_request(Request("d", Inner(2)))))

    assert asyncio.run(gathered()) == ["c/1", "d/2"]
    with pytest.raises(TypeError, match="expected Query"):
        describe_query({"name": "no query"})


def test_typed_dicts_are_checked_and_datetimes_cross_as_utc(session: Client) -> None:
    assert add_point({"x": 1, "y": 2}) == 3
    with pytest.raises(TypeError, match=r"missing keys \['y'\]"):
        add_point({"x": 1})
    assert reply(False) == {"text": "hi"} and reply(True) == {"text": "hi", "extra": 1}  # NotRequired may be left out
    shifted = flyte.run(shift, datetime.datetime(2024, 1, 15, 10, 30)).outputs()[0]
    assert shifted == datetime.datetime(2024, 1, 15, 11, 30, tzinfo=datetime.UTC)


def test_several_return_values_are_several_outputs(session: Client) -> None:
    outputs = flyte.run(pair, 3).outputs()
    assert tuple(outputs) == (3, "x") and outputs.named_outputs == {"count": 3, "label": "x"}
    number, text = flyte.run(two, 4).outputs()
    assert (number, text) == (4, "4") and flyte.run(two, 5).outputs().o1 == "5"


# -- a program written for Flyte ---------------------------------------------------------------------------------
def _program(*command: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, *command], capture_output=True, text=True, timeout=180, cwd=PROGRAMS, check=False
    )


def _script(path: Path, *lines: str) -> subprocess.CompletedProcess[str]:
    """Write a program of ``lines`` at ``path``, run it with ``python -m flyte_dask``, and check it succeeded."""
    path.write_text("".join(lines))
    done = _program("-m", "flyte_dask", str(path))
    assert done.returncode == 0, done.stderr[-3000:]
    return done


def test_a_program_with_import_flyte_runs_unchanged(dask_processes: DaskProcesses) -> None:
    expected = {"count": 8, "price": 18.0, "box": "crate:3", "when": "2024-01-15T10:30:00+00:00"}
    done = _program("-m", "flyte_dask", "written_for_flyte.py", dask_processes.address)
    assert done.returncode == 0, done.stderr[-3000:]
    first, second = done.stdout.strip().splitlines()[-2:]
    assert json.loads(first) == {**expected, "file": "flyte_dask.io._file"}
    assert json.loads(second) == [1, 2.0]
    via_cli = _program(
        "-m", "flyte_dask", "run", "written_for_flyte.py", "main", "--n", "2", "--box", '{"label": "bin", "size": 5}',
        "--address", dask_processes.address,
    )  # fmt: skip
    assert via_cli.returncode == 0, via_cli.stderr[-3000:]
    found = json.loads(json.loads(via_cli.stdout.strip().splitlines()[-1]))
    assert found == {"count": 4, "price": 3.0, "box": "bin:5", "when": expected["when"], "file": "flyte_dask.io._file"}


def test_install_as_flyte_serves_flytes_names_and_refuses_what_it_cannot(no_session: None) -> None:
    script = """
import flyte_dask
flyte_dask.install_as_flyte()
import flyte, flyte.errors, flyte.storage
from flyte.io import File
from flyte.remote import Run
assert flyte is flyte_dask and File is flyte_dask.io.File and flyte.errors is flyte_dask.errors
assert flyte.storage.join("a", "b") == "a/b" and not flyte.storage.is_remote("/tmp/x")
try:
    Run.get(name="r1")
except flyte.errors.NotOnDaskError as e:
    print("refused:", e)
try:
    import flyte._image
except ModuleNotFoundError as e:
    print("missing:", e)
"""
    done = _program("-c", script)
    assert done.returncode == 0, done.stderr
    assert "refused: flyte.remote.Run is part of Flyte's platform and has no meaning on a Dask cluster" in done.stdout
    assert "missing: flyte._image is not served by flyte_dask" in done.stdout


def test_without_asking_a_real_flyte_is_never_shadowed(tmp_path: Path) -> None:
    (tmp_path / "flyte").mkdir()
    (tmp_path / "flyte" / "__init__.py").write_text("REAL = True\n")
    script = """
import flyte_dask, flyte
print(getattr(flyte, "REAL", False))
try:
    flyte_dask.install_as_flyte()
except RuntimeError as e:
    print("refused:", e)
"""
    done = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path), str(ROOT)])},
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[0] == "True"
    assert "refused: install_as_flyte(): the real `flyte` is already imported" in done.stdout


def test_the_embedded_cluster_runs_gpu_tasks_on_its_cpu_workers(tmp_path: Path) -> None:
    done = _script(
        tmp_path / "gpu_pipeline.py",
        "import flyte\n"
        "env = flyte.TaskEnvironment(name='gpu_pipeline', resources=flyte.Resources(gpu='A100:1'))\n"
        "tpu = flyte.TaskEnvironment(name='tpu_pipeline', resources=flyte.Resources(gpu=flyte.TPU('V5P', '2x2x1')))\n"
        "@env.task\ndef embed(x: int) -> int:\n    return x * 2\n"
        "@tpu.task\ndef tensor(x: int) -> int:\n    return x + 1\n"
        "if __name__ == '__main__':\n"
        "    flyte.init(n_workers=1, threads_per_worker=2)\n"
        "    print(flyte.run(embed, 21).outputs()[0], flyte.run(tensor, 1).outputs()[0])\n",
    )
    script = tmp_path / "gpu_pipeline.py"
    assert done.stdout.strip().splitlines()[-1] == "42 2"
    assert (
        "task gpu_pipeline.embed asks for {'GPU': 1.0, 'GPU-A100': 1.0}, and the embedded cluster has no GPU"
        in done.stderr
    )
    assert "task tpu_pipeline.tensor asks for {'TPU': 1.0, 'TPU-V5P': 1.0}" in done.stderr
    refused = subprocess.run(
        [sys.executable, "-m", "flyte_dask", str(script)],
        capture_output=True,
        text=True,
        timeout=180,
        env={**os.environ, "DASK_FLYTE_DASK__LOCAL_GPU": "refuse", "DASK_FLYTE_DASK__RESOURCES_TIMEOUT": "1s"},
    )
    assert refused.returncode != 0 and "UnsatisfiableResourcesError" in refused.stderr


def test_names_flyte_has_and_dask_does_not_import_and_refuse_on_use() -> None:
    from flyte_dask import artifacts, extras, models, remote, types

    for name, module in (
        ("Run", remote),
        ("produces", artifacts),
        ("TypeEngine", types),
        ("ContainerTask", extras),
        ("CodeBundle", models),
    ):
        absent = getattr(module, name)
        with pytest.raises(errors.NotOnDaskError, match=f"{module.__name__.replace('flyte_dask', 'flyte')}.{name}"):
            absent()
        with pytest.raises(NotImplementedError):
            absent.anything  # noqa: B018
    with pytest.raises(AttributeError):
        remote.NoSuchName  # noqa: B018


def test_every_top_level_name_of_flyte_imports() -> None:
    from flyte_dask import Checkpoint, Link, deploy  # each of Flyte 2.12's names imports

    assert "declared" in repr(Link(name="docs"))
    assert not flyte.is_control_plane_available() and flyte.current_project() is None
    for absent, advice in ((Checkpoint, "cache='auto'"), (deploy, "flyte.run(task, ...)")):
        with pytest.raises(errors.NotOnDaskError, match=re.escape(advice)):
            absent()


@env.task
def context_fields() -> list[object]:
    c = flyte.ctx()
    return [c.run_base_dir, c.checkpoint, c.is_in_cluster(), c.interactive_mode, c["missing"], c.code_bundle, c.rank]


@env.task(retries=3)
async def succeeds_on_third_attempt() -> tuple[int, str]:
    attempt = flyte.ctx().attempt_number
    if attempt < 2:
        raise ConnectionError(f"attempt {attempt} fails")
    return attempt, os.environ["FLYTE_ATTEMPT_NUMBER"]  # as Flyte's backend sets it, for this call only


@env.task(retries=1)
def retried_once(x: int) -> int:
    if flyte.ctx().attempt_number == 0:
        raise ConnectionError("the first attempt fails")
    return 10 * flyte.ctx().attempt_number + x


def test_task_context_has_flytes_fields(session: Client) -> None:
    base, checkpoint, in_cluster, interactive, missing, bundle, rank = (
        flyte.with_runcontext(name="ctx-run").run(context_fields).outputs()[0]
    )
    assert isinstance(base, str) and base.endswith("/ctx-run")
    assert (checkpoint, in_cluster, interactive, missing, bundle, rank) == (None, False, False, None, None, None)
    # attempt_number counts the attempts of this call (0 first), so retried code can tell which one it is
    assert tuple(flyte.run(succeeds_on_third_attempt).outputs()) == (2, "2")
    assert list(flyte.map(retried_once, [1, 2, 3])) == [11, 12, 13]


@flyte.trace
async def traced_step() -> str:
    return flyte.ctx().action.name


@env.task
async def parent_and_trace_actions() -> list[str]:
    return [flyte.ctx().action.name, await traced_step(), await traced_step(), flyte.ctx().action.name]


def test_a_trace_runs_as_an_action_of_its_own(session: Client) -> None:
    # flyte 2.12's _trace.py: the traced call gets a new action ID under the calling task's
    parent, first, second, after = flyte.run(parent_and_trace_actions).outputs()[0]
    assert parent == after and parent.startswith("fidelity.parent_and_trace_actions")
    assert first.startswith(f"{parent}-traced_step-") and second.startswith(f"{parent}-traced_step-")
    assert len({parent, first, second}) == 3


def test_triggers_are_declared_and_kept_as_flyte_keeps_them(monkeypatch: pytest.MonkeyPatch) -> None:
    # flyte 2.12's _trigger.py: fields, checks and constructors; _task_environment.py: task.triggers is a tuple
    hourly = flyte.Trigger.hourly("when", inputs={"x": 1})
    assert hourly.name == "hourly" and hourly.automation == flyte.Cron("0 * * * *")
    assert hourly.inputs == {"when": flyte.TriggerTime, "x": 1}
    assert str(flyte.Cron("0 3 * * *", timezone="Europe/London")) == "Cron Trigger: CRON_TZ=Europe/London 0 3 * * *"
    assert [flyte.Trigger.daily().automation.expression, flyte.Trigger.weekly().automation.expression] == [  # type: ignore[union-attr]
        "0 0 * * *",
        "0 0 * * 0",
    ]
    assert str(flyte.FixedRate(60)) == "FixedRate Trigger: every 60 minutes"
    assert flyte.OnArtifact("events", region="us").partitions == {"region": "us"}
    with pytest.raises(ValueError, match="Trigger name cannot be empty"):
        flyte.Trigger(name="")
    with pytest.raises(ValueError, match="only available on schedule"):
        flyte.Trigger("t", inputs={"when": flyte.TriggerTime})
    with pytest.raises(ValueError, match="automation is not OnArtifact"):
        flyte.Trigger("t", flyte.Cron("* * * * *"), inputs={"day": flyte.TriggeredPartition("date")})
    with pytest.raises(ValueError, match="max_action_concurrency must be 0"):
        flyte.Trigger("t", max_action_concurrency=1)
    with pytest.raises(TypeError, match="must be a string value"):
        flyte.OnArtifact("events", day=3)  # type: ignore[arg-type]
    scheduled = flyte.TaskEnvironment(name="scheduled")
    monkeypatch.setattr(_deployment, "_warned", set())  # each ignored option warns once per process
    with pytest.warns(UserWarning, match="fires no schedules"):

        @scheduled.task(triggers=hourly)
        def once(when: datetime.datetime, x: int) -> int:
            return x

    assert once.triggers == (hourly,) and once(datetime.datetime.now(), 2) == 2


def test_storage_configs_and_artifacts_behave_as_in_flytes_local_runner(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # flyte 2.12's storage/_config.py (fields, auto(), for_sandbox()) and artifacts/_wrapper.py (new() checks)
    from flyte_dask import artifacts, storage

    monkeypatch.setenv("FLYTE_AWS_ENDPOINT", "http://minio:9000")
    monkeypatch.setenv("FLYTE_STORAGE_RETRIES", "5")
    auto = storage.S3.auto()
    assert (auto.endpoint, auto.retries) == ("http://minio:9000", 5)
    sandbox = storage.S3.for_sandbox()
    assert sandbox.get_fsspec_kwargs() == {
        "key": "minio",
        "secret": "miniostorage",
        "client_kwargs": {"endpoint_url": "http://localhost:4566"},
    }
    assert storage.GCS().get_fsspec_kwargs(anonymous=True) == {"token": "anon"}
    path = tmp_path / "model.bin"
    path.write_bytes(b"weights")
    model = flyte.io.File.from_local_sync(str(path))
    assert artifacts.new(model, artifacts.Metadata(name="model", version="v1")) is model
    with pytest.raises(TypeError, match="cannot be artifacts"):
        artifacts.new(3, artifacts.Metadata(name="n"))
    # the example flyte-sdk gives: init(storage=S3.for_sandbox(), endpoint=...) then a local run of cached calls
    done = _script(
        tmp_path / "cached.py",
        "import flyte, flyte.storage\n"
        "env = flyte.TaskEnvironment(name='cached_prog', cache='auto')\n"
        "@env.task\nasync def square(i: int) -> int:\n    return i * i\n"
        "@env.task(cache='disable')\nasync def main() -> int:\n"
        "    return sum([await square(i) for i in range(4)] + [await square(3)])\n"
        "if __name__ == '__main__':\n"
        "    flyte.init(endpoint='dns:///localhost:8090', storage=flyte.storage.S3.for_sandbox(), n_workers=2)\n"
        "    print(flyte.run(main).outputs()[0])\n",
    )
    assert done.stdout.strip().splitlines()[-1] == "23"
    assert "ignores init(storage=...)" in done.stderr and "Removing worker" not in done.stderr
