"""Check a call's arguments (before submission) and its return value (on the worker) against the task's annotations.

Flyte 2 type-checks task inputs at the call site; so do we, so that a wrong argument
fails on the driver with a message naming the task and parameter instead of deep inside
a worker. The checker is structural (containers are checked element by element) and
deliberately lenient where Python is: an ``int`` passes for ``float``, unknown or
unresolvable annotations pass.
"""

from __future__ import annotations

import collections.abc as cabc
import dataclasses
import datetime
import enum
import inspect
import types
import typing
from collections.abc import Callable
from typing import Any

from flyte_dask.errors import RuntimeDataValidationError
from flyte_dask.io._dataframe import DataFrame, is_table_type

_NO_CHECK = (Any, inspect.Parameter.empty, typing.TypeVar)


def _describe(value: object) -> str:
    text = repr(value)
    if len(text) > 60:
        text = text[:57] + "..."
    return f"{type(value).__name__} {text}"


def type_name(tp: object) -> str:
    """An annotation as a user writes it: ``int``, ``list[int]``, ``any`` for none."""
    if tp is inspect.Parameter.empty or tp is Any:
        return "any"
    if isinstance(tp, type) and not typing.get_args(tp):
        return tp.__qualname__
    return str(tp).replace("typing.", "")


def mismatch(value: object, tp: object) -> str | None:
    """Return why ``value`` does not fit annotation ``tp``, or None if it fits."""
    if tp in _NO_CHECK or isinstance(tp, (typing.TypeVar, str, typing.ForwardRef)):
        return None
    if tp is None or tp is type(None):
        return None if value is None else f"expected None, got {_describe(value)}"
    if tp is float and isinstance(value, int) and not isinstance(value, bool):
        return None
    if tp is complex and isinstance(value, (int, float)) and not isinstance(value, bool):
        return None
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if origin is typing.Annotated:
        return mismatch(value, args[0])
    if origin in (typing.Union, types.UnionType):
        if any(mismatch(value, arm) is None for arm in args):
            return None
        return f"expected {type_name(tp)}, got {_describe(value)}"
    if origin is typing.Literal:  # a member of an enum the literal names passes, as Flyte's type engine lets it
        if value in args or any(isinstance(arg, enum.Enum) and isinstance(value, type(arg)) for arg in args):
            return None
        return f"expected one of {args!r}, got {_describe(value)}"
    if origin is None:
        if typing.is_typeddict(tp):
            return _typeddict_mismatch(value, tp)
        if isinstance(tp, type):
            if isinstance(value, tp) or _same_table(value, tp):
                return None
            return f"expected {type_name(tp)}, got {_describe(value)}"
        return None
    if not isinstance(origin, type):
        return None
    if not isinstance(value, origin):
        return f"expected {type_name(tp)}, got {_describe(value)}"
    return _mismatch_items(value, origin, args)


def _typeddict_mismatch(value: object, tp: Any) -> str | None:
    """A ``TypedDict`` is a dict with its required keys, each value fitting its key's annotation."""
    if not isinstance(value, dict):
        return f"expected {type_name(tp)}, got {_describe(value)}"
    hints = resolved_hints(tp)
    optional = {key for key, hint in hints.items() if _not_required(hint)}
    missing = sorted(set(tp.__required_keys__) - optional - set(value))  # NotRequired under string annotations too
    if missing:
        return f"expected {type_name(tp)}, missing keys {missing}"
    for key, item in value.items():
        hint = hints.get(key)
        if typing.get_origin(hint) in (typing.Required, typing.NotRequired):
            hint = typing.get_args(hint)[0]
        why = mismatch(item, hint) if key in hints else None
        if why:
            return f"in key {key!r}: {why}"
    return None


def _not_required(hint: Any) -> bool:
    """Whether a TypedDict key's annotation says ``NotRequired[...]``, also where it is still a string (a module
    with ``from __future__ import annotations``, read where its names do not resolve)."""
    if isinstance(hint, typing.ForwardRef):
        return hint.__forward_arg__.split("[", 1)[0].rsplit(".", 1)[-1] == "NotRequired"
    return typing.get_origin(hint) is typing.NotRequired


def convert(value: Any, tp: Any) -> Any:
    """``value`` as Flyte's type engine hands it to a task expecting ``tp``: a dict becomes the dataclass or
    pydantic model it describes (missing fields take their defaults), a naive ``datetime`` is read as UTC;
    containers are converted item by item. Anything else,
    and anything that cannot be converted, is returned as it is (the check then says why it does not fit).
    """
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if origin is typing.Annotated:
        return convert(value, args[0])
    if origin in (typing.Union, types.UnionType):
        for arm in args:
            converted = convert(value, arm)
            if mismatch(converted, arm) is None:
                return converted
        return value
    if isinstance(tp, type) and origin is None:
        if tp is datetime.datetime and isinstance(value, datetime.datetime) and value.tzinfo is None:
            return value.replace(tzinfo=datetime.UTC)
        if isinstance(value, tp):
            return value
        if isinstance(value, dict):
            return _model_from(value, tp)
        return value
    if isinstance(origin, type) and args and isinstance(value, origin):
        return _convert_items(value, origin, args)
    return value


