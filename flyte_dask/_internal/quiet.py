"""Keep a task's handled failure off the terminal, while Dask's worker logs keep it.

A failed call is reported to its caller, who may handle it (``return_exceptions=True``,
``try``/``except``). Dask also logs every failed task as ``Compute Failed`` at ERROR
level, which an embedded cluster's workers print to the driver's terminal. This filter
drops those records for flyte_dask's calls from the worker's stream handlers only: the
worker's own log (``client.get_worker_logs()``, the dashboard's Logs page) keeps them.
Set ``flyte-dask.full-tracebacks`` to see them on the terminal again. The scheduler's line for each
poll of a pool's adaptive target is dropped the same way, and so are its lost-results warnings while
this process closes the embedded cluster it started.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import threading
from collections.abc import Iterator

from flyte_dask._internal import settings
from flyte_dask._internal.keys import KEY_PATTERN, is_call_key

_RESCHEDULE = re.compile(rf"^Attempting to reschedule task \('{KEY_PATTERN}'.*which was not found")
_CANCELLED = re.compile(rf"^Async instruction for .*\('{KEY_PATTERN}'.* ended with CancelledError")
_POLLS = {("pool_target",), ("idle_workers",)}
"""The functions `PoolAdaptive` runs on the scheduler to size its pool (`runtime.adaptive`), as Dask logs them."""
_lock = threading.Lock()
_installed = False
_closing = threading.Event()
"""Set while this process closes the embedded cluster it started (`closing_cluster`)."""


class _HandledByCaller(logging.Filter):
    """Drops Dask's ``Compute Failed`` records of flyte_dask's task calls (and the
    scheduler's for calls whose workers died), and its warnings about calls the caller
    cancelled (Ctrl-C): the caller gets each as an error."""

    def filter(self, record: logging.LogRecord) -> bool:
        if settings.get("full-tracebacks"):
            return True
        if _CANCELLED.match(str(record.msg)):
            return False
        if _RESCHEDULE.match(str(record.msg)):
            return False  # a cancelled call's task, already released: nothing was lost
        if str(record.msg).startswith("Run out-of-band function") and record.args in _POLLS:
            return False  # a pool's adaptive target, asked of the scheduler twice a second: routine, not news
        if (
            record.name == "distributed.client"
            and record.exc_info
            and isinstance(record.exc_info[1], asyncio.CancelledError)
        ):
            return False  # a reconnect to a lost scheduler, cut short at exit: the caller was told (SchedulerLost)
        if _closing.is_set() and str(record.msg).startswith("Removing worker"):
            return False  # our own shutdown closing the workers that held cached results: nothing is lost
        if not str(record.msg).startswith(("Compute Failed", "Task %s marked as failed because")):
            return True
        return not _ours(record)


def _ours(record: logging.LogRecord) -> bool:
    """Whether the record's first argument is the key of one of flyte_dask's task calls."""
    key = record.args[0] if isinstance(record.args, tuple) and record.args else None
    return is_call_key(key)


def quiet_compute_failures() -> None:
    """Install the filter on this process's terminal log handlers, once (workers, and the driver
    whose embedded scheduler logs there)."""
    global _installed
    if _installed:
        return
    with _lock:
        if _installed:
            return
        for name in ("distributed", "distributed.worker", ""):
            for handler in logging.getLogger(name).handlers:  # terminals, not log files or Dask's in-memory log
                if isinstance(handler, logging.StreamHandler) and not isinstance(handler, logging.FileHandler):
                    handler.addFilter(_HandledByCaller())
        _installed = True


@contextlib.contextmanager
def closing_cluster() -> Iterator[None]:
    """Around closing the embedded cluster: the scheduler's warnings that removing a worker lost results
    (cached calls that other workers' clients held) are dropped, as nothing will ask for them again."""
    _closing.set()
    try:
        yield
    finally:
        _closing.clear()
