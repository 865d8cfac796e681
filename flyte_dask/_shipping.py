"""Make task code reach workers that cannot import it.

Dask pickles task functions with cloudpickle: by value for ``__main__``, by reference
(module and name) otherwise. A task defined in a script loaded by path, a notebook
module or a test module is by reference unimportable on workers (and on a remote
scheduler), so such modules are registered with cloudpickle to travel by value.
Installed packages (site-packages, the standard library) still travel by reference.
"""

from __future__ import annotations

import os
import site
import sys
import sysconfig
from functools import cache
from typing import Any, Callable

import cloudpickle


@cache
def _installed_roots() -> tuple[str, ...]:
    roots = set(site.getsitepackages()) | {site.getusersitepackages()}
    roots |= {sysconfig.get_paths()[key] for key in ("stdlib", "platstdlib", "purelib", "platlib")}
    return tuple(os.path.realpath(root) + os.sep for root in roots if root)


def ship_by_value(func: Callable[..., Any]) -> None:
    """Register the module defining ``func`` with cloudpickle's by-value pickling, unless installed."""
    module = sys.modules.get(getattr(func, "__module__", "") or "")
    if module is None or module.__name__ == "__main__" or module.__name__.startswith("flyte_dask"):
        return
    path = getattr(module, "__file__", None)
    if path and os.path.realpath(path).startswith(_installed_roots()):
        return
    cloudpickle.register_pickle_by_value(module)
