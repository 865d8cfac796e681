"""The package's shape: no import cycles, one module for the Dask client, one for sync/async crossings."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "flyte_dask"


def _imports(path: Path) -> set[str]:
    """The flyte_dask modules a module imports anywhere, ``if TYPE_CHECKING:`` blocks included."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.level == 1:
            found |= {node.module} if node.module else {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("flyte_dask."):
            found.add(node.module.split(".", 1)[1])  # type: ignore[union-attr]
    return found


def _graph() -> dict[str, set[str]]:
    return {path.stem: _imports(path) for path in PACKAGE.glob("*.py")}


def test_no_import_cycles() -> None:
    graph = _graph()
    state: dict[str, int] = {}

    def visit(module: str, trail: list[str]) -> None:
        state[module] = 1
        for imported in sorted(graph.get(module, ())):
            assert state.get(imported) != 1, "import cycle: " + " -> ".join([*trail, module, imported])
            if imported not in state:
                visit(imported, [*trail, module])
        state[module] = 2

    for module in sorted(graph):
        if module not in state:
            visit(module, [])


def test_the_task_talks_to_the_controller_not_the_transport() -> None:
    assert _graph()["_task"] & {"_client", "_worker", "_batching", "_gather", "_dask_controller"} == set()


def test_only_the_bridge_crosses_between_loops() -> None:
    crossings = ("run_coroutine_threadsafe", "asyncio.run(", "run_until_complete", "asyncio.Runner", "new_event_loop")
    offenders = [p.name for p in PACKAGE.glob("*.py") if p.stem != "_bridge" and any(c in p.read_text() for c in crossings)]
    assert offenders == []
