"""`map`: fan a task out over iterables; ``map`` yields, ``map.aio`` is its async iterator.

This is the front end: it checks the arguments and hands the fan-out to the current
controller (`controllers`), which on Dask runs it through the shared batching core
(`batching`). Items are pulled from the user's iterables by the consumer, as results
are taken, so a lazy iterable of millions of items is never materialized.
"""

from __future__ import annotations

import functools
import inspect
import operator
from collections.abc import AsyncIterator, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from flyte_dask._internal import bridge as _bridge
from flyte_dask._internal.calls import CallShape, Failure, FanOut
from flyte_dask._internal.controllers import current_controller
from flyte_dask._internal.failures import user_frames
from flyte_dask._task import TaskTemplate


@dataclass(frozen=True)
class _Target:
    """What is mapped: the task, and how each item becomes one of its calls."""

    task: TaskTemplate[Any, Any]
    shape: CallShape = CallShape()

    @classmethod
    def of(cls, func: Any) -> _Target:
        if isinstance(func, TaskTemplate):
            return cls(func)
        if isinstance(func, functools.partial) and isinstance(func.func, TaskTemplate):
            task = func.func
            params = [
                p
                for p in inspect.signature(task.func).parameters.values()
                if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY, p.POSITIONAL_ONLY)
            ]
            keywords = dict(func.keywords or {})
            # The items fill the next positional parameter (as in Flyte 2): a keyword may not name it, or one before it.
            for param in params[: len(func.args) + 1]:
                if param.name in keywords:
                    raise TypeError(
                        f"Parameter '{param.name}' is provided both as positional argument and keyword argument "
                        f"in partial function {task.name}."
                    )
            unfilled = [p for p in params[len(func.args) :] if p.name not in keywords]
            required = [p for p in unfilled if p.default is p.empty]
            left = [p.name for p in (unfilled if len(unfilled) == 1 else required)]
            if len(left) != 1:
                raise TypeError(
                    f"map: a functools.partial of {task.name} must leave exactly one parameter for the mapped items; "
                    f"it leaves {[p.name for p in unfilled]}"
                )
            return cls(task, CallShape(tuple(func.args), keywords, left[0]))
        raise TypeError(f"map takes a task (@env.task) or a functools.partial of one, not {type(func).__name__}")

    def check(self, item: tuple[Any, ...]) -> tuple[Any, ...]:
        """One zipped item, checked against the task's annotations and converted as Flyte's type engine would."""
        if self.shape.mapped_name is not None and len(item) != 1:
            raise TypeError(f"map: a partial of {self.task.name} maps one iterable, got {len(item)}")
        args, kwargs = self.task.check_args(*self.shape.call(item))
        if not self.task.check_args.converts:
            return item
        return (kwargs[self.shape.mapped_name],) if self.shape.mapped_name is not None else args  # as shape.call gave


def _unwrap(chunk: list[Any], return_exceptions: bool) -> Iterator[Any]:
    for value in chunk:
        if isinstance(value, Failure):
            if not return_exceptions:
                raise user_frames(value.error)
            yield user_frames(value.error)
        else:
            yield value


def _length(iterables: tuple[Iterable[Any], ...]) -> int:
    hints = [operator.length_hint(it, 0) for it in iterables]
    return min(hints) if hints and all(hints) else 0


def _start(
    func: Any,
    iterables: tuple[Iterable[Any], ...],
    group_name: str | None,
    concurrency: int,
    batch_size: int | None,
    *,
    blocking: bool,
) -> tuple[FanOut, AsyncIterator[list[Any]]]:
    """Check a map's arguments and hand its fan-out to the current controller (nothing runs until it is stepped).

    A map whose one iterable is another map's results, not yet started, takes that map as its
    upstream: the controller may chain the two on the workers.
    """
    target = _Target.of(func)
    if not isinstance(concurrency, int) or isinstance(concurrency, bool) or concurrency < 0:
        raise ValueError(f"map(concurrency={concurrency!r}): use an int >= 0 (0 means no limit)")
    if batch_size is not None and (not isinstance(batch_size, int) or batch_size < 1):
        raise ValueError(f"map(batch_size={batch_size!r}): use an int >= 1, or None to size batches automatically")
    length = _length(iterables)
    upstream = None
    if len(iterables) == 1 and isinstance(results := iterables[0], _Results) and (upstream := results.feed()):
        iterables = (results.values(),)  # for a controller that does not chain it, the items are still its results
    fan_out = FanOut(
        target.task,
        target.shape,
        zip(*iterables),
        length,
        concurrency,
        batch_size,
        group_name,
        target.check,
        blocking,
        upstream,
    )
    return fan_out, current_controller().map(fan_out)


