"""Flyte 2's flyte.io, flyte.report and friends as a Flyte 2 program writes them; only the import differs.

Usage: python io_program.py <scheduler address> <scratch dir> <attempts log>
Prints one JSON line of findings.
"""

import asyncio
import json
import os
import sys

import cloudpickle
import pandas as pd

import flyte_dask as flyte
import flyte_dask.report
from flyte_dask.io import DataFrame, Dir, File

SIZE = 1 << 20  # each file is 1 MiB

env = flyte.TaskEnvironment("io_prog")
bigger = env.clone_with(name="io_prog_env", env_vars={"IO_MARK": "from-clone"})


@env.task
def make(i: int) -> File:
    f = File.new_remote(f"blob-{i}.bin")
    with f.open_sync("wb") as fh:
        fh.write(bytes([i % 256]) * SIZE)
    return f


@env.task
def weigh(f: File) -> int:
    with f.open_sync("rb") as fh:
        data = fh.read()
    return len(data) + data[0]


@env.task(cache=flyte.Cache("auto", ignored_inputs=("log",)))
def checksum(f: File, log: str) -> int:
    with open(log, "a") as out:
        out.write(f"{f.name}\n")
    with f.open_sync("rb") as fh:
        return sum(fh.read()) % 1_000_003


@env.task
async def names(d: Dir) -> list[str]:
    return sorted([f.name async for f in d.walk()])


@env.task
async def frame(n: int) -> DataFrame:
    return DataFrame.from_df(pd.DataFrame({"i": range(n), "when": pd.date_range("2026-01-01", periods=n)}))


@env.task
async def describe(df: pd.DataFrame) -> list[str]:
    return [str(len(df)), str(df["when"].dtype), str(df["i"].dtype)]


@env.task
async def frames(sizes: list[int]) -> dict:
    dfs = await asyncio.gather(*(frame(n) for n in sizes))
    described = await asyncio.gather(*(describe(df) for df in dfs))
    return {"references": all(isinstance(d, DataFrame) and d.uri for d in dfs), "described": described}


@bigger.task
def marked() -> str:
    return os.environ.get("IO_MARK", "unset")


@env.task(report=True)
def main(n: int, tree: Dir, log: str) -> dict:
    files = list(flyte.map(make, range(n)))
    weights = list(flyte.map(weigh, files))
    flyte_dask.report.log(f"<p>{n} files</p>")
    flyte_dask.report.get_tab("weights").log(f"<p>{sum(weights)}</p>")
    sums = list(flyte.map(checksum, [File.from_local_sync(f.download_sync()) for f in files], [log] * n))
    return {
        "held_bytes": len(cloudpickle.dumps(files)),
        "weights": weights,
        "sums": sums,
        "tree": asyncio.run(names.aio(tree)),
        "frames": asyncio.run(frames.aio([3, 5])),
        "clone": marked(),
        "override": marked.override(env_vars={"IO_MARK": "overridden"})(),
    }


if __name__ == "__main__":
    address, scratch, log = sys.argv[1:4]
    flyte.init(address)
    local = os.path.join(scratch, "local-tree")
    os.makedirs(os.path.join(local, "sub"), exist_ok=True)
    for rel in ("a.txt", "sub/b.txt"):
        with open(os.path.join(local, rel), "w") as fh:
            fh.write(rel)
    run = flyte.run(main, 6, Dir.from_local_sync(local), log)
    found = run.outputs()[0]
    found["reports"] = [(task, os.path.exists(page)) for task, page in run.summary().reports]
    found["report_text"] = open(run.summary().reports[0][1]).read() if run.summary().reports else ""
    print(json.dumps(found))
