"""`run`: start a task on the cluster as a `Run`, Flyte 2's handle to one execution."""

from __future__ import annotations

import contextlib
import threading
import time
import typing
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Literal

from flyte_dask import _notifications as notifications
from flyte_dask import errors
from flyte_dask._deployment import ignored
from flyte_dask._internal import events, transport
from flyte_dask._internal.bridge import syncified_method
from flyte_dask._internal.context import run_span
from flyte_dask._internal.controllers.placement import placement, placement_async
from flyte_dask._internal.controllers.progress import Progress, progress
from flyte_dask._internal.interrupts import finish_at_exit, run_ended
from flyte_dask._internal.settings import get as get_setting
from flyte_dask._internal.transport import Client, Future
from flyte_dask._runcontext import run_context, run_scope
from flyte_dask._summary import RunSummary, build
from flyte_dask._task import TaskTemplate
from flyte_dask._triggers import check_max_action_concurrency
from flyte_dask.models import ActionPhase
from flyte_dask.notify import NamedRule, Notification, Notifications

_FOLLOW_SECONDS = 0.5
"""How often a run's progress bar asks the scheduler for the items its tasks finished."""

_PHASES = {"pending": "RUNNING", "finished": "SUCCEEDED", "error": "FAILED", "cancelled": "ABORTED", "lost": "FAILED"}


class RunOutputs(tuple):
    """A run's outputs as a tuple (Flyte 2's ``ActionOutputs``): ``outputs()[0]`` is the return value.

    A task annotated to return several values (``tuple[A, B]``, ``(A, B)`` or a ``NamedTuple``) has one
    output per element, as on Flyte: ``a, b = run.outputs()``. Each is also an attribute by its name:
    Flyte's ``o0``, ``o1``, ..., or the ``NamedTuple``'s field names.
    """

    _fields: tuple[str, ...]

    def __new__(cls, data: tuple[Any, ...], fields: tuple[str, ...] | None = None) -> RunOutputs:
        outputs = super().__new__(cls, data)
        outputs._fields = fields or tuple(f"o{i}" for i in range(len(data)))
        for name, value in zip(outputs._fields, outputs):
            setattr(outputs, name, value)
        return outputs

    @property
    def named_outputs(self) -> dict[str, Any]:
        """The outputs by name (Flyte's generated ``o0``, ``o1``, ..., or a ``NamedTuple``'s fields)."""
        return dict(zip(self._fields, self))


