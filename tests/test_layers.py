"""The shape of the code, as ARCHITECTURE.md draws it: ``shared/`` is used by the receiver,
the worker and the CLI and imports none of them; the receiver (``web/``) never imports
worker code; no module imports one that imports it back, however indirectly; and no
module outside tests/ grows past about 300 lines (split it where it does two things).

Read from the source (every ``import``, also inside functions), not from what a run happens
to load."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("shared", "web", "worker")
MAX_LINES = 320
"""About 300: a module past it does two jobs (README, where things are)."""


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules() -> dict[str, Path]:
    return {module_name(path): path for package in PACKAGES for path in sorted((ROOT / package).rglob("*.py"))}


def imports(path: Path, known: set[str]) -> set[str]:
    """The project's modules ``path`` imports: ``from worker import apply`` is worker.apply
    when that is a module, else the package ``worker``."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            for alias in node.names:
                candidate = f"{node.module}.{alias.name}"
                found.add(candidate if candidate in known else node.module)
    return {name for name in found if name.split(".")[0] in PACKAGES}


@pytest.fixture(scope="module")
def graph() -> dict[str, set[str]]:
    found = modules()
    return {name: imports(path, set(found)) for name, path in found.items()}


def in_package(name: str, package: str) -> bool:
    return name == package or name.startswith(package + ".")


@pytest.mark.parametrize("importer, forbidden", [("shared", ("web", "worker")), ("web", ("worker",))])
def test_layers_import_only_downwards(graph, importer, forbidden):
    upward = sorted(f"{name} imports {target}" for name, targets in graph.items() if in_package(name, importer)
                    for target in targets if any(in_package(target, package) for package in forbidden))
    assert upward == []


def test_no_module_imports_itself_back(graph):
    cycles, state = [], {}

    def visit(name: str, path: list[str]) -> None:
        state[name] = "open"
        for target in sorted(graph.get(name, ())):
            if state.get(target) == "open":
                cycles.append(" -> ".join(path[path.index(target):] + [target]) if target in path else target)
            elif target not in state:
                visit(target, path + [target])
        state[name] = "done"

    for name in sorted(graph):
        if name not in state:
            visit(name, [name])
    assert cycles == []


def test_the_checks_see_the_imports_they_judge(graph):
    """The walk finds real edges, so the two tests above cannot pass by finding nothing."""
    assert "worker.lifecycle" in graph["worker.apply"] and "shared.settings" in graph["web.app"]
    assert "worker.cli.context" in graph["worker.cli.processes"]


def test_no_module_outside_tests_is_much_longer_than_300_lines():
    paths = [path for package in (*PACKAGES, "bench") for path in (ROOT / package).rglob("*.py")]
    paths.append(ROOT / "tasks.py")
    long = sorted(f"{path.relative_to(ROOT)}: {count}" for path in paths
                  if (count := len(path.read_text().splitlines())) > MAX_LINES)
    assert long == []