class _Results:
    """What a map returns: its results in input order, and, handed unstarted to another map, its upstream."""

    def __init__(self, fan_out: FanOut, stream: AsyncIterator[list[Any]], return_exceptions: bool) -> None:
        self._fan_out = fan_out  #: the map's fan-out, as its controller got it
        self._stream = stream  #: its results, a chunk at a time; not stepped until iterated
        self._return_exceptions = return_exceptions  #: a failed item is yielded (True) or raised (False)
        self._started = False  #: iterated here: it can no longer feed another map
        self._fed = False  #: handed to another map, which runs it: it cannot be iterated here too

    def __length_hint__(self) -> int:
        return self._fan_out.length

    def feed(self) -> FanOut | None:
        """This map's fan-out, for the map it feeds, if it has not started (and yields its failures)."""
        if self._started or self._fed or not self._return_exceptions:
            return None
        self._fed = True
        return self._fan_out

    def values(self) -> Iterator[Any]:
        """The results, for the map this one was fed to when that map does not chain it after all."""
        return _iterate(self._stream, True)

    def _begin(self) -> None:
        if self._fed:
            raise RuntimeError(
                f"the results of this flyte.map of {self._fan_out.task.name} feed another map, which runs it; "
                "iterate that map's results instead"
            )
        self._started = True


class MapResults(_Results, Iterator[Any]):
    """The sync form's results (``flyte.map(...)``): an iterator, stepped on the consumer's thread.

    Beyond Flyte 2: passed unstarted as the one iterable of another map, it is chained
    there, its results staying on the workers (see `map`).
    """

    _iterator: Iterator[Any] | None = None

    def __next__(self) -> Any:
        if self._iterator is None:
            self._begin()
            self._iterator = _iterate(self._stream, self._return_exceptions)
        return next(self._iterator)

    def close(self) -> None:
        """Stop early: what is still in flight is cancelled."""
        if self._iterator is not None:
            self._iterator.close()  # type: ignore[attr-defined]


class AsyncMapResults(_Results, AsyncIterator[Any]):
    """The async form's results (``flyte.map.aio(...)``): an async iterator; chained like `MapResults`."""

    _iterator: AsyncIterator[Any] | None = None

    async def __anext__(self) -> Any:
        if self._iterator is None:
            self._begin()
            self._iterator = _aiterate(self._stream, self._return_exceptions)
        return await self._iterator.__anext__()

    async def aclose(self) -> None:
        """Stop early: what is still in flight is cancelled."""
        if self._iterator is not None:
            await self._iterator.aclose()  # type: ignore[attr-defined]


class _Mapper:
    """``flyte_dask.map``: ``map(fn, *iterables, ...)`` yields; ``map.aio(...)`` is its async iterator."""

    def __call__(
        self,
        func: Any,
        *iterables: Iterable[Any],
        group_name: str | None = None,
        concurrency: int = 0,
        return_exceptions: bool = True,
        batch_size: int | None = None,
    ) -> MapResults:
        """Map a task over the zipped ``iterables``, yielding results in input order.

        ``concurrency=N`` caps how many items run at once (0: as many as the cluster
        can); ``return_exceptions=True`` (Flyte's default) yields a failed item's
        exception in its place, ``False`` raises the first and cancels what is left.
        ``functools.partial`` may fix all parameters but one. Beyond Flyte 2: items
        are packed into Dask tasks of about `target-batch-seconds` of work each
        (``batch_size=`` fixes the size; 1 gives one Dask task per item), and a map
        over another map's results (``map(g, map(f, items))``, not yet iterated) runs
        chained on the workers: each result goes to the task that uses it as a Dask
        dependency, never through the consumer.
        """
        fan_out, stream = _start(func, iterables, group_name, concurrency, batch_size, blocking=True)
        return MapResults(fan_out, stream, return_exceptions)

    def aio(
        self,
        func: Any,
        *iterables: Iterable[Any],
        group_name: str | None = None,
        concurrency: int = 0,
        return_exceptions: bool = True,
        batch_size: int | None = None,
    ) -> AsyncMapResults:
        """The async iterator form of `map`: ``async for result in flyte.map.aio(fn, items)``."""
        fan_out, stream = _start(func, iterables, group_name, concurrency, batch_size, blocking=False)
        return AsyncMapResults(fan_out, stream, return_exceptions)


async def _aiterate(stream: AsyncIterator[list[Any]], return_exceptions: bool) -> AsyncIterator[Any]:
    """The async front end: the fan-out is stepped on the consumer's loop."""
    try:
        async for chunk in stream:
            for value in _unwrap(chunk, return_exceptions):
                yield value
    finally:
        await stream.aclose()  # type: ignore[attr-defined]


def _iterate(stream: AsyncIterator[list[Any]], return_exceptions: bool) -> Iterator[Any]:
    """The sync front end: the fan-out is stepped on a loop of this (the consumer's) thread."""
    for chunk in _bridge.iterate_blocking(stream):
        yield from _unwrap(chunk, return_exceptions)


map = _Mapper()
"""Fan a task out over iterables (Flyte 2's ``flyte.map``)."""
