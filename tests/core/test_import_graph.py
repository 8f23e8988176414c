"""core/ and db/ import each other without cycles (function-level imports excepted: those are
deliberate, to keep torch out of light entry points), and db/ stays below core/: it holds the
queries, core/ the rules over them, so db/ imports only core's settings and error base."""

from __future__ import annotations

import ast
from pathlib import Path

from tests.support.source import parse_file

REPO = Path(__file__).resolve().parents[2]
PACKAGES = ("core", "db")
DB_MAY_IMPORT = {"core", "core.config", "core.errors"}


def _module_name(path: Path) -> str:
    return ".".join(path.relative_to(REPO).with_suffix("").parts).removesuffix(".__init__")


def _graph(*, in_functions: bool = False) -> dict[str, set[str]]:
    """Module -> the product modules it imports at module level (or anywhere)."""
    paths = [p for package in PACKAGES for p in (REPO / package).rglob("*.py")]
    modules = {_module_name(p) for p in paths}
    graph: dict[str, set[str]] = {}
    for path in paths:
        name = _module_name(path)
        graph[name] = set()
        tree = parse_file(path)
        for node in ast.walk(tree) if in_functions else tree.body:
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                targets = [f"{node.module}.{alias.name}" for alias in node.names] + [node.module]
            elif isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            else:
                continue
            graph[name] |= {t for t in targets if t in modules and t != name}
    return graph


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    done: set[str] = set()

    def visit(node: str, stack: list[str]) -> list[str] | None:
        if node in stack:
            return stack[stack.index(node) :] + [node]
        if node in done:
            return None
        for target in sorted(graph.get(node, ())):
            found = visit(target, [*stack, node])
            if found:
                return found
        done.add(node)
        return None

    for start in sorted(graph):
        found = visit(start, [])
        if found:
            return found
    return None


def test_no_import_cycle_in_core_and_db() -> None:
    assert _cycle(_graph()) is None


def test_the_cycle_finder_finds_a_cycle() -> None:
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]


def test_training_and_jobs_no_longer_import_each_other() -> None:
    graph = _graph(in_functions=True)
    assert "core.lifecycle.jobs" not in graph["core.lifecycle.training"]
    assert "core.lifecycle.jobs" not in graph["core.lifecycle.registry"]


def _core_imports_of_db(graph: dict[str, set[str]]) -> dict[str, set[str]]:
    """db modules -> the core modules they import (beyond settings and errors)."""
    found = {
        name: {t for t in targets if t.split(".")[0] == "core" and t not in DB_MAY_IMPORT}
        for name, targets in graph.items()
        if name.split(".")[0] == "db"
    }
    return {name: targets for name, targets in found.items() if targets}


def test_db_imports_only_settings_and_errors_from_core() -> None:
    assert _core_imports_of_db(_graph(in_functions=True)) == {}


def test_the_layer_check_finds_a_rule_imported_by_db() -> None:
    graph = {"db.queries.x": {"core.review", "core.errors", "db.tables"}, "core.y": {"core.z"}}
    assert _core_imports_of_db(graph) == {"db.queries.x": {"core.review"}}
