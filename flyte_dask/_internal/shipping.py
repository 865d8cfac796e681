"""Make task code, and the data of its calls, reach workers that cannot import it.

Dask pickles with the standard pickle first, which writes functions and classes by
reference (module and name), and switches to cloudpickle only for ``__main__``. A task
defined in a script loaded by path, a notebook module or a test module is then
unimportable on workers (and on a remote scheduler). Such modules are registered with
cloudpickle to travel by value, and the arguments and results of their tasks travel
as `Shipped` cloudpickle bytes, so instances of their classes arrive too. Installed
packages (site-packages, the standard library) still travel by reference.
"""

from __future__ import annotations

import io
import os
import pickle
import site
import sys
import sysconfig
import types
from collections import ChainMap
from collections.abc import Callable
from functools import cache
from typing import Any

import cloudpickle
from dask.sizeof import sizeof


@cache
def _installed_roots() -> tuple[str, ...]:
    roots = set(site.getsitepackages()) | {site.getusersitepackages()}
    roots |= {sysconfig.get_paths()[key] for key in ("stdlib", "platstdlib", "purelib", "platlib")}
    return tuple(os.path.realpath(root) + os.sep for root in roots if root)


def ship_by_value(func: Callable[..., Any]) -> bool:
    """Register the module defining ``func`` with cloudpickle's by-value pickling, unless installed,
    and with it the project modules it imports (as Flyte 2's ``loaded_modules`` code bundle does).

    Returns whether it did (``__main__``, which Dask already sends by value, is left alone;
    its project imports are registered all the same).
    """
    module = sys.modules.get(getattr(func, "__module__", "") or "")
    if module is None or not _is_project(module):
        return False
    _register_with_imports(module)
    return module.__name__ != "__main__"


def _is_project(module: types.ModuleType) -> bool:
    """Whether ``module`` is the user's own code: not installed, not the standard library, not flyte_dask."""
    if module.__name__ == "__main__":
        return True
    if module.__name__.split(".")[0] in ("flyte_dask", "builtins") or module.__name__ in sys.builtin_module_names:
        return False
    path = getattr(module, "__file__", None)
    return isinstance(path, str) and not os.path.realpath(path).startswith(_installed_roots())


def _register_with_imports(module: types.ModuleType) -> None:
    """Register ``module`` and, through its globals, every project module it reaches.

    Modules imported inside function bodies at call time are not seen here; import them at
    the top of the module (or install them on the workers).
    """
    seen: set[str] = set()
    pending = [module]
    while pending:
        current = pending.pop()
        if current.__name__ in seen:
            continue
        seen.add(current.__name__)
        if current.__name__ != "__main__":
            cloudpickle.register_pickle_by_value(current)
        for value in list(vars(current).values()):
            found = value if isinstance(value, types.ModuleType) else sys.modules.get(_module_name(value))
            if isinstance(found, types.ModuleType) and found.__name__ not in seen and _is_project(found):
                pending.append(found)


def _module_name(value: Any) -> str:
    """The module a global's value says it comes from; "" when it says none (or asking it fails, as a lazy proxy's may)."""
    try:
        name = getattr(value, "__module__", None)
    except Exception:
        return ""
    return name if isinstance(name, str) else ""


def _rebuild_code(ctor: Any, args: tuple[Any, ...], filename: str) -> types.CodeType:
    return ctor(*args).replace(co_filename=filename)


def _reduce_code(code: types.CodeType) -> tuple[Any, ...]:
    """cloudpickle's reduction of a code object, with the file name put back.

    cloudpickle 3.1.3 writes every by-value code object as ``<dynamic-code>``, so a
    remote traceback would lose the user's file, line text and source. Nested code
    objects (inner functions, lambdas) pass through here too.
    """
    ctor, args = _CLOUDPICKLE_CODE_REDUCER(code)
    return _rebuild_code, (ctor, args, code.co_filename)


_CLOUDPICKLE_CODE_REDUCER = cloudpickle.Pickler.dispatch_table[types.CodeType]


class _Pickler(cloudpickle.Pickler):
    """cloudpickle, keeping each code object's ``co_filename`` (see `_reduce_code`)."""

    dispatch_table = ChainMap({types.CodeType: _reduce_code}, cloudpickle.Pickler.dispatch_table)


def dumps(value: Any, buffer_callback: Callable[[pickle.PickleBuffer], Any] | None = None) -> bytes:
    """cloudpickle ``value`` so that functions shipped by value keep their file names (``buffer_callback``:
    pickle protocol 5's out-of-band buffers, as `pickle.dumps` takes it)."""
    with io.BytesIO() as buffer:
        _Pickler(buffer, protocol=cloudpickle.DEFAULT_PROTOCOL, buffer_callback=buffer_callback).dump(value)
        return buffer.getvalue()


class Shipped:
    """A value that pickles through cloudpickle, and is decoded again only where it is used (`unshipped`).

    Wraps the arguments and results of tasks from by-value modules, so instances of
    classes defined there (a dataclass or pydantic model in a pipeline script) need no import on arrival.
    It travels as `Packed` bytes: Dask's scheduler unpickles every task it receives and pickles it again for
    the worker, with the standard pickle, which would write those classes by reference.
    """

    __slots__ = ("value",)

    def __init__(self, value: Any) -> None:
        self.value = value

    def __reduce_ex__(self, protocol: Any) -> tuple[Any, ...]:
        """The value's cloudpickle; under pickle protocol 5 (Dask's) its large buffers (NumPy arrays) stay
        out-of-band, so Dask sends them as frames of their own instead of copying them into the pickle."""
        if not isinstance(protocol, int) or protocol < 5:
            return (Packed, (dumps(self.value), []))
        buffers: list[pickle.PickleBuffer] = []
        return (Packed, (dumps(self.value, buffers.append), buffers))


class Packed:
    """A `Shipped` value as it arrives: its cloudpickle bytes and out-of-band buffers, not yet decoded.

    Pickled again (by a scheduler passing the task on, or a worker handing a result to another) it sends the
    same bytes; only `unshipped`, in the code that uses the value, decodes it.
    """

    __slots__ = ("buffers", "header")

    def __init__(self, header: bytes, buffers: list[Any]) -> None:
        self.header, self.buffers = header, buffers

    def __reduce_ex__(self, protocol: Any) -> tuple[Any, ...]:
        if not isinstance(protocol, int) or protocol < 5:
            return (Packed, (self.header, [bytes(b) for b in self.buffers]))
        return (Packed, (self.header, [pickle.PickleBuffer(b) for b in self.buffers]))


@sizeof.register(Shipped)
def _sizeof_shipped(value: Shipped) -> int:
    """A wrapped value weighs, to Dask's memory manager and scheduler, what the value does."""
    return int(sizeof(value.value))


@sizeof.register(Packed)
def _sizeof_packed(value: Packed) -> int:
    return len(value.header) + sum(memoryview(b).nbytes for b in value.buffers)


def shipped(value: Any, by_value: bool) -> Any:
    """``value`` as `Shipped` when its task's module travels by value, else as it is."""
    return Shipped(value) if by_value else value


def unshipped(value: Any) -> Any:
    """The plain value of what `shipped` made, where it is used: decoded from `Packed` bytes, or unwrapped
    from a `Shipped` that was never pickled (an in-process cluster)."""
    if isinstance(value, Packed):
        return cloudpickle.loads(value.header, buffers=value.buffers)
    return value.value if isinstance(value, Shipped) else value
