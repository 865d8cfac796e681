"""`install_as_flyte`: a program written with ``import flyte`` runs on flyte_dask without editing its imports.

Beyond Flyte 2 and Dask. Once installed in a process, ``import flyte``, ``from flyte.io import File``,
``import flyte.errors`` and the other public modules of Flyte 2.12 that flyte_dask serves resolve to
flyte_dask's own modules (the module objects themselves, so what their code pickles names flyte_dask,
and workers need no alias). ``flyte-dask run`` and ``python -m flyte_dask script.py`` install it for
the program they run; a notebook or test suite calls `install_as_flyte` once. Nothing is installed
otherwise, so a real ``flyte`` imported without asking is never shadowed.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import importlib.util
import sys
import types
from typing import Any

SERVED = {
    "flyte": "flyte_dask",
    "flyte.io": "flyte_dask.io",
    "flyte.errors": "flyte_dask.errors",
    "flyte.report": "flyte_dask.report",
    "flyte.extras": "flyte_dask.extras",
    "flyte.durable": "flyte_dask.durable",
    "flyte.remote": "flyte_dask.remote",
    "flyte.storage": "flyte_dask.storage",
    "flyte.artifacts": "flyte_dask.artifacts",
    "flyte.types": "flyte_dask.types",
    "flyte.notify": "flyte_dask.notify",
    "flyte.models": "flyte_dask.models",
}
"""Flyte 2.12's public modules and the flyte_dask module that serves each."""


class _FlyteAlias(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Finds ``flyte`` and ``flyte.*`` and loads them as the flyte_dask modules in `SERVED`."""

    def find_spec(self, fullname: str, path: Any = None, target: Any = None) -> importlib.machinery.ModuleSpec | None:
        if fullname != "flyte" and not fullname.startswith("flyte."):
            return None
        return importlib.util.spec_from_loader(fullname, self)

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> types.ModuleType:
        served = SERVED.get(spec.name)
        if served is None:
            raise ModuleNotFoundError(
                f"{spec.name} is not served by flyte_dask, which stands in for `flyte` in this program "
                f"(install_as_flyte, `flyte-dask run`, `python -m flyte_dask`): it serves "
                f"{', '.join(sorted(SERVED))}. {spec.name} is part of Flyte's platform (images, deployment, "
                "internals), which a Dask cluster has no use for: remove that import, or run the program "
                "with the real flyte (pip install flyte) and without flyte_dask's alias.",
                name=spec.name,
            )
        return importlib.import_module(served)

    def exec_module(self, module: types.ModuleType) -> None:
        """Nothing to run: the module was imported as itself by `create_module`."""


_ALIAS = _FlyteAlias()


def install_as_flyte() -> None:
    """Serve ``import flyte`` (and its public submodules) from flyte_dask in this process, from now on.

    Beyond Flyte 2 and Dask: for notebooks and test suites of programs written for Flyte. Refuses,
    naming the fix, where a real ``flyte`` is already imported (it would not be replaced under
    the code holding it). Calling it again does nothing.
    """
    if _ALIAS in sys.meta_path:
        return
    real = sys.modules.get("flyte")
    if real is not None and real.__name__ != "flyte_dask":
        raise RuntimeError(
            "install_as_flyte(): the real `flyte` is already imported in this process (from "
            f"{getattr(real, '__file__', '?')}); call install_as_flyte() before anything imports flyte"
        )
    sys.meta_path.insert(0, _ALIAS)
