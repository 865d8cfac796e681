"""Ctrl-C at any moment of a sync iteration over an async stream ends in ``KeyboardInterrupt``, and nothing else."""

from __future__ import annotations

import _thread
import asyncio
import gc
import random
import signal
import threading
import warnings
from collections import Counter
from collections.abc import AsyncIterator

from flyte_dask._internal.bridge import iterate_blocking


async def _endless() -> AsyncIterator[int]:
    while True:
        await asyncio.sleep(0)
        yield 1


def test_ctrl_c_anywhere_in_a_step_is_a_keyboard_interrupt() -> None:
    # The interrupt lands at a random point of a step: before its task exists, while it runs, or after it ended but
    # before the loop saw it. Before, the last left the loop a stale "stop" that failed the stream's close with
    # "Event loop stopped before Future completed" (about one trial in four here), and the first left the step's
    # coroutine never awaited (a RuntimeWarning under the KeyboardInterrupt line).
    random.seed(7)
    outcomes: Counter[str] = Counter()
    # Ctrl-C as in a terminal's foreground process, whatever this process inherited (a background job ignores it)
    # or an earlier test installed.
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        _interrupt_steps(outcomes)
    finally:
        signal.signal(signal.SIGINT, previous)
    assert outcomes == Counter(KeyboardInterrupt=100), outcomes  # and no "never awaited" warning


def _interrupt_steps(outcomes: Counter[str]) -> None:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for _ in range(100):
            timer = threading.Timer(random.uniform(0, 0.002), _thread.interrupt_main)
            timer.start()
            try:
                try:
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