class Run:
    """One execution of a task on the cluster, started by `run`.

    Like Flyte 2's ``Run``: `outputs` waits and returns the outputs (raising the
    task's own exception if it failed), `wait` and `done` follow it, `url` links to
    the Dask dashboard. Beyond Flyte: `future` is the underlying Dask future and
    `duration` its wall time as seen from here.
    """

    def __init__(
        self,
        task: TaskTemplate[Any, Any],
        name: str,
        future: Future,
        url: str | None,
        span_id: str,
        report: Any = None,
        notifications: Notifications | None = None,
    ) -> None:
        self.task = task
        self._report = report  # an open performance report, saved once the run is done
        self._notifications = notifications
        self._notifier: threading.Thread | None = None  # delivers the notifications once the run ends
        self.future = future
        self.span_id = span_id
        self.name = name
        self.url = url
        self.submitted_at = time.time()
        self.finished_at: float | None = None
        self._finished_event = threading.Event()
        finish_at_exit(self)
        future.add_done_callback(self._finished)

    def _finished(self, _: Future) -> None:
        self.finished_at = time.time()
        if self._notifications:  # off the client's loop: delivering waits on the network and on the future
            self._notifier = threading.Thread(target=self._notify, name=f"notify-{self.name}")
            self._notifier.start()
        self._finished_event.set()
        run_ended(self)

    def _notify(self) -> None:
        """Deliver the run's notifications for the phase it ended in (Flyte's local runner does so too)."""
        phase, error = ActionPhase.SUCCEEDED, ""
        if self.future.cancelled():
            phase = ActionPhase.ABORTED
        elif self.future.status != "finished":
            try:
                transport.wait(self.future.client, self.future)
            except Exception as exc:  # the task's own error, as Flyte's class
                phase = ActionPhase.TIMED_OUT if isinstance(exc, errors.TaskTimeoutError) else ActionPhase.FAILED
                error = f"{type(exc).__name__}: {exc}"
        assert self._notifications is not None
        notifications.send(
            self._notifications,
            phase,
            task=self.task.name,
            run=self.name,
            error=error,
            url=self.url or "",
            duration=f"{self.duration:.3f}s" if self.duration is not None else "",
        )

    def _notified(self) -> None:
        """Once the run has ended: wait until its notifications are delivered (each bounded by a timeout)."""
        if self._notifier is not None:
            self._notifier.join()

    @syncified_method
    def abort(self, reason: str = "") -> None:
        """Cancel the run on the cluster, nested calls included (Flyte 2's ``Run.abort``)."""
        del reason  # Flyte records it on its platform; Dask keeps no such note
        self.future.cancel()

    def __repr__(self) -> str:
        return f"<Run {self.name} {self.phase}>"

    @property
    def phase(self) -> str:
        """``RUNNING``, ``SUCCEEDED``, ``FAILED`` or ``ABORTED``."""
        status = str(self.future.status)
        return _PHASES.get(status, status.upper())

    @property
    def duration(self) -> float | None:
        """Seconds from submission to completion, once done."""
        return None if self.finished_at is None else self.finished_at - self.submitted_at

    def done(self) -> bool:
        """Whether the run has finished, successfully or not."""
        return self.future.done()

    @syncified_method
    def wait(self, timeout: float | None = None) -> None:
        """Block until the run finishes (it does not raise the task's error: see `outputs`)."""
        if not self._finished_event.wait(timeout):
            raise TimeoutError(f"run {self.name} still {self.phase} after {timeout}s")
        self._notified()
        self._save_report()

    def _save_report(self) -> None:
        report, self._report = self._report, None
        if report is not None:
            report.__exit__(None, None, None)

    def gpu_usage(self) -> list[dict[str, Any]]:
        """Per GPU task of this run (nested ones too): the GPU it ran on and its peak GPU memory.

        One record per Dask task (a map batch is one): ``key``, ``task``, ``items``,
        ``worker``, ``gpu_index``, ``gpu_uuid``, ``gpu_model``, ``peak_memory_bytes``
        (``memory_scope`` says whether that is the worker process's use or, where NVML
        cannot see the process, the whole device's), ``seconds``. Read from the Dask
        scheduler's event log, which keeps the latest records per topic. Beyond Flyte 2.
        """
        return events.in_span(transport.events(self.future.client, events.GpuRecord.TOPIC), self.span_id)

    def summary(self) -> RunSummary:
        """What the run did, per group and task: items, succeeded, failed, retried, wall and
        compute seconds, items/s, and for GPU tasks the GPUs used and their peak memory; then
        the `flyte_dask.report` page of each ``report=True`` call.

        Read from the Dask scheduler (spans, task groups and the event log, which keeps the
        latest records per topic); ``print(run)`` shows it as a table. Beyond Flyte 2.
        """
        client = self.future.client
        items = events.in_span(transport.events(client, events.ItemsRecord.TOPIC), self.span_id)
        pages = events.in_span(transport.events(client, events.ReportRecord.TOPIC), self.span_id)
        return build(self.name, transport.span_report(client, self.span_id), items, self.gpu_usage(), pages)

    def __str__(self) -> str:
        """The run's summary table once it is done (`summary`); its repr before."""
        return str(self.summary()) if self.done() else repr(self)

    @syncified_method
    def outputs(self) -> RunOutputs:
        """Wait for the run and return its outputs; a failed run raises the task's exception
        (as Flyte's error class and its own type, see `flyte_dask.errors`)."""
        bar = progress(f"run {self.task.name}", None) if not self.done() else None
        watcher = threading.Thread(target=self._follow, args=(bar,), daemon=True) if bar is not None else None
        if watcher is not None:
            watcher.start()
        try:
            return _as_outputs(self.task, transport.wait(self.future.client, self.future, self.task.dask_resources))
        finally:
            if watcher is not None:  # the run's end (its future's done callback) stops the watcher
                watcher.join(timeout=5)
            if self.done():
                self._finished_event.wait(_FOLLOW_SECONDS)  # its done callback, which starts the notifier
                self._notified()
                self._save_report()

    def _follow(self, bar: Progress) -> None:
        """Move ``bar`` with the items the run's tasks report (`summary`'s events), and draw one bar below it
        per map the run starts, with its total, until the run ends. Calls that call tasks are not items."""
        board = _Board(bar)
        try:
            while True:
                finished = self._finished_event.wait(_FOLLOW_SECONDS)
                client = self.future.client
                maps = events.in_span(transport.events(client, events.MapRecord.TOPIC), self.span_id)
                board.show(maps, events.in_span(transport.events(client, events.ItemsRecord.TOPIC), self.span_id))
                if finished:
                    return
        except Exception:  # the scheduler went away: outputs() says so
            return
        finally:
            board.close()


