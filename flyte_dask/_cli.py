"""The ``flyte-dask`` command: run a task of a pipeline file on a Dask cluster.

    flyte-dask run pipeline.py main --docs '["a","b"]' [--address tcp://sched:8786]
    python -m flyte_dask pipeline.py [ARGS...]     # the script's own __main__, with `import flyte` served
    flyte-dask status [--address tcp://sched:8786]
    flyte-dask cache clear [TASK]
    dask worker tcp://sched:8786 --resources "$(flyte-dask gpu-resources)"

Each task parameter becomes an option; values are read as JSON (``3``, ``[1,2]``,
``{"k": 1}``), and as plain text where that fails or the parameter is a ``str``.
"""

from __future__ import annotations

import argparse
import contextlib
import inspect
import json
import os
import sys
from collections.abc import Sequence
from typing import Any

from flyte_dask._alias import install_as_flyte
from flyte_dask._internal.nvml import visible_devices
from flyte_dask._internal.runtime.gpu import resources_flag
from flyte_dask._internal.runtime.store import store
from flyte_dask._internal.transport import init, performance_report, scheduler_address
from flyte_dask._internal.typecheck import convert, mismatch, type_name
from flyte_dask._loader import load_script
from flyte_dask._run import run
from flyte_dask._status import cluster_status
from flyte_dask._task import TaskTemplate


def _parse_value(raw: str, annotation: Any) -> Any:
    if annotation is str:
        return raw
    try:
        return json.loads(raw)
    except json.JSONDecodeError:
        return raw


class InputError(ValueError):
    """A task input given on the command line does not fit its annotation."""


def _task_arguments(task: TaskTemplate[Any, Any], file: str, argv: Sequence[str]) -> dict[str, Any]:
    """The task's inputs from ``--name value`` options; ``--help`` lists them with types and defaults."""
    parser = argparse.ArgumentParser(
        prog=f"flyte-dask run {file} {task.func.__name__}",
        description=inspect.getdoc(task.func) or f"Run the task {task.name}.",
        epilog='Values are JSON (3, [1, 2], {"k": 1}); a str input takes plain text.',
    )
    _common_run_options(parser)
    hints = task._hints
    inputs = parser.add_argument_group("inputs of " + task.name)
    for name, param in inspect.signature(task.func).parameters.items():
        required = param.default is inspect.Parameter.empty
        kind = type_name(hints.get(name, inspect.Parameter.empty))
        default = "required" if required else f"default: {param.default!r}"
        inputs.add_argument(
            f"--{name}", dest=name, required=required, metavar=kind.upper().replace(" ", ""), help=f"{kind} ({default})"
        )
    parsed = vars(parser.parse_args(list(argv)))
    values: dict[str, Any] = {}
    for name in inspect.signature(task.func).parameters:
        raw = parsed.get(name)
        if raw is None:
            continue
        value = convert(_parse_value(raw, hints.get(name)), hints.get(name, inspect.Parameter.empty))
        why = mismatch(value, hints.get(name, inspect.Parameter.empty))
        if why is not None:
            raise InputError(f"--{name} takes {type_name(hints[name])} as JSON, got {raw!r} ({why})")
        values[name] = value
    return values


def _common_run_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--address", help="Dask scheduler address (default: DASK_SCHEDULER_ADDRESS or an embedded cluster)"
    )
    parser.add_argument(
        "--report",
        metavar="FILE",
        help="save Dask's performance report of the run (task stream, profile, bandwidth) as HTML",
    )


