"""The package's shape, as rules: where code runs shows in the tree, and each boundary holds.

- `_internal/runtime` (inside a worker's Dask task) never imports `controllers` or `transport`;
- only `_internal/transport` imports `distributed.Client`, `Future` or `Semaphore`;
- the public modules reach `distributed` only through `_internal`;
- the task talks to the controller seam, never to the transport;
- only `_internal/bridge` crosses between event loops;
- no import cycles; every folder says what lives there; the README's module map lists every module.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "flyte_dask"
README = PACKAGE.parent / "README.md"
RESTRICTED = {"Client", "Future", "Semaphore"}


def _name(path: Path, package: Path = PACKAGE) -> str:
    """``flyte_dask._internal.transport.session`` for its file (a package is named by its folder)."""
    parts = path.relative_to(package.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _modules(package: Path = PACKAGE) -> dict[str, Path]:
    return {_name(path, package): path for path in sorted(package.rglob("*.py"))}


def _imports(path: Path, package: Path = PACKAGE) -> set[str]:
    """The flyte_dask modules a module imports anywhere, ``if TYPE_CHECKING:`` blocks and function bodies included."""
    here = _name(path, package).split(".")
    if path.name != "__init__.py":
        here = here[:-1]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            base = ".".join(here[: len(here) - node.level + 1]) if node.level else ""
            module = ".".join(p for p in (base, node.module or "") if p)
            if module.split(".")[0] == package.name:
                found.add(module)
                found |= {f"{module}.{alias.name}" for alias in node.names}
        elif isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names if alias.name.split(".")[0] == package.name}
    return found


def _graph(package: Path = PACKAGE) -> dict[str, set[str]]:
    modules = _modules(package)
    return {name: {m for m in _imports(path, package) if m in modules and m != name} for name, path in modules.items()}


def _distributed_names(path: Path) -> set[str]:
    """What a module takes from ``distributed``: names imported from it, and ``distributed.X`` attributes."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "distributed":
            names |= {alias.name for alias in node.names} | {node.module or ""}
        elif isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names if alias.name.split(".")[0] == "distributed"}
        elif isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == "distributed":
            names.add(node.attr)
    return names


def _in(folder: str, name: str) -> bool:
    prefix = f"flyte_dask._internal.{folder}"
    return name == prefix or name.startswith(prefix + ".")


def _runtime_reaching_out(package: Path = PACKAGE) -> list[str]:
    return [
        f"{m} -> {i}"
        for m, imported in _graph(package).items()
        if _in("runtime", m)
        for i in imported
        if _in("controllers", i) or _in("transport", i)
    ]


def _restricted_outside_transport(package: Path = PACKAGE) -> list[str]:
    return [
        f"{name}: {sorted(_distributed_names(path) & RESTRICTED)}"
        for name, path in _modules(package).items()
        if not _in("transport", name) and _distributed_names(path) & RESTRICTED
    ]


def _public_using_distributed(package: Path = PACKAGE) -> list[str]:
    return [name for name, path in _modules(package).items() if "._internal" not in name and _distributed_names(path)]


def test_no_import_cycles() -> None:
    graph = _graph()
    # A package's __init__ importing its own submodules is how a facade is built, not a cycle of concepts.
    edges = {m: {i for i in imported if not i.startswith(m + ".")} for m, imported in graph.items()}
    state: dict[str, int] = {}

    def visit(module: str, trail: list[str]) -> None:
        state[module] = 1
        for imported in sorted(edges.get(module, ())):
            assert state.get(imported) != 1, "import cycle: " + " -> ".join([*trail, module, imported])
            if imported not in state:
                visit(imported, [*trail, module])
        state[module] = 2

    for module in sorted(edges):
        if module not in state:
            visit(module, [])


def test_the_runtime_never_imports_controllers_or_transport() -> None:
    assert _runtime_reaching_out() == []


def test_only_the_transport_imports_client_future_or_semaphore() -> None:
    assert _restricted_outside_transport() == []


def test_public_modules_reach_distributed_only_through_internal() -> None:
    assert _public_using_distributed() == []


def test_the_task_talks_to_the_controller_seam_not_the_transport() -> None:
    reached = _graph()["flyte_dask._task"]
    assert {m for m in reached if _in("transport", m) or _in("runtime", m)} == set()
    assert {m for m in reached if _in("controllers", m)} <= {"flyte_dask._internal.controllers"}


def test_only_the_bridge_crosses_between_loops() -> None:
    crossings = ("run_coroutine_threadsafe", "asyncio.run(", "run_until_complete", "asyncio.Runner", "new_event_loop")
    offenders = [
        name
        for name, path in _modules().items()
        if name != "flyte_dask._internal.bridge" and any(c in path.read_text() for c in crossings)
    ]
    assert offenders == []


