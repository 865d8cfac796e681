"""`flyte_dask.io` (File, Dir, DataFrame) and `flyte_dask.report`, on real Dask: embedded cluster and worker processes."""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import Iterator
from pathlib import Path

import dask
import pandas as pd
import pyarrow as pa
import pytest
from dask.base import tokenize
from distributed import Client

import flyte_dask as flyte
import flyte_dask.report
from flyte_dask.io import DataFrame, Dir, EmptyDir, File, HashFunction
from tests.conftest import started_processes
from tests.test_flyte2_programs import run_program

env = flyte.TaskEnvironment("io_tests")


@pytest.fixture
def raw(tmp_path: Path) -> Iterator[Path]:
    """A fresh raw-data location for the test (driver and in-process workers share this config)."""
    root = tmp_path / "raw"
    with dask.config.set({"flyte-dask.raw-data-path": str(root)}):
        yield root


@env.task
async def write_text(text: str) -> File:
    f = File.new_remote("note.txt")
    async with f.open("wb") as fh:
        for start in range(0, len(text), 4):
            await fh.write(text[start : start + 4].encode())
    return f


@env.task
async def read_streaming(f: File) -> str:
    parts = []
    async with f.open("rb", block_size=3) as fh:
        while chunk := await fh.read():
            parts.append(bytes(chunk))
    assert all(len(p) <= 3 for p in parts)
    return b"".join(parts).decode()


def test_files_written_and_read_in_tasks_travel_as_references(session: Client, raw: Path) -> None:
    f = flyte.run(write_text, "hello, flyte io").outputs()[0]
    assert isinstance(f, File) and f.path.startswith(str(raw)) and f.name == "note.txt"
    assert f.exists_sync() and Path(f.path).read_text() == "hello, flyte io"
    assert flyte.run(read_streaming, f).outputs()[0] == "hello, flyte io"
    copy = File.from_existing_remote(f.path, file_cache_key="k1")
    assert copy.hash == "k1" and asyncio.run(copy.exists())
    target = raw.parent / "downloads" / "x.txt"
    assert File(path=f.path).download_sync(target) == str(target) and target.read_text() == "hello, flyte io"
    assert f.download_sync() == f.path  # already on this machine: not copied
    assert str(f) == f"path={f.path!r} name='note.txt' format='' hash=None"


def test_from_local_copies_into_the_raw_data_location_and_hashes_when_asked(raw: Path, tmp_path: Path) -> None:
    local = tmp_path / "in.csv"
    local.write_text("a,b\n1,2\n")
    f = File.from_local_sync(local, hash_method=HashFunction.from_fn(lambda data: f"len-{len(data)}"))
    assert f.path.startswith(str(raw)) and f.path != str(local) and f.name == "in.csv" and f.hash == "len-8"
    local.unlink()
    assert f.open_sync("rb").__enter__().read() == b"a,b\n1,2\n"  # the copy outlives the local file
    with pytest.raises(ValueError, match="File not found"):
        File.from_local_sync(local)


def test_a_path_nobody_can_read_names_the_path_the_setting_and_the_fix(raw: Path) -> None:
    ghost = File(path="/nowhere/on/this/machine.bin")
    with pytest.raises(FileNotFoundError) as info:
        with ghost.open_sync("rb"):
            pass
    message = str(info.value)
    assert "/nowhere/on/this/machine.bin" in message and "flyte-dask.raw-data-path" in message
    assert "s3://" in message and "File.from_local" in message
    with pytest.raises(FileNotFoundError, match="raw-data-path"):
        ghost.download_sync()