def _run_command(args: argparse.Namespace, rest: list[str]) -> int:
    install_as_flyte()  # a pipeline written with `import flyte` runs unchanged
    module = load_script(args.file)
    task = getattr(module, args.task, None)
    if not isinstance(task, TaskTemplate):
        tasks = sorted(name for name, value in vars(module).items() if isinstance(value, TaskTemplate))
        print(
            f"error: {args.file} has no task named {args.task!r}; its tasks: {', '.join(tasks) or 'none'}",
            file=sys.stderr,
        )
        return 2
    try:
        inputs = _task_arguments(task, args.file, [*rest, *(["--help"] if args.help else [])])
    except InputError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    client = init(args.address) if args.address else init()
    report = performance_report(client, args.report) if args.report else contextlib.nullcontext()
    with report:
        result = run(task, **inputs)
        print(
            f"run {result.name} on {scheduler_address(client)}" + (f"; dashboard: {result.url}" if result.url else ""),
            file=sys.stderr,
        )
        outputs = result.outputs()
    if args.report:
        print(f"report: {os.path.abspath(args.report)}", file=sys.stderr)
    print(json.dumps(outputs[0] if len(outputs) == 1 else list(outputs), default=repr))
    print(f"done in {result.duration or 0:.2f}s", file=sys.stderr)
    print(result.summary(), file=sys.stderr)
    return 0


COMMANDS = ("run", "status", "gpu-resources", "cache", "-h", "--help")
"""The first words that make ``python -m flyte_dask ...`` this command rather than a script to run."""


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``flyte-dask`` console script."""
    parser = argparse.ArgumentParser(prog="flyte-dask", description="Run Flyte 2 style tasks on Dask.")
    commands = parser.add_subparsers(dest="command", required=True)
    run_parser = commands.add_parser(
        "run",
        add_help=False,
        help="run a task of a pipeline file and print its output as JSON",
        description="Run TASK of FILE on Dask; `flyte-dask run FILE TASK --help` lists the task's inputs.",
    )
    run_parser.add_argument("file", nargs="?", help="path of the Python file that defines the task")
    run_parser.add_argument("task", nargs="?", help="name of the task to run")
    run_parser.add_argument(
        "-h", "--help", action="store_true", help="show this help, or the task's inputs after FILE TASK"
    )
    _common_run_options(run_parser)
    status_parser = commands.add_parser(
        "status", help="what flyte_dask sees here and on a cluster: versions, GPUs, workers, resources, problems"
    )
    status_parser.add_argument(
        "--address", help="Dask scheduler address (default: DASK_SCHEDULER_ADDRESS or Dask's config)"
    )
    status_parser.add_argument(
        "--timeout", type=float, default=10.0, help="seconds to wait for the scheduler (default 10)"
    )
    commands.add_parser(
        "gpu-resources",
        help="print the visible GPUs as a `dask worker --resources` value, for one worker owning them all (from NVML)",
        description='dask worker ADDRESS --resources "$(flyte-dask gpu-resources)"',
    )
    cache_parser = commands.add_parser(
        "cache", help="the persistent cache of cache='auto' tasks (flyte-dask.cache.path)"
    )
    cache_parser.add_argument(
        "action", choices=["clear", "path"], help="clear: remove entries; path: print where it is"
    )
    cache_parser.add_argument("task", nargs="?", help="only this task's entries (its full name, e.g. my_env.embed)")
    args, rest = parser.parse_known_args(argv)
    if args.command == "cache":
        cache = store()
        if args.action == "path":
            print(cache.root)
        else:
            cache.clear(args.task)
            print(f"cleared {args.task or 'every task'} in {cache.root}", file=sys.stderr)
        return 0
    if args.command == "run" and not (args.file and args.task):
        if args.help:
            run_parser.print_help()
            return 0
        run_parser.error("give the pipeline FILE and the TASK to run, e.g. flyte-dask run pipeline.py main --help")
    if args.command == "status":
        status = cluster_status(args.address, timeout=args.timeout)
        print(status)
        return 1 if status.error is not None else 0
    if args.command == "gpu-resources":
        flag = resources_flag(visible_devices())
        if not flag:
            print("error: NVML sees no GPU here (is nvidia-ml-py installed and a driver loaded?)", file=sys.stderr)
            return 1
        print(flag)
        return 0
    return _run_command(args, rest)


if __name__ == "__main__":
    sys.exit(main())
