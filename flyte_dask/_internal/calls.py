"""The shapes of calls and results that travel between the driver and workers."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, Protocol

from dask.sizeof import sizeof
from tblib import Traceback

from flyte_dask._options import RetryStrategy, Timeout

Call = tuple[tuple[Any, ...], dict[str, Any]]


class TaskSpec(Protocol):
    """What the transport needs of a task (`TaskTemplate` is the one implementation).

    The execution side (`transport`, `runtime.worker`, the batching core) sees a task only
    through this, so it never imports the task class and the task never imports it.
    """

    name: str
    func: Callable[..., Any]
    is_async: bool
    by_value: bool
    options: Any

    @property
    def invoke(self) -> Callable[..., Any]: ...

    @property
    def retries(self) -> RetryStrategy: ...

    @property
    def timeout(self) -> Timeout: ...

    @property
    def resources(self) -> Any: ...

    @property
    def dask_resources(self) -> dict[str, float]: ...

    def check_args(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[tuple[Any, ...], dict[str, Any]]: ...

    def check_return(self, value: Any) -> Any: ...

    @property
    def return_mismatch(self) -> Callable[[Any], str | None] | None: ...

    @property
    def return_converts(self) -> bool: ...

    def new_key(self) -> tuple[str, str]: ...

    def new_keys(self, count: int) -> list[tuple[str, str]]: ...

    def cache_key(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[str, str] | None: ...

    def cache_token(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> str | None: ...


@dataclass(frozen=True)
class CallShape:
    """How one item of a batch becomes a call.

    For `map`: what a `functools.partial` fixed and which parameter the item fills
    (``mapped_name``), or, without a partial, the item is the positional arguments.
    For gathered calls (``whole_calls``): the item is the ``(args, kwargs)`` pair itself.
    """

    args: tuple[Any, ...] = ()
    keywords: dict[str, Any] = field(default_factory=dict)
    mapped_name: str | None = None
    whole_calls: bool = False

    def call(self, item: tuple[Any, ...]) -> Call:
        """The (args, kwargs) of one call, from one zipped item."""
        if self.whole_calls:
            return item[0], item[1]
        if self.mapped_name is None:
            return item, {}
        return self.args, {**self.keywords, self.mapped_name: item[0]}


WHOLE_CALLS = CallShape(whole_calls=True)


@dataclass(frozen=True)
class Failure:
    """An item's exception, carried back in its place with its remote traceback.

    Pickle drops an exception's ``__traceback__``; a `Failure` sends it along (as
    tblib's plain-data form, the way Dask ships a failed task's traceback) and puts it
    back on arrival, so the caller sees the user's frames where the item failed.
    """

    error: BaseException

    def __reduce__(self) -> tuple[Any, ...]:
        tb = self.error.__traceback__
        return (_restore_failure, (self.error, Traceback(tb).to_dict() if tb is not None else None))


def _restore_failure(error: BaseException, tb: dict[str, Any] | None) -> Failure:
    if tb is not None:
        error = error.with_traceback(Traceback.from_dict(tb).as_traceback())
    return Failure(error)


@dataclass(frozen=True)
class BatchResult:
    """The outcome of each item of a batch, in order, and the batch's cost.

    ``seconds`` is what the batch occupied its worker: wall time for sync items, which
    run one after another, and time spent running on the loop (not awaiting) for async
    items, which run concurrently. Batch sizes are chosen from it.
    """

    values: list[Any]
    seconds: float
    failed: int = 0  # how many values are `Failure`s, counted on the worker
    link_bytes: int = 0  # in a chained map: the bytes of the upstream results it took (Dask's sizeof)


@sizeof.register(BatchResult)
def _sizeof_batch(result: BatchResult) -> int:
    """What a batch's result weighs to Dask: its values. Without this Dask would count ~50 bytes, and neither
    spill it nor run the next stage of a chain where it is (it would seem free to move)."""
    return int(sizeof(result.values)) + 64


@dataclass
class FanOut:
    """One `map`, as the front end hands it to a controller."""

    task: TaskSpec
    shape: CallShape
    items: Iterator[tuple[Any, ...]]
    length: int
    concurrency: int
    batch_size: int | None
    group_name: str | None
    check: Callable[[tuple[Any, ...]], Any] | None = None
    #: True for the sync form (``flyte.map``): a thread blocks while it is iterated.
    blocking: bool = False
    #: the map whose results are this map's items, handed over unstarted: a controller may chain the two on the
    #: workers (each result a Dask dependency of its item); ``items`` then still yields those results, for one
    #: that does not
    upstream: FanOut | None = None
    #: the Dask annotations its tasks carry (its group's span, the run), set by the controller that takes it
    annotations: dict[str, Any] | None = None
