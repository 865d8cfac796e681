"""How a failure becomes the exception a caller catches: Flyte's class *and* the original type.

`ERROR_MAP` is the one table from every kind of failure to its Flyte class and code;
`flyte_error` applies it, and every module that turns a failure into an error goes
through it (the worker's attempts and timeouts, the waits' lost workers and missing
modules, the lost scheduler, results that cannot be pickled).

`as_flyte_error` turns an exception into an instance of a class deriving from both a
`flyte_dask.errors` class (``RuntimeUserError``, ``OOMError``, ...) and the exception's
own type, carrying its args, attributes, traceback and chain, so Flyte 2 code
(``except flyte.errors.RuntimeUserError``) and plain Python (``except ValueError``) both
catch it. Such classes are made once per pair and pickle by recipe, so they cross
processes like the original. `user_frames` hides flyte_dask's, Dask's and asyncio's
frames from tracebacks unless ``flyte-dask.full-tracebacks`` is set.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import functools
import os
import sys
import threading
import types
from dataclasses import dataclass
from typing import Any

import dask

from flyte_dask import errors
from flyte_dask._internal import settings

_FLYTE_FIELDS = ("code", "kind", "root_cause_message", "worker")


@dataclass(frozen=True)
class Mapping:
    """How one kind of failure reaches its caller."""

    flyte_class: type[errors.BaseRuntimeError]  #: the `flyte_dask.errors` class the caller catches
    code: str | None = None  #: Flyte's ``code``; None: the original exception's type name


ERROR_MAP: dict[str, Mapping] = {
    "task-raised": Mapping(errors.RuntimeUserError),  # the task's own exception, with no retry left to try
    "task-exited": Mapping(errors.TaskExitError),  # task code raised SystemExit or KeyboardInterrupt (sys.exit)
    "retries-exhausted": Mapping(errors.RetriesExhaustedError),  # ... after retries
    "out-of-memory": Mapping(errors.OOMError),  # a MemoryError in the task
    "worker-restarted-for-memory": Mapping(errors.OOMError, "OOMError"),  # the nanny killed it over its memory limit
    "worker-lost": Mapping(errors.RuntimeSystemError),  # Dask's KilledWorker: lost with its worker too often
    "scheduler-lost": Mapping(errors.RuntimeSystemError, "SchedulerLost"),  # closed, or no answer in time
    "module-missing": Mapping(errors.ModuleLoadError, "ModuleLoadError"),  # the cluster cannot import the code
    "result-unpicklable": Mapping(errors.RuntimeUserError),  # a value the task returned cannot travel back
    "max-runtime": Mapping(errors.MaxRuntimeExceededError, "MaxRuntimeExceededError"),  # Timeout(max_runtime=)
    "max-queued-time": Mapping(errors.MaxQueuedTimeExceededError, "MaxQueuedTimeExceededError"),
    "deadline": Mapping(errors.DeadlineExceededError, "DeadlineExceededError"),  # a run's deadline passed
    "max-depth": Mapping(errors.RuntimeUserError, "MaxDepthExceeded"),  # nested calls past flyte-dask.max-depth
}
"""Every kind of failure a caller can see, and the Flyte class it arrives as (with its own type)."""


EXITS = (SystemExit, KeyboardInterrupt)
"""What task code raises to exit. Such a failure never arrives as its own type: asyncio re-raises an instance of
either out of the event loop that awaits it (``Task.__step``), which would end every other call on that loop, and
``SystemExit.code`` (the exit status) would hide Flyte's ``code``. It arrives as `errors.TaskExitError`."""


def flyte_error(
    kind: str, exc: BaseException, *, message: str | None = None, worker: str | None = None
) -> BaseException:
    """``exc``, a failure of ``kind`` (a key of `ERROR_MAP`), as its Flyte class and its own type
    (an exit, as its Flyte class alone, caused by ``exc``: see `EXITS`)."""
    mapping = ERROR_MAP[kind]
    if isinstance(exc, EXITS):
        flyte_cls = mapping.flyte_class
        assert issubclass(flyte_cls, errors.RuntimeUserError)  # a user's failure: (code, message, worker)
        exited = flyte_cls(mapping.code or type(exc).__name__, message or repr(exc), worker)
        exited.__dict__["exit_code"] = getattr(exc, "code", None)
        exited.__cause__ = exc
        return exited.with_traceback(exc.__traceback__)
    return as_flyte_error(exc, mapping.flyte_class, code=mapping.code, message=message, worker=worker)


