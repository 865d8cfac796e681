"""The ``flyte-dask`` command: run a task of a pipeline file on a Dask cluster.

    flyte-dask run pipeline.py main --docs '["a","b"]' [--address tcp://sched:8786]
    flyte-dask status [--address tcp://sched:8786]
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

from ._client import init, performance_report
from ._gpu import resources_flag
from ._loader import load_script
from ._nvml import visible_devices
from ._run import run
from ._status import cluster_status
from ._task import TaskTemplate


def _parse_value(raw: str, annotation: Any) -> Any:
    if annotation is str:
        return raw
    try:
        return json.loads(raw)
    except json.JSONDecodeError:
        return raw


def _task_arguments(task: TaskTemplate[Any, Any], argv: Sequence[str]) -> dict[str, Any]:
    parser = argparse.ArgumentParser(prog=f"flyte-dask run FILE {task.func.__name__}", description=task.__doc__)
    hints = task._hints
    for name, param in inspect.signature(task.func).parameters.items():
        required = param.default is inspect.Parameter.empty
        parser.add_argument(f"--{name}", dest=name, required=required, help=f"{hints.get(name, 'any')} (JSON)")
    parsed = vars(parser.parse_args(list(argv)))
    return {name: _parse_value(raw, hints.get(name)) for name, raw in parsed.items() if raw is not None}


def _run_command(args: argparse.Namespace, rest: list[str]) -> int:
    module = load_script(args.file)
    task = getattr(module, args.task, None)
    if not isinstance(task, TaskTemplate):
        tasks = sorted(name for name, value in vars(module).items() if isinstance(value, TaskTemplate))
        print(f"error: {args.file} has no task named {args.task!r}; its tasks: {', '.join(tasks) or 'none'}", file=sys.stderr)
        return 2
    inputs = _task_arguments(task, rest)
    client = init(args.address) if args.address else init()
    report = performance_report(client, args.report) if args.report else contextlib.nullcontext()
    with report:
        result = run(task, **inputs)
        print(f"run {result.name} on {client.scheduler.address}" + (f"; dashboard: {result.url}" if result.url else ""), file=sys.stderr)
        outputs = result.outputs()
    if args.report:
        print(f"report: {os.path.abspath(args.report)}", file=sys.stderr)
    print(json.dumps(outputs[0] if len(outputs) == 1 else list(outputs), default=repr))
    print(f"done in {result.duration or 0:.2f}s", file=sys.stderr)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``flyte-dask`` console script."""
    parser = argparse.ArgumentParser(prog="flyte-dask", description="Run Flyte 2 style tasks on Dask.")
    commands = parser.add_subparsers(dest="command", required=True)
    run_parser = commands.add_parser("run", help="run a task of a pipeline file and print its output as JSON")
    run_parser.add_argument("file", help="path of the Python file that defines the task")
    run_parser.add_argument("task", help="name of the task to run")
    run_parser.add_argument("--address", help="Dask scheduler address (default: DASK_SCHEDULER_ADDRESS or an embedded cluster)")
    run_parser.add_argument("--report", metavar="FILE", help="save Dask's performance report of the run (task stream, profile, bandwidth) as HTML")
    status_parser = commands.add_parser(
        "status", help="what flyte_dask sees here and on a cluster: versions, GPUs, workers, resources, problems"
    )
    status_parser.add_argument("--address", help="Dask scheduler address (default: DASK_SCHEDULER_ADDRESS or Dask's config)")
    status_parser.add_argument("--timeout", type=float, default=10.0, help="seconds to wait for the scheduler (default 10)")
    commands.add_parser(
        "gpu-resources",
        help="print the visible GPUs as a `dask worker --resources` value, for one worker owning them all (from NVML)",
        description='dask worker ADDRESS --resources "$(flyte-dask gpu-resources)"',
    )
    args, rest = parser.parse_known_args(argv)
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