class _Board:
    """A run's bars: the run's own (every call that is not a parent), then one per kind of map, in the order
    they began. Maps with one label (the same task mapped from the same task and groups, e.g. once per item
    of an outer map) share a bar, whose total is theirs together."""

    def __init__(self, bar: Progress) -> None:
        self.run = bar  #: the run's bar
        self.bars: dict[str, Progress | None] = {}  #: a bar per map label (None where bars are off)
        self.label_of: dict[str, str] = {}  #: each map's span id -> its label
        self.totals: dict[str, int | None] = {}  #: per label, its maps' items together (None: some map's unknown)
        self.shown: dict[str | None, tuple[int, int]] = {}  #: items and failures drawn, per label (None: the run)

    def show(self, maps: list[dict[str, Any]], items: list[dict[str, Any]]) -> None:
        """Bring every bar up to the records read now (each record holds a Dask task's final counts)."""
        for record in maps:
            if record["span_id"] in self.label_of:
                continue
            label = self.label_of[record["span_id"]] = record["label"]
            if label not in self.bars:
                self.bars[label] = progress(label, None)
                self.totals[label] = 0
            known = self.totals[label]
            self.totals[label] = None if known is None or record["total"] is None else known + record["total"]
            if (bar := self.bars[label]) is not None:
                bar.set_total(self.totals[label])
        done = failed = 0
        per_label: dict[str, list[int]] = {}
        for record in items:
            if not record.get("parent"):  # the run counts work; a map counts its items, parents or not
                done, failed = done + record["items"], failed + record["failed"]
            label = self.label_of.get((record.get("span_ids") or [""])[-1])
            if label is not None:
                counts = per_label.setdefault(label, [0, 0])
                counts[0] += record["items"]
                counts[1] += record["failed"]
        self._move(None, self.run, done, failed)
        for label, (label_done, label_failed) in per_label.items():
            self._move(label, self.bars[label], label_done, label_failed)

    def _move(self, where: str | None, bar: Progress | None, done: int, failed: int) -> None:
        was_done, was_failed = self.shown.get(where, (0, 0))
        if bar is not None:
            bar.update(done - was_done, failed - was_failed)
        self.shown[where] = (done, failed)

    def close(self) -> None:
        for bar in [*self.bars.values()][::-1]:
            if bar is not None:
                bar.close()
        self.run.close()


def _as_outputs(task: TaskTemplate[Any, Any], value: Any) -> RunOutputs:
    """The outputs of a run of ``task`` that returned ``value``, split as Flyte's ``extract_return_annotation``
    splits the return annotation: a ``NamedTuple``, ``tuple[A, B]`` or ``(A, B)`` is one output per element."""
    returns = task._hints.get("return", task.func.__annotations__.get("return"))
    if isinstance(value, tuple):
        if isinstance(returns, type) and issubclass(returns, tuple) and hasattr(returns, "_fields"):
            return RunOutputs(tuple(value), tuple(returns._fields))
        args = typing.get_args(returns)
        if typing.get_origin(returns) is tuple and len(args) > 1 and args[-1] is not Ellipsis:
            return RunOutputs(value)
        if isinstance(returns, tuple) and len(returns) > 1:
            return RunOutputs(value)
    return RunOutputs((value,))