def as_flyte_error(
    exc: BaseException,
    flyte_cls: type[errors.BaseRuntimeError] = errors.RuntimeUserError,
    *,
    code: str | None = None,
    message: str | None = None,
    worker: str | None = None,
) -> BaseException:
    """``exc`` as an instance of both ``flyte_cls`` and its own type (unchanged if it is one of ours already).

    ``message``, when given, is what ``str()`` and ``root_cause_message`` say instead of
    the original's text (a lost worker's error naming the map item, say).

    Exceptions that are not `Exception`s (``KeyboardInterrupt``, ``CancelledError``) pass
    through. Where Python cannot derive from both (two C layouts), the result is a plain
    ``flyte_cls`` caused by ``exc``.
    """
    if isinstance(exc, errors.BaseRuntimeError) or not isinstance(exc, Exception):
        return exc
    fields = {
        "code": code or type(exc).__name__,
        "kind": "system" if issubclass(flyte_cls, errors.RuntimeSystemError) else "user",
        "root_cause_message": message if message is not None else str(exc),
        "worker": worker,
    }
    cls = _both(flyte_cls, type(exc))
    if cls is None:
        plain = flyte_cls.__new__(flyte_cls)
        BaseException.__init__(plain, fields["root_cause_message"])
        plain.__dict__.update(fields)
        plain.__cause__ = exc
        return plain.with_traceback(exc.__traceback__)
    args, state = _recipe(exc, type(exc))
    if message is not None:
        fields["_message"] = message  # what str() says, where the caller knows more than the original did
    both = _rebuild(flyte_cls, type(exc), args, {**state, **fields})
    both.__cause__, both.__context__, both.__suppress_context__ = (
        exc.__cause__,
        exc.__context__,
        exc.__suppress_context__,
    )
    return both.with_traceback(exc.__traceback__)


_classes_lock = threading.Lock()
_classes: dict[tuple[type[BaseException], type[BaseException]], type[BaseException] | None] = {}


def _both(flyte_cls: type[errors.BaseRuntimeError], original: type[BaseException]) -> type[BaseException] | None:
    """The class deriving from ``flyte_cls`` and ``original``, named like ``original`` so
    tracebacks read as in plain Python (made once per pair); None where Python cannot make one."""
    if issubclass(original, flyte_cls):
        return original
    with _classes_lock:  # one class per pair, even when threads fail at once
        return _classes[(flyte_cls, original)] if (flyte_cls, original) in _classes else _make_both(flyte_cls, original)


def _make_both(flyte_cls: type[errors.BaseRuntimeError], original: type[BaseException]) -> type[BaseException] | None:
    """Make and remember the class for one pair (under `_classes_lock`)."""
    namespace = {
        "__module__": original.__module__,
        "__qualname__": original.__qualname__,
        "__reduce__": _reduce,
        "__init__": _keep_init(original),
        "__str__": _str_of(original),
        "_flyte_dual": True,
    }
    try:
        made: type[BaseException] | None = types.new_class(
            original.__name__, (flyte_cls, original), exec_body=lambda ns: ns.update(namespace)
        )
    except TypeError:  # two C layouts (rare): the caller falls back to a plain Flyte error caused by the original
        made = None
    _classes[(flyte_cls, original)] = made
    return made


def _keep_init(original: type[BaseException]) -> Any:
    """The original type's ``__init__``, so ``type(e)(*e.args)`` builds the same error again."""

    def __init__(self: BaseException, *args: Any, **kwargs: Any) -> None:
        original.__init__(self, *args, **kwargs)

    return __init__


def _str_of(original: type[BaseException]) -> Any:
    """``str()`` of the original type, unless `as_flyte_error` was given a fuller message."""

    def __str__(self: BaseException) -> str:
        message = self.__dict__.get("_message")
        return message if message is not None else original.__str__(self)

    return __str__


