"""Flyte 2.12 names that a Dask cluster has no use for: they import, and say what to use instead when used.

A program written for Flyte may import ``flyte.remote``, ``flyte.artifacts`` or ``flyte.types`` at its top
even where the path it runs never touches them. Those imports work; a call, an attribute or a subclass of
such a name raises `errors.NotOnDaskError` naming it and what to use instead.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NoReturn

from flyte_dask.errors import NotOnDaskError


class Absent:
    """A Flyte name with nothing behind it on Dask (``flyte.remote.Run``): using it raises `NotOnDaskError`."""

    def __init__(self, name: str, instead: str) -> None:
        self._name, self._instead = name, instead

    def _refuse(self, *_args: Any, **_kwargs: Any) -> NoReturn:
        raise NotOnDaskError(
            f"{self._name} is part of Flyte's platform and has no meaning on a Dask cluster: {self._instead}"
        )

    __call__ = _refuse

    def __getattr__(self, attribute: str) -> Any:
        if attribute.startswith("__"):  # Python's own probes (copy, pickle, typing) see a plain object
            raise AttributeError(attribute)
        self._refuse()

    def __mro_entries__(self, bases: tuple[Any, ...]) -> NoReturn:
        self._refuse()

    def __repr__(self) -> str:
        return f"<{self._name}: not on Dask>"


def absent_names(module: str, names: tuple[str, ...], instead: str) -> tuple[list[str], Callable[[str], Absent]]:
    """``__all__`` and the ``__getattr__`` of a module standing in for Flyte's ``module``: each of ``names``
    is an `Absent` saying ``instead``; any other name is an ordinary `AttributeError`."""

    def __getattr__(name: str) -> Absent:
        if name in names:
            return Absent(f"{module}.{name}", instead)
        raise AttributeError(f"module {module!r} has no attribute {name!r}")

    return sorted(names), __getattr__


class Declared:
    """A Flyte declaration that Flyte's local runner accepts and ignores (a `Link`): made here too, it holds what
    it was given and does nothing, so a module that declares one imports."""

    def __init__(self, declared: str, /, *args: Any, **kwargs: Any) -> None:
        self._name, self.args, self.kwargs = declared, args, kwargs

    def __repr__(self) -> str:
        return f"<{self._name} (declared; links are a Flyte platform feature, not run on Dask)>"


def declaration(name: str) -> Callable[..., Declared]:
    """A maker of `Declared` ``name`` objects, standing in for Flyte's class of that name."""

    def make(*args: Any, **kwargs: Any) -> Declared:
        return Declared(name, *args, **kwargs)

    make.__name__ = make.__qualname__ = name.rsplit(".", 1)[-1]
    return make
