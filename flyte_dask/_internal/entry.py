"""What one attempt of a task calls: the user's function, wrapped only when the task needs it.

Two things sit between Flyte's type engine and the function, and only for tasks that
use them: a ``report=True`` task's calls each get a report (`task_reports`), and a
parameter annotated ``pd.DataFrame`` or ``pa.Table`` that is handed a
`flyte_dask.io.DataFrame` receives the table read back, while a value returned for a
``flyte.io.DataFrame`` annotation is wrapped as one. Every other task calls its function as is.
"""

from __future__ import annotations

import contextlib
import functools
import inspect
import typing
from collections.abc import Callable
from typing import Any

from flyte_dask._internal.bridge import in_thread
from flyte_dask._internal.task_reports import page_name, report_scope
from flyte_dask._runcontext import ctx
from flyte_dask.io._dataframe import DataFrame, is_table_type, materialize
from flyte_dask.report import Report


def entry_point(
    func: Callable[..., Any], signature: inspect.Signature, hints: dict[str, Any], name: str, report: bool
) -> Callable[..., Any]:
    """``func``, or ``func`` wrapped for its report and its table parameters and return (see the module)."""
    tables = {p: tp for p, tp in hints.items() if p != "return" and is_table_type(bare(tp))}
    wraps_return = bare(hints.get("return")) is DataFrame
    stored_as = next((m for m in typing.get_args(hints.get("return"))[1:] if isinstance(m, str)), None)
    if not (report or tables or wraps_return):
        return func

    def bind(args: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[tuple[Any, ...], dict[str, Any]]:
        if not tables:
            return args, kwargs
        bound = signature.bind(*args, **kwargs)
        for param, tp in tables.items():
            if param in bound.arguments:
                bound.arguments[param] = materialize(bound.arguments[param], tp)
        return bound.args, bound.kwargs

    def scope() -> contextlib.AbstractContextManager[None]:
        if not report:
            return contextlib.nullcontext()
        here = ctx()
        return report_scope(
            Report(page_name(name, here.key)), name, here.key, here.action.run_name if here.action is not None else None
        )

    def returned(value: Any) -> Any:
        """A table returned for a ``flyte.io.DataFrame`` annotation, stored as Flyte stores outputs (in
        ``Annotated``'s format, e.g. "csv"), so its ``uri`` is set wherever the value goes next."""
        if not wraps_return:
            return value
        frame = value if isinstance(value, DataFrame) else DataFrame.wrap_df(value)
        if frame.uri is None and frame.val is not None:
            frame.format = stored_as or frame.format
            frame.store()
        return frame

    if inspect.iscoroutinefunction(func):

        async def call_async(*args: Any, **kwargs: Any) -> Any:
            args, kwargs = await in_thread(bind, args, kwargs) if tables else (args, kwargs)
            with scope():
                return returned(await func(*args, **kwargs))

        return functools.update_wrapper(call_async, func)

    def call(*args: Any, **kwargs: Any) -> Any:
        args, kwargs = bind(args, kwargs)
        with scope():
            return returned(func(*args, **kwargs))

    return functools.update_wrapper(call, func)


def bare(tp: Any) -> Any:
    """An annotation without its ``Annotated[...]`` metadata."""
    while typing.get_origin(tp) is typing.Annotated:
        tp = typing.get_args(tp)[0]
    return tp