def _reduce(self: BaseException) -> tuple[Any, ...]:
    """Pickle by recipe: the two classes, the args and the attributes (the class itself is made, not imported)."""
    flyte_cls, original = type(self).__bases__
    return (_rebuild, (flyte_cls, original, *_recipe(self, original)))


def _recipe(exc: BaseException, original: type[BaseException]) -> tuple[tuple[Any, ...], dict[str, Any]]:
    """The args and attributes ``original``'s own pickling would rebuild ``exc`` from (OSError's filename too)."""
    reduced = original.__reduce__(exc)
    args = reduced[1] if len(reduced) > 1 and isinstance(reduced[1], tuple) else exc.args
    state = reduced[2] if len(reduced) > 2 and isinstance(reduced[2], dict) else {}
    return args, {**exc.__dict__, **state}


def _rebuild(
    flyte_cls: type[errors.BaseRuntimeError],
    original: type[BaseException],
    args: tuple[Any, ...],
    state: dict[str, Any],
) -> BaseException:
    """Make an instance of ``_both(flyte_cls, original)`` with ``args`` and attributes ``state``."""
    cls = _both(flyte_cls, original)
    assert cls is not None
    try:  # the constructor of whichever base decides the C layout
        error: BaseException = original.__new__(cls, *args)
    except TypeError:
        error = BaseException.__new__(cls, *args)
    try:
        original.__init__(error, *args)  # C-level fields (OSError's errno, ...) are set here
    except Exception:
        error.args = args
    error.__dict__.update(state)
    return error


def restate(error: BaseException, message: str) -> BaseException:
    """``error`` saying ``message`` instead (an error made by `as_flyte_error`), or a
    `errors.RuntimeSystemError` saying it, caused by ``error``."""
    if getattr(type(error), "_flyte_dual", False):
        error.__dict__.update(_message=message, root_cause_message=message)
        return error
    plain = errors.RuntimeSystemError(type(error).__name__, message, getattr(error, "worker", None))
    plain.__cause__ = error
    return plain


def user_frames(exc: BaseException) -> BaseException:
    """Drop flyte_dask's, Dask's and asyncio's frames from ``exc``'s traceback and its chain.

    A traceback with no user frame is left whole. ``flyte-dask.full-tracebacks: true``
    (or ``FLYTE_DASK_FULL_TRACEBACKS=1``) keeps every frame.
    """
    if full_tracebacks():
        return exc
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        current.__traceback__ = _strip(current.__traceback__)
        current = current.__cause__ or current.__context__
    return exc


def full_tracebacks() -> bool:
    """Whether every traceback frame is shown (``flyte-dask.full-tracebacks`` or its environment variable)."""
    flag = os.environ.get(settings.FULL_TRACEBACKS_ENV, "")
    return flag.lower() in ("1", "true", "yes") or bool(settings.get("full-tracebacks"))


@functools.lru_cache(maxsize=1)
def _internal_dirs() -> tuple[str, ...]:
    import distributed
    import tornado

    modules = (
        sys.modules[(__package__ or "flyte_dask").split(".")[0]],
        dask,
        distributed,
        tornado,
        asyncio,
        concurrent.futures,
    )
    dirs = tuple(os.path.dirname(os.path.abspath(m.__file__ or "")) + os.sep for m in modules)
    return (*dirs, os.path.abspath(functools.__file__), os.path.abspath(types.__file__))


def _is_internal(filename: str) -> bool:
    return filename.startswith("<frozen ") or os.path.abspath(filename).startswith(_internal_dirs())


def _strip(tb: types.TracebackType | None) -> types.TracebackType | None:
    frames = []
    while tb is not None:
        frames.append(tb)
        tb = tb.tb_next
    kept = [f for f in frames if not _is_internal(f.tb_frame.f_code.co_filename)]
    if not kept:
        return frames[0] if frames else None
    rebuilt: types.TracebackType | None = None
    for frame in reversed(kept):
        rebuilt = types.TracebackType(rebuilt, frame.tb_frame, frame.tb_lasti, frame.tb_lineno)
    return rebuilt