def test_cache_keys_follow_content_not_path(raw: Path, tmp_path: Path) -> None:
    one, two, other = (tmp_path / name for name in ("one", "two", "other"))
    one.write_bytes(b"same")
    two.write_bytes(b"same")
    other.write_bytes(b"different")
    assert tokenize(File(path=str(one))) == tokenize(File(path=str(two))) != tokenize(File(path=str(other)))
    assert tokenize(File(path=str(one), hash="k")) == tokenize(File(path=str(other), hash="k"))
    one.write_bytes(b"changed, and longer")
    assert tokenize(File(path=str(one))) != tokenize(File(path=str(two)))  # a rewritten file hashes again
    tree_a, tree_b = tmp_path / "ta", tmp_path / "tb"
    for tree in (tree_a, tree_b):
        (tree / "s").mkdir(parents=True)
        (tree / "s" / "x").write_text("x")
    assert tokenize(Dir(path=str(tree_a))) == tokenize(Dir(path=str(tree_b)))
    (tree_b / "s" / "x").write_text("y")
    assert tokenize(Dir(path=str(tree_a))) != tokenize(Dir(path=str(tree_b)))


@env.task
async def walk_all(d: Dir, recursive: bool, max_depth: int | None) -> list[str]:
    return sorted([f.name async for f in d.walk(recursive=recursive, max_depth=max_depth)])


def test_dirs_walk_list_get_and_download_as_flyte_does(session: Client, raw: Path, tmp_path: Path) -> None:
    tree = tmp_path / "tree"
    (tree / "a" / "b").mkdir(parents=True)
    for rel in ("top.txt", "a/mid.txt", "a/b/deep.txt"):
        (tree / rel).write_text(rel)
    d = Dir.from_local_sync(tree)
    assert d.path.startswith(str(raw)) and d.name == "tree" and d.exists_sync()
    assert flyte.run(walk_all, d, True, None).outputs()[0] == ["deep.txt", "mid.txt", "top.txt"]
    # Flyte's non-recursive walk is fsspec's depth 2: the top level and one below.
    assert flyte.run(walk_all, d, False, None).outputs()[0] == ["mid.txt", "top.txt"]
    assert sorted(f.name for f in d.list_files_sync()) == ["mid.txt", "top.txt"]
    assert d.get_file_sync("top.txt") is not None and d.get_file_sync("missing.txt") is None
    copied = d.download_sync(tmp_path / "copy")
    assert (Path(copied) / "a" / "b" / "deep.txt").read_text() == "a/b/deep.txt"
    assert EmptyDir().is_empty and Dir.empty().is_empty and not d.is_empty


@env.task
async def table(n: int) -> DataFrame:
    return DataFrame.from_df(
        pd.DataFrame({"i": range(n), "when": pd.date_range("2026-01-01", periods=n), "tags": [["x"]] * n})
    )


@env.task
async def as_pandas(df: pd.DataFrame) -> list[str]:
    return [str(len(df)), str(df["when"].dtype), str(df["i"].dtype)]


@env.task
def as_arrow(df: pa.Table) -> int:
    return df.num_rows


def test_data_frames_go_through_a_gather_as_references_with_their_schema(session: Client, raw: Path) -> None:
    @env.task
    async def main() -> list[list[str]]:
        frames = await asyncio.gather(*(table(n) for n in (2, 3)))
        assert all(isinstance(f, DataFrame) and f.uri for f in frames)
        return await asyncio.gather(*(as_pandas(f) for f in frames))

    assert flyte.run(main).outputs()[0] == [["2", "datetime64[us]", "int64"], ["3", "datetime64[us]", "int64"]]
    stored = flyte.run(table, 4).outputs()[0]
    assert stored.uri.startswith(str(raw)) and stored.format == "parquet"
    assert flyte.run(as_arrow, stored).outputs()[0] == 4
    back = stored.open(pd.DataFrame).all_sync()
    assert list(back.columns) == ["i", "when", "tags"] and list(back["tags"][0]) == ["x"]
    batches = asyncio.run(_collect(stored.open(pa.Table).iter()))
    assert sum(b.num_rows for b in batches) == 4


async def _collect(stream: object) -> list[pa.Table]:
    return [batch async for batch in stream]  # type: ignore[attr-defined]


def test_data_frames_in_csv_and_bad_types_are_explained(raw: Path) -> None:
    frame = DataFrame.wrap_df(pd.DataFrame({"a": [1, 2]}))
    frame.format = "csv"
    frame.store()
    assert frame.uri and os.path.exists(f"{frame.uri}/data.csv")
    assert DataFrame.from_existing_remote(frame.uri, format="csv").open(pd.DataFrame).all_sync()["a"].tolist() == [1, 2]
    with pytest.raises(TypeError, match=r"pandas\.DataFrame or pyarrow\.Table"):
        frame.open(dict)
    with pytest.raises(ValueError, match="Use open"):
        DataFrame.from_existing_remote(frame.uri).all_sync()