_RUN_IGNORED = {
    "service_account": None,
    "version": None,
    "copy_style": "loaded_modules",
    "dry_run": False,
    "copy_bundle_to": None,
    "interactive_mode": None,
    "run_base_dir": None,
    "run_start_time": None,
    "project": None,
    "domain": None,
    "labels": None,
    "annotations": None,
    "interruptible": None,
    "log_level": None,
    "log_format": "console",
    "user_log_level": None,
    "reset_root_logger": False,
    "queue": None,
    "max_action_concurrency": None,
    "cache_lookup_scope": "global",
    "debug": False,
    "tracked": False,
    "tracked_strict": False,
}
"""``with_runcontext`` settings of Flyte's platform, with their defaults; setting one warns once."""


@dataclass(frozen=True)
class _Settings:
    """What ``with_runcontext`` sets for one run."""

    mode: str | None = None
    name: str | None = None
    env_vars: dict[str, str] | None = None
    custom_context: dict[str, str] | None = None
    disable_cache: bool = False
    report: str | None = None
    raw_data_path: str | None = None
    notifications: Notifications | None = None


class _Runner:
    """``flyte_dask.run(task, *args, **kwargs)``, and ``await flyte_dask.run.aio(...)``."""

    def __init__(self, settings: _Settings = _Settings()) -> None:
        self.settings = settings

    def __call__(self, task: TaskTemplate[Any, Any], *args: Any, **kwargs: Any) -> Run:
        """Run ``task`` with these inputs on the cluster (starting the embedded one if `init` was not called).

        As Flyte 2.12: in local mode (the embedded cluster, or ``with_runcontext(mode="local")``) it runs to the
        end and raises the task's error here; in remote mode (a cluster given by address or object, or
        ``mode="remote"``) it returns the `Run` at once, and `Run.wait` / `Run.outputs` block.
        """
        client, args, kwargs = self._check(task, args, kwargs)
        where = placement(client, task.name, task.dask_resources)
        mode = self._mode()
        with self._scope(client, task, mode) as (name, span_id, report):
            future = transport.submit_call(client, task, args, kwargs, where)
        run = Run(task, name, future, transport.dashboard_link(client), span_id, report, self.settings.notifications)
        if mode == "local":
            run.outputs()
        return run

    async def aio(self, task: TaskTemplate[Any, Any], *args: Any, **kwargs: Any) -> Run:
        """The async form of `run`: waiting for workers, `ClusterLimit` leases and (local mode) the run's end
        never blocks the loop."""
        client, args, kwargs = self._check(task, args, kwargs)
        where = await placement_async(client, task.name, task.dask_resources)
        mode = self._mode()
        with self._scope(client, task, mode) as (name, span_id, report):
            future = await transport.submit_call_async(client, task, args, kwargs, where)
        run = Run(task, name, future, transport.dashboard_link(client), span_id, report, self.settings.notifications)
        if mode == "local":
            await run.outputs.aio()
        return run

    def _mode(self) -> str:
        """``with_runcontext``'s mode, else Flyte's default: local on the embedded cluster, remote on any other."""
        return self.settings.mode or ("local" if transport.embedded() else "remote")

    @staticmethod
    def _check(
        task: TaskTemplate[Any, Any], args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> tuple[Client, tuple[Any, ...], dict[str, Any]]:
        """The client, and the inputs as Flyte's type engine hands them over (a dict for a dataclass, ...)."""
        if not isinstance(task, TaskTemplate):
            raise TypeError(f"run() takes a task defined with @env.task, not {type(task).__name__}")
        args, kwargs = task.check_args(args, kwargs)
        return transport.require_client(), args, kwargs

    @contextlib.contextmanager
    def _scope(self, client: Client, task: TaskTemplate[Any, Any], mode: str) -> Iterator[tuple[str, str, Any]]:
        """The run's name, span and report around its submission; its settings reach every nested call."""
        settings = self.settings
        name = settings.name or f"{task.name}-{uuid.uuid4().hex}"
        report = transport.performance_report(client, settings.report) if settings.report else None
        if report is not None:
            report.__enter__()
        scope = run_scope(
            run=name,
            mode=mode,
            custom=settings.custom_context,
            env=settings.env_vars,
            disable_run_cache=settings.disable_cache or None,
            raw_data_path=settings.raw_data_path or run_context().get("raw_data_path") or get_setting("raw-data-path"),
            started=time.time(),
        )
        with scope, run_span(name) as span_id:
            yield name, span_id, report


run = _Runner()
"""Run a task on the Dask cluster and return its `Run` (Flyte 2's ``flyte.run``)."""


class RunContext:
    """What `with_runcontext` returns: ``.run(task, ...)`` and ``await .run.aio(task, ...)`` with its settings."""

    def __init__(self, settings: _Settings) -> None:
        self.run = _Runner(settings)


def with_runcontext(
    mode: Literal["local", "remote", "hybrid"] | None = None,
    *,
    name: str | None = None,
    overwrite_cache: bool = False,
    env_vars: dict[str, str] | None = None,
    disable_run_cache: bool = False,
    custom_context: dict[str, str] | None = None,
    report: str | None = None,
    preserve_original_types: bool = False,
    raw_data_path: str | None = None,
    notifications: Notifications | None = None,
    **platform: Any,
) -> RunContext:
    """Settings for one run (Flyte 2.12's ``flyte.with_runcontext``): ``with_runcontext(name="nightly").run(main, x=1)``.

    On Dask: ``name`` names the run (its span on the dashboard, `Run.name`, ``ctx().action.run_name``);
    ``env_vars`` are set for every call of the run, nested ones included, seen by those
    calls only; ``custom_context`` reaches every call (`get_custom_context`);
    ``overwrite_cache`` and ``disable_run_cache`` make cached tasks run again;
    ``raw_data_path`` is where the run's `flyte_dask.io` data and reports go (default: this
    process's Dask config ``flyte-dask.raw-data-path``, which the run carries to every
    call inside it, nested ones included); outputs keep the types the task returned, with
    ``preserve_original_types`` or without, as Flyte's local runner gives them; ``mode`` is
    reported by ``ctx().mode``, and every mode runs on the Dask session (`init`'s, or an
    embedded local cluster). Beyond Flyte 2: ``report="run.html"`` saves Dask's performance
    report of the run when its outputs are read. Flyte's platform settings (``project``,
    ``queue``, ``log_level``, ...) are accepted and warn once each.
    """
    del preserve_original_types  # outputs keep their types either way (see above)
    check_max_action_concurrency(platform.get("max_action_concurrency"))
    unknown = sorted(set(platform) - set(_RUN_IGNORED))
    if unknown:
        raise TypeError(
            f"with_runcontext() got unexpected arguments {unknown}; see flyte_dask.with_runcontext's docstring"
        )
    if mode not in (None, "local", "remote", "hybrid"):
        raise ValueError(f"with_runcontext(mode={mode!r}): use 'local', 'remote' or 'hybrid'")
    for key, value in platform.items():
        if value != _RUN_IGNORED[key]:
            ignored(
                f"with_runcontext({key}=...)",
                "it configures Flyte's platform; a Dask run has no counterpart",
                stacklevel=3,
            )
    for what, mapping in (("env_vars", env_vars), ("custom_context", custom_context)):
        if mapping is not None and not all(isinstance(k, str) and isinstance(v, str) for k, v in mapping.items()):
            raise TypeError(f"with_runcontext({what}=...) takes a dict of str to str, got {mapping!r}")
    if notifications is not None and not isinstance(notifications, (Notification, NamedRule)):
        if not isinstance(notifications, (tuple, list)) or not all(isinstance(n, Notification) for n in notifications):
            raise TypeError(
                "with_runcontext(notifications=...) takes a flyte.notify notification (Email, Slack, Teams, "
                f"Webhook), a tuple of them or a NamedRule, not {notifications!r}"
            )
        notifications = tuple(notifications)
    settings = _Settings(
        mode,
        name,
        env_vars,
        custom_context,
        overwrite_cache or disable_run_cache,
        report,
        raw_data_path,
        notifications,
    )
    return RunContext(settings)
