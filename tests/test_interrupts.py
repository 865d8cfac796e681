"""Ctrl-C at any moment of a sync iteration over an async stream ends in ``KeyboardInterrupt``, and nothing else."""

from __future__ import annotations

import _thread
import asyncio
import functools
import gc
import random
import signal
import sys
import threading
import warnings
from collections import Counter
from collections.abc import AsyncIterator

from flyte_dask._internal.bridge import iterate_blocking

#: Set when Python itself dropped a press: one that landed in a finalizer (a weakref callback, a half-built loop's
#: ``__del__``) and went to ``sys.unraisablehook``. A user would press again, and so does the stream's next step.
_dropped = threading.Event()


async def _endless() -> AsyncIterator[int]:
    while True:
        if _dropped.is_set():
            _dropped.clear()
            _thread.interrupt_main()
        await asyncio.sleep(0)
        yield 1


def test_ctrl_c_anywhere_in_a_step_is_a_keyboard_interrupt() -> None:
    # The interrupt lands at a random point of a step: before its task exists, while it runs, or after it ended but
    # before the loop saw it. Before, the last left the loop a stale "stop" that failed the stream's close with
    # "Event loop stopped before Future completed" (about one trial in four here), and the first left the step's
    # coroutine never awaited (a RuntimeWarning under the KeyboardInterrupt line). A press that cut short the
    # Runner's restoring of Python's handler left a stale one that, a few trials on, stranded a step and hung the
    # stream's close (about one run in five on a loaded 2-core box).
    random.seed(7)
    outcomes: Counter[str] = Counter()
    # Ctrl-C as in a terminal's foreground process, whatever this process inherited (a background job ignores it)
    # or an earlier test installed.
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    previous_hook = sys.unraisablehook
    sys.unraisablehook = _press_again_if_python_dropped_it
    try:
        _interrupt_steps(outcomes)
    finally:
        _dropped.clear()
        sys.unraisablehook = previous_hook
        signal.signal(signal.SIGINT, previous)
    assert outcomes == Counter(KeyboardInterrupt=100), outcomes  # and no "never awaited" warning


def _press_again_if_python_dropped_it(unraisable: sys.UnraisableHookArgs) -> None:
    # Pressing again from here would land in the hook and be dropped too, so the stream's next step does it. A press
    # lost anywhere else (in flyte_dask) stops the stream for good and the test times out.
    if unraisable.exc_type is KeyboardInterrupt:
        _dropped.set()


def _interrupt_steps(outcomes: Counter[str]) -> None:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for _ in range(100):
            timer = threading.Timer(random.uniform(0, 0.002), _thread.interrupt_main)
            try:
                try:
                    # Started inside the try: the interrupt may land while start() still waits for the timer's
                    # thread to come up (CI saw it end the whole session from there).
                    timer.start()
                    for _ in iterate_blocking(_endless()):
                        pass
                finally:
                    timer.join()
            except BaseException as exc:
                outcomes[type(exc).__name__] += 1
        gc.collect()
    for warning in caught:
        if "never awaited" in str(warning.message):
            outcomes[f"warning: {warning.message}"] += 1


def test_a_stale_asyncio_ctrl_c_handler_is_put_back_to_pythons() -> None:
    # What a press that cut short Runner.run's own restore leaves behind: its handler, bound to a step that ended.
    # Kept, it would stop every later Runner from installing its own, so Ctrl-C would raise inside the loop.
    async def _three() -> AsyncIterator[int]:
        for i in range(3):
            yield i

    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        with asyncio.Runner() as runner:
            ended = runner.run(_this_task())
            signal.signal(signal.SIGINT, functools.partial(runner._on_sigint, main_task=ended))  # type: ignore[attr-defined]
        assert list(iterate_blocking(_three())) == [0, 1, 2]
        assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
    finally:
        signal.signal(signal.SIGINT, previous)


async def _this_task() -> asyncio.Task[object] | None:
    return asyncio.current_task()