@env.task
async def mark_raw() -> str:
    return File.new_remote().path


def test_a_run_can_name_its_own_raw_data_location(session: Client, raw: Path, tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    path = flyte.with_runcontext(raw_data_path=str(elsewhere)).run(mark_raw).outputs()[0]
    assert path.startswith(str(elsewhere))
    assert flyte.run(mark_raw).outputs()[0].startswith(str(raw))


@env.task(report=True)
async def reporting(n: int) -> int:
    flyte_dask.report.log("<p>first</p>")
    tab = flyte_dask.report.get_tab("details")
    tab.log("<b>detail</b>")
    await flyte_dask.report.flush.aio()
    flyte_dask.report.replace(f"<p>replaced {n}</p>")
    timeline = flyte_dask.report.Timeline("steps")  # flyte 2.12's report/_widgets.py
    timeline.heading("Steps")
    timeline.row(icon="✓", label="load <csv>", meta="12 ms", error="x" * 500)
    return n


@env.task
async def not_reporting() -> bool:
    flyte_dask.report.log("<p>nowhere</p>")  # a throw-away report, as in Flyte
    return flyte_dask.report.current_report().name == "dummy"


def test_reports_are_one_page_per_call_listed_by_the_run_summary(session: Client, raw: Path) -> None:
    run = flyte.run(reporting, 7)
    assert run.outputs()[0] == 7
    pages = run.summary().reports
    assert [task for task, _ in pages] == ["io_tests.reporting"]
    page = Path(pages[0][1])
    assert page.is_relative_to(raw / "reports" / run.name)
    text = page.read_text()
    assert "replaced 7" in text and "first" not in text and "detail" in text  # written again at the call's end
    assert "<h3>Steps</h3>" in text and "<b>load &lt;csv&gt;</b>" in text and "... (+300)</summary>" in text
    assert flyte_dask.report.duration_ms("2026-01-01T00:00:00Z", "2026-01-01T00:00:01.25Z") == "1250 ms"
    assert flyte_dask.report.duration_ms(None, "2026-01-01T00:00:00Z") == ""
    assert f"report  io_tests.reporting  {page}" in str(run.summary())
    assert flyte.run(not_reporting).outputs()[0] is True
    assert flyte_dask.report.current_report().name == "dummy"  # outside any task


def test_the_io_program_on_worker_processes_holds_references_and_reruns_from_cache(tmp_path: Path) -> None:
    raw, cache, log = tmp_path / "raw", tmp_path / "cache", tmp_path / "attempts.log"
    config = {"DASK_FLYTE_DASK__RAW_DATA_PATH": str(raw), "DASK_FLYTE_DASK__CACHE__PATH": str(cache)}
    workers = tmp_path / "workers"
    workers.mkdir()
    with started_processes(workers, workers=2, nthreads=2, env=config) as procs:
        runs = [run_program("io_program", procs.address, str(tmp_path), str(log), extra_env=config) for _ in range(2)]
    for done in runs:
        assert done.returncode == 0, done.stderr
    first, second = (json.loads(done.stdout.strip().splitlines()[-1]) for done in runs)
    assert first["held_bytes"] < 6 * 400  # six 1 MiB files, held as references
    assert first["weights"] == [(1 << 20) + i for i in range(6)]
    assert first["sums"] == second["sums"] == [(i * (1 << 20)) % 1_000_003 for i in range(6)]
    assert len(log.read_text().splitlines()) == 6  # the rerun found every item in the cache: same content, new paths
    assert first["tree"] == ["a.txt", "b.txt"]
    assert first["frames"] == {
        "references": True,
        "described": [["3", "datetime64[us]", "int64"], ["5", "datetime64[us]", "int64"]],
    }
    assert first["clone"] == "from-clone" and first["override"] == "overridden"
    assert first["reports"] == [["io_prog.main", True]] and "6 files" in first["report_text"]
