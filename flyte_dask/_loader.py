"""Load a user's pipeline script by path, so its tasks can be found and shipped to workers."""

from __future__ import annotations

import hashlib
import importlib.util
import os
import sys
from types import ModuleType


def load_script(path: str | os.PathLike[str]) -> ModuleType:
    """Import the Python file at ``path`` as a module of its own (its tasks travel by value).

    Its directory goes first on ``sys.path``, as ``python path`` puts it, so the modules beside it import
    (and travel by value with it).
    """
    path = os.path.abspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"no such pipeline file: {path}")
    here = os.path.dirname(path)
    if here not in sys.path:
        sys.path.insert(0, here)
    stem = os.path.splitext(os.path.basename(path))[0]
    name = f"{stem}_{hashlib.sha1(path.encode()).hexdigest()[:8]}"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load {path} as a Python module")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[name]
        raise
    return module