def test_every_folder_says_what_lives_there_and_what_it_may_import() -> None:
    for init in sorted(PACKAGE.rglob("__init__.py")):
        doc = ast.get_docstring(ast.parse(init.read_text())) or ""
        assert len(doc.splitlines()) >= 3, (
            f"{init.relative_to(PACKAGE.parent)} needs a docstring saying what lives there"
        )
        if init.parent.parent.name == "_internal":
            assert "May import" in doc, f"{init.relative_to(PACKAGE.parent)} must say what it may import"


def test_the_readme_module_map_lists_every_module() -> None:
    section = README.read_text().split("### Inside `flyte_dask/`", 1)[1].split("\n## ", 1)[0]
    listed = {path for path in re.findall(r"`([\w/]+\.py)`", section) if not path.startswith(("tests/", "benchmarks/"))}
    listed = {path if path.startswith("flyte_dask/") else f"flyte_dask/{path}" for path in listed}
    actual = {str(path.relative_to(PACKAGE.parent)) for path in PACKAGE.rglob("*.py")}
    assert sorted(actual - listed) == [], "modules missing from the README's map"
    assert sorted(listed - actual) == [], "the README's map lists modules that do not exist"


def test_failures_become_flyte_errors_only_through_the_error_map() -> None:
    # One table (failures.ERROR_MAP) says which Flyte class each kind of failure becomes; nothing picks one by hand.
    by_hand = [
        str(path.relative_to(PACKAGE.parent))
        for path in PACKAGE.rglob("*.py")
        if path.name != "failures.py" and "as_flyte_error(" in path.read_text()
    ]
    assert by_hand == []


def test_ctrl_c_lives_in_interrupts() -> None:
    # All of Ctrl-C in one module: SIGINT, the exit hook, and what interrupted work cancelled.
    elsewhere = [
        str(path.relative_to(PACKAGE.parent))
        for path in PACKAGE.rglob("*.py")
        if path.name != "interrupts.py"
        and re.search(r"signal\.SIGINT|sys\.excepthook\s*=|_cancelled\.append", path.read_text())
    ]
    assert elsewhere == []


def test_the_package_ships_py_typed() -> None:
    assert (PACKAGE / "py.typed").exists()


@pytest.fixture
def flat_layout(tmp_path: Path) -> Path:
    """The layout before `_internal`: one flat folder, the client and worker beside the public modules."""
    flat = tmp_path / "flyte_dask"
    flat.mkdir()
    (flat / "__init__.py").write_text('"""x"""\nfrom ._task import TaskTemplate\n')
    (flat / "_task.py").write_text("from ._controller import current_controller\n")
    (flat / "_controller.py").write_text("from . import _client\n")
    (flat / "_client.py").write_text(
        "from distributed import Client, Future, Semaphore\nfrom ._worker import run_call\n"
    )
    (flat / "_batching.py").write_text("from distributed import Client, Future\n")
    (flat / "_worker.py").write_text("from distributed import get_worker\nfrom ._context import current_worker_task\n")
    (flat / "_limits.py").write_text("from distributed import Client, Semaphore\n")
    (flat / "_context.py").write_text("from distributed import secede, span\n")
    return flat


def test_the_rules_fail_on_the_flat_layout(flat_layout: Path) -> None:
    # The rules read the tree, so a flat package breaks them: public modules use distributed, and
    # the client's types are taken all over. (No module there is runtime, so that rule has nothing to check.)
    assert _restricted_outside_transport(flat_layout) and _public_using_distributed(flat_layout)
    assert set(_public_using_distributed(flat_layout)) >= {
        "flyte_dask._batching",
        "flyte_dask._limits",
        "flyte_dask._client",
    }


def test_the_runtime_rule_catches_a_worker_module_calling_the_client(tmp_path: Path) -> None:
    package = tmp_path / "flyte_dask"
    for folder in ("_internal/runtime", "_internal/transport"):
        (package / folder).mkdir(parents=True)
        (package / folder / "__init__.py").write_text("")
    (package / "__init__.py").write_text("")
    (package / "_internal" / "__init__.py").write_text("")
    (package / "_internal/transport/session.py").write_text("")
    (package / "_internal/runtime/worker.py").write_text("from ..transport import session\n")
    assert "flyte_dask._internal.runtime.worker -> flyte_dask._internal.transport.session" in _runtime_reaching_out(
        package
    )


def test_the_readme_lists_every_setting_and_environment_variable() -> None:
    from flyte_dask._internal import settings

    text = README.read_text()
    missing = [f"flyte-dask.{s.key}" for s in settings.SETTINGS if f"`flyte-dask.{s.key}`" not in text]
    missing += [name for name in settings.ENVIRONMENT if f"`{name}`" not in text]
    assert missing == []


def test_no_module_but_settings_registers_config_defaults() -> None:
    offenders = [
        name
        for name, path in _modules().items()
        if name != "flyte_dask._internal.settings" and "update_defaults" in path.read_text()
    ]
    assert offenders == []
