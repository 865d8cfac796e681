"""All of Ctrl-C: what an interrupted fan-out cancelled, the line printed under ``KeyboardInterrupt``, and workers
of the embedded cluster that leave the signal to the driver.

A Ctrl-C on the driver lands where the caller waits: a sync wait cancels its future
(`transport.waits`), a map's stream stops (`bridge` turns the cancelled step back into
``KeyboardInterrupt``) and its batcher cancels what is in flight. Each records here what
it cancelled (`note_cancelled`), and fan-outs still running are tracked (`note_running`),
so the exit hook (`excepthook`) prints one line per piece of work cut off, then closes
the session before the interpreter tears its threads down. A Ctrl-C that left asyncio's
handler behind is undone (`forget_stale_sigint`), so the next press still cancels. Runs
still going at exit are waited for, and a Ctrl-C then aborts them (`finish_at_exit`).
"""

from __future__ import annotations

import asyncio
import atexit
import functools
import signal
import sys
import threading
import types
import weakref
from collections.abc import Callable
from typing import Any

from flyte_dask._internal.failures import full_tracebacks, user_frames

_cancelled: list[str] = []
_running: weakref.WeakSet[Any] = weakref.WeakSet()


def note_cancelled(summary: str) -> None:
    """Remember what an interrupted fan-out cancelled, for the line printed under ``KeyboardInterrupt``."""
    _cancelled.append(summary)
    del _cancelled[:-5]


def note_running(work: Any) -> None:
    """Track ``work`` (with a ``summary()`` of what it would cancel now) while it runs: a
    Ctrl-C that lands in the caller's own code, between two results of a map, leaves it
    open until exit, and the exit cancels it."""
    _running.add(work)


def note_finished(work: Any) -> None:
    """Stop tracking ``work`` (see `note_running`)."""
    _running.discard(work)


def excepthook(exc_type: type[BaseException], exc: BaseException, tb: types.TracebackType | None) -> None:
    """``sys.excepthook`` while flyte_dask runs: an unhandled error is printed once, with user frames;
    Ctrl-C prints ``KeyboardInterrupt`` and what it cancelled."""
    if issubclass(exc_type, KeyboardInterrupt):
        if full_tracebacks():
            sys.__excepthook__(exc_type, exc, tb)
        else:
            print("KeyboardInterrupt", file=sys.stderr)
        still = [work.summary() for work in list(_running)]
        for summary in dict.fromkeys([*_cancelled, *(s for s in still if s)]):
            print(f"flyte_dask: {summary}", file=sys.stderr)
    else:
        sys.__excepthook__(exc_type, user_frames(exc.with_traceback(tb)), exc.__traceback__)
    for callback in _before_exit:
        try:
            callback()
        except Exception:  # exiting anyway: the error above is what matters
            pass


_before_exit: list[Callable[[], None]] = []

_unfinished: set[Any] = set()
"""Runs started here and not yet ended (see `finish_at_exit`)."""


def finish_at_exit(run: Any) -> None:
    """Keep ``run`` (``name``, ``phase``, ``done()``, ``wait()``, ``abort()``) until `run_ended`: at interpreter
    exit an unfinished run is waited for, saying so, and Ctrl-C aborts it, so a script that never asks for its
    run's outputs neither abandons it nor exits mid-run with Dask's shutdown errors."""
    global _hooked
    if not _hooked:
        # At exit, before concurrent.futures refuses new work (Dask runs a future's callbacks through an
        # executor) and before the session's own atexit shutdown: where the stdlib's executors hook in.
        getattr(threading, "_register_atexit", atexit.register)(_finish_runs)
        _hooked = True
    _unfinished.add(run)


def run_ended(run: Any) -> None:
    """``run`` ended (from any thread): nothing to wait for at exit."""
    _unfinished.discard(run)


_hooked = False


def _finish_runs() -> None:
    pending = [run for run in list(_unfinished) if not run.done()]
    if not pending:
        return
    names = ", ".join(run.name for run in pending)
    try:  # a Ctrl-C anywhere in here, even while the first line is printed, aborts what is still going
        print(
            f"flyte_dask: waiting for {len(pending)} unfinished run(s) before exiting: {names} (Ctrl-C aborts)",
            file=sys.stderr,
            flush=True,
        )
        for run in pending:
            run.wait()
    except KeyboardInterrupt:
        for run in pending:
            if not run.done():
                run.abort()
        print(f"flyte_dask: aborted {names}", file=sys.stderr, flush=True)
        return
    for run in pending:
        print(f"flyte_dask: run {run.name} {run.phase}", file=sys.stderr, flush=True)


def install_excepthook(before_exit: Callable[[], None]) -> None:
    """Print unhandled errors with user frames only (unless something else already replaced
    the hook), then call ``before_exit`` while the interpreter still runs threads normally."""
    if sys.excepthook is sys.__excepthook__:
        sys.excepthook = excepthook
    if before_exit not in _before_exit:
        _before_exit.append(before_exit)


def ignore_interrupts() -> None:
    """Leave Ctrl-C to the driver in an embedded cluster's worker process.

    A terminal sends SIGINT to the whole process group, so without this each worker
    would print its own ``KeyboardInterrupt`` traceback. The driver cancels the work and
    closes the cluster it started. Runs from ``dask_setup`` (`flyte_dask.embedded_worker`),
    in the worker process's main thread.
    """
    try:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
    except ValueError:  # not the main thread: leave it be
        pass


def forget_stale_sigint() -> None:
    """Put Python's Ctrl-C handler back where an asyncio Runner left its own behind for a step that ended.

    ``Runner.run`` restores the handler in a ``finally`` that a Ctrl-C can cut short (``signal.signal`` first runs
    pending handlers). Later runs then keep the stale one, which raises inside the loop instead of cancelling the
    step, and can strand a task whose next step was being scheduled: closing the stream would then wait forever.
    """
    if threading.current_thread() is not threading.main_thread():
        return
    handler = signal.getsignal(signal.SIGINT)
    if not isinstance(handler, functools.partial):
        return
    step = handler.keywords.get("main_task")
    runners = getattr(handler.func, "__func__", None) is getattr(asyncio.runners.Runner, "_on_sigint", None)
    if runners and isinstance(step, asyncio.Future) and step.done():
        signal.signal(signal.SIGINT, signal.default_int_handler)