def _convert_items(container: Any, origin: type, args: tuple[Any, ...]) -> Any:
    """`convert` for the items of a container, which comes back as it was unless an item changed."""
    if issubclass(origin, cabc.Mapping):
        value_tp = args[1] if len(args) == 2 else Any
        items = {k: convert(v, value_tp) for k, v in container.items()}
        changed = any(items[k] is not v for k, v in container.items())
        return type(container)(items) if changed and isinstance(container, dict) else container
    if issubclass(origin, (list, set, frozenset)):
        converted = [convert(item, args[0]) for item in container]
        return type(container)(converted) if any(c is not v for c, v in zip(converted, container)) else container
    if issubclass(origin, tuple) and not hasattr(container, "_fields"):
        element_types = [args[0]] * len(container) if len(args) == 2 and args[1] is Ellipsis else list(args)
        if len(element_types) == len(container):
            converted = [convert(item, item_tp) for item, item_tp in zip(container, element_types)]
            if any(c is not v for c, v in zip(converted, container)):
                return tuple(converted)
    return container


def _model_from(value: dict[str, Any], tp: type) -> Any:
    """The dataclass or pydantic model ``value`` describes (nested dicts converted too), or ``value`` itself."""
    try:
        if dataclasses.is_dataclass(tp):
            hints = resolved_hints(tp)
            return tp(**{k: convert(v, hints.get(k, Any)) for k, v in value.items()})
        validate = getattr(tp, "model_validate", None)  # pydantic v2
        if callable(validate):
            return validate(value)
    except Exception:  # not that model's fields: the check names the mismatch
        return value
    return value


def needs_conversion(tp: Any) -> bool:
    """Whether values for annotation ``tp`` may need `convert` (it names a datetime, a dataclass or a pydantic
    model, at any depth); the common annotations (``int``, ``list[str]``) need only a check."""
    if isinstance(tp, type):
        return tp is datetime.datetime or dataclasses.is_dataclass(tp) or callable(getattr(tp, "model_validate", None))
    return any(needs_conversion(arg) for arg in typing.get_args(tp))


def _same_table(value: object, tp: type) -> bool:
    """A table passes for another table type: a `flyte_dask.io.DataFrame` for ``pd.DataFrame`` and the reverse."""
    if tp is DataFrame:
        return is_table_type(type(value))
    return isinstance(value, DataFrame) and is_table_type(tp)


def _mismatch_items(value: Any, origin: type, args: tuple[Any, ...]) -> str | None:
    """Check the elements of a container against its parameters (``list[int]``, ...)."""
    if not args:
        return None
    if issubclass(origin, cabc.Mapping):
        key_tp, val_tp = args if len(args) == 2 else (Any, Any)
        for key, item in value.items():
            why = mismatch(key, key_tp) or mismatch(item, val_tp)
            if why:
                return f"in key {key!r}: {why}"
        return None
    if issubclass(origin, tuple):
        if len(args) == 2 and args[1] is Ellipsis:
            element_types: cabc.Iterable[Any] = (args[0] for _ in value)
        elif len(args) != len(value):
            return f"expected a tuple of {len(args)} items, got {len(value)}"
        else:
            element_types = args
        for index, (item, item_tp) in enumerate(zip(value, element_types)):
            why = mismatch(item, item_tp)
            if why:
                return f"at index {index}: {why}"
        return None
    if issubclass(origin, (cabc.Sequence, cabc.Set)) and not issubclass(origin, (str, bytes)):
        for index, item in enumerate(value):
            why = mismatch(item, args[0])
            if why:
                return f"at index {index}: {why}"
    return None


def resolved_hints(func: Callable[..., Any]) -> dict[str, Any]:
    """Annotations of ``func`` with string annotations resolved where possible."""
    try:
        return typing.get_type_hints(func, include_extras=True)
    except Exception:  # an unresolvable forward reference: check only what we can read
        return {k: v for k, v in getattr(func, "__annotations__", {}).items() if not isinstance(v, str)}


def _fast_check(tp: Any) -> Callable[[Any], str | None] | None:
    """A checker for one annotation, or None when nothing needs checking; plain classes get an isinstance fast path."""
    if tp in _NO_CHECK or isinstance(tp, (typing.TypeVar, str, typing.ForwardRef)):
        return None
    if (
        isinstance(tp, type)
        and tp not in (float, complex)
        and typing.get_origin(tp) is None
        and not typing.is_typeddict(tp)
    ):
        return lambda value: None if isinstance(value, tp) else mismatch(value, tp)
    return lambda value: mismatch(value, tp)


