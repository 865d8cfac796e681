"""``python -m flyte_dask script.py [args]``: run a program written for Flyte 2, its ``import flyte`` served by
flyte_dask (`install_as_flyte`), as ``python script.py [args]`` would. ``python -m flyte_dask run|status|...``
is the ``flyte-dask`` command."""

from __future__ import annotations

import os
import runpy
import sys

from flyte_dask._alias import install_as_flyte
from flyte_dask._cli import COMMANDS, main


def run_script(argv: list[str]) -> int:
    """Run ``argv[0]`` as ``__main__`` with ``argv`` as its ``sys.argv`` and the alias installed."""
    if not argv or argv[0] in ("-h", "--help"):
        print(__doc__.strip())
        return 0 if argv else 2
    script = os.path.abspath(argv[0])
    if not os.path.isfile(script):
        print(f"error: no such script: {argv[0]}", file=sys.stderr)
        return 2
    install_as_flyte()
    sys.argv = [script, *argv[1:]]
    sys.path.insert(0, os.path.dirname(script))
    runpy.run_path(script, run_name="__main__")
    return 0


if __name__ == "__main__":
    arguments = sys.argv[1:]
    sys.exit(main(arguments) if arguments and arguments[0] in COMMANDS else run_script(arguments))
