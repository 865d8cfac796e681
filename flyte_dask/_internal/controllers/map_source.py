"""A map's side of the batching core: its items, pulled lazily by the consumer, and its results until taken.

What a map holds is bounded twice. In items: those pulled but not yet handed to the
consumer (``flyte-dask.map.max-buffered-items``). In bytes: results computed but not
yet consumed, counted with Dask's own ``sizeof`` as Dask's memory manager counts them
(``flyte-dask.map.max-buffered-bytes``), plus what the batches still computing are
expected to bring at the mean size seen so far. Past the byte budget the source has no
room, so no new batch is submitted: results already being computed finish on the
workers, where Dask can spill them, and new work waits until the consumer catches up.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from dask.sizeof import sizeof
from dask.utils import parse_bytes

from flyte_dask._internal.calls import Failure
from flyte_dask._internal.controllers.batching import Item, setting


def byte_budget() -> int:
    """``flyte-dask.map.max-buffered-bytes`` in bytes (it takes ``"1GiB"`` or a number)."""
    return parse_bytes(setting("max-buffered-bytes"))


class MapSource:
    """A map's zipped iterables, checked item by item, and its results in input order."""

    def __init__(
        self,
        items: Iterator[tuple[Any, ...]],
        check: Callable[[tuple[Any, ...]], Any] | None,
        max_items: int,
        max_bytes: int,
    ) -> None:
        self.items = items  #: the zipped iterables, pulled only by `pull`
        self.check = check  #: the item's type check, or None
        self.max_items = max_items  #: the cap on ``pulled - handed``
        self.max_bytes = max_bytes  #: the budget for results not yet consumed, and those expected
        self.exhausted = False  #: no more items will come (the iterables ended, or raised)
        #: what the user's iterable raised, re-raised after the results before it
        self.error: BaseException | None = None
        self.pulled = 0  #: items taken from the iterables (``handed <= pulled``)
        self.handed = 0  #: items handed to the consumer, in order
        self.rejected: dict[int, Failure] = {}  #: items that failed their check, by index, never submitted
        #: results back but not yet handed, with their bytes, by the index of their first item
        self.done: dict[int, tuple[list[Any], int]] = {}
        self.waiting = 0  #: items in `done` (``== sum(len(v) for v, _ in done.values())``)
        self.held_bytes = 0  #: bytes of results back and not yet consumed: `done`, and the chunk the consumer holds
        self.seen = [0, 0]  #: bytes and items of every result back so far, for the mean size of an item

    def room(self) -> int:
        """How many more items may be pulled now: the item window, and the byte budget at the mean item size."""
        by_items = self.max_items - (self.pulled - self.handed)
        seen_bytes, seen_items = self.seen
        if not seen_items or not seen_bytes:
            return by_items
        per_item = seen_bytes / seen_items
        computing = self.pulled - self.handed - self.waiting
        by_bytes = int((self.max_bytes - self.held_bytes - computing * per_item) // per_item)
        if self.pulled == self.handed and not self.held_bytes:
            by_bytes = max(by_bytes, 1)  # an item larger than the budget still goes, one at a time
        return min(by_items, by_bytes)

    def fetch_count(self, counts: list[int]) -> int:
        """How many of the finished batches (of ``counts`` items) to fetch at once: those expected to bring an
        eighth of the budget (at least one), so what is being received, and copied as it arrives, stays small
        beside the budget."""
        seen_bytes, seen_items = self.seen
        if not seen_items:
            return len(counts)
        per_item = seen_bytes / seen_items
        room, fetch = self.max_bytes / 8, 0
        for count in counts:
            room -= count * per_item
            if room < 0 and fetch:
                break
            fetch += 1
        return fetch

    def pull(self, limit: int) -> list[Item]:
        """Up to ``limit`` consecutive items; an item that fails its type check ends the batch and fails alone."""
        items: list[Item] = []
        while len(items) < limit and not self.exhausted:
            try:
                item = next(self.items)
            except StopIteration:
                self.exhausted = True
                break
            except Exception as exc:  # the user's iterable failed: results before it still come back
                self.error, self.exhausted = exc, True
                break
            index = self.pulled
            self.pulled += 1
            if self.check is not None:
                try:
                    item = self.check(item)
                except TypeError as exc:
                    self.rejected[index] = Failure(TypeError(f"map item {index}: {exc}"))
                    break
            items.append((index, item))
        return items

    def receive(self, start: int, values: list[Any]) -> None:
        """The batcher's sink: results of items ``start...``, held (and counted) until taken and consumed."""
        size = sizeof(values)
        self.done[start] = (values, size)
        self.waiting += len(values)
        self.held_bytes += size
        self.seen[0] += size
        self.seen[1] += len(values)

    def take(self) -> tuple[list[Any], int]:
        """The results next in input order, and their bytes (still held until `consumed`)."""
        out: list[Any] = []
        size = 0
        while True:
            if self.handed in self.rejected:
                self.done[self.handed] = ([self.rejected.pop(self.handed)], 0)
                self.waiting += 1
            found = self.done.pop(self.handed, None)
            if found is None:
                return out, size
            values, nbytes = found
            out.extend(values)
            size += nbytes
            self.handed += len(values)
            self.waiting -= len(values)

    def consumed(self, size: int) -> None:
        """The consumer asked for more: the chunk it held (``size`` bytes, from `take`) no longer counts."""
        self.held_bytes -= size