class CallChecker:
    """Checks calls of one task, converting values as Flyte's type engine would (`convert`); positional calls
    of a plain signature skip `Signature.bind`.

    Mapped calls are checked one by one on the submitting side, so the common case
    (every argument positional, no ``*args``/``**kwargs``, annotations that need no conversion)
    costs about a microsecond.
    """

    def __init__(self, task_name: str, signature: inspect.Signature, hints: dict[str, Any]) -> None:
        self.task_name = task_name
        self.signature = signature
        self.hints = hints
        params = list(signature.parameters.values())
        self.plain = all(p.kind is inspect.Parameter.POSITIONAL_OR_KEYWORD for p in params)
        self.max_args = len(params)
        self.min_args = sum(1 for p in params if p.default is inspect.Parameter.empty)
        self.checks = [_fast_check(hints.get(p.name, inspect.Parameter.empty)) for p in params]
        self.converts = any(needs_conversion(hints.get(p.name)) for p in params)
        returns = hints.get("return", inspect.Parameter.empty)
        self.returns = _fast_check(returns)
        self.return_converts = needs_conversion(returns)

    def check_return(self, value: Any) -> Any:
        """``value`` converted for the return annotation (`convert`); raise `errors.RuntimeDataValidationError` if
        it does not match (as Flyte 2 does)."""
        if self.return_converts:
            value = convert(value, self.hints["return"])
        why = self.returns(value) if self.returns is not None else None
        if why is not None:
            raise RuntimeDataValidationError(
                "o0",
                f"the return value does not match its annotation {type_name(self.hints['return'])}: {why}",
                self.task_name,
            )
        return value

    def __call__(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[tuple[Any, ...], dict[str, Any]]:
        """The call's arguments, converted where Flyte's type engine would convert them; `TypeError` if they
        do not fit."""
        if self.converts or kwargs or not self.plain or not self.min_args <= len(args) <= self.max_args:
            bound = bind_checked(self.task_name, self.signature, self.hints, args, kwargs, converting=self.converts)
            return self._as_given(bound, args, kwargs) if self.converts else (args, kwargs)
        for check, value in zip(self.checks, args):
            if check is not None and check(value) is not None:
                bind_checked(self.task_name, self.signature, self.hints, args, kwargs)  # raises the full message
        return args, kwargs

    def _as_given(
        self, bound: inspect.BoundArguments, args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> tuple[tuple[Any, ...], dict[str, Any]]:
        """The converted arguments of ``bound`` in the shape the call gave them (positional stays positional)."""
        parameters = self.signature.parameters
        named = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
        positional = list(args)
        for index, parameter in enumerate(list(parameters.values())[: len(args)]):
            if parameter.kind not in named:
                break
            positional[index] = bound.arguments[parameter.name]
        keywords = {
            name: bound.arguments[name]
            if name in parameters and parameters[name].kind is not inspect.Parameter.VAR_KEYWORD
            else value
            for name, value in kwargs.items()
        }
        return tuple(positional), keywords


def bind_checked(
    task_name: str,
    signature: inspect.Signature,
    hints: dict[str, Any],
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
    *,
    converting: bool = False,
) -> inspect.BoundArguments:
    """Bind ``args``/``kwargs`` to the task's signature and check each against its annotation (``converting``:
    after converting it as Flyte's type engine would, in the bound arguments returned).

    Raises a `TypeError` naming the task, the parameter, what was expected and what was
    given: the same message whether the call is direct, gathered or mapped.
    """
    try:
        bound = signature.bind(*args, **kwargs)
    except TypeError as exc:
        raise TypeError(f"task {task_name}{signature}: {exc}") from None
    for name, value in list(bound.arguments.items()):
        parameter = signature.parameters[name]
        tp = hints.get(name, inspect.Parameter.empty)
        if converting and parameter.kind not in (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD):
            value = bound.arguments[name] = convert(value, tp)
        if parameter.kind is inspect.Parameter.VAR_POSITIONAL:
            problems = [(f"{name}[{i}]", mismatch(v, tp)) for i, v in enumerate(value)]
        elif parameter.kind is inspect.Parameter.VAR_KEYWORD:
            problems = [(f"{name}[{k!r}]", mismatch(v, tp)) for k, v in value.items()]
        else:
            problems = [(name, mismatch(value, tp))]
        for where, why in problems:
            if why:
                raise TypeError(
                    f"task {task_name}: argument {where!r} does not match its annotation {type_name(tp)}: {why}"
                )
    return bound
