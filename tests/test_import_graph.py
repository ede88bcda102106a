"""Imports run one way: no module of wince imports, at import time, a module that imports it back.

The graph is read from the source (the `import` statements at a module's top level, outside
`if TYPE_CHECKING:` blocks), so a new cycle fails here before it surprises anyone with a
half-initialised module. Imports inside functions run later and are not edges of this graph.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SOURCE = Path(__file__).resolve().parents[1] / "src"


def module_files() -> dict[str, Path]:
    """Every module of the wince package by dotted name (a package by its own name)."""
    modules = {}
    for path in sorted((SOURCE / "wince").rglob("*.py")):
        parts = path.relative_to(SOURCE).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        modules[name] = path
    return modules


def imported_modules(name: str, statement: ast.stmt, modules: dict[str, Path]) -> set[str]:
    """The wince modules an import statement of module `name` loads, by dotted name."""
    targets: list[str] = []
    if isinstance(statement, ast.Import):
        targets = [alias.name for alias in statement.names]
    elif isinstance(statement, ast.ImportFrom):
        base = statement.module or ""
        if statement.level:
            package = name.split(".")
            if modules[name].name != "__init__.py":
                package = package[:-1]
            package = package[: len(package) - statement.level + 1]
            base = ".".join([*package, base] if base else package)
        # `from package import submodule` loads the submodule; `from module import name` not.
        targets = [f"{base}.{alias.name}" for alias in statement.names] + [base]
    found = set()
    for target in targets:
        while target and target not in modules:
            target = target.rpartition(".")[0]
        if target and target != name and not name.startswith(f"{target}."):
            found.add(target)  # a module's own parent package is loaded before it anyway
    return found


def top_level_imports(tree: ast.Module) -> list[ast.stmt]:
    """The import statements that run when the module is imported (TYPE_CHECKING skipped)."""
    statements: list[ast.stmt] = []
    for statement in tree.body:
        if isinstance(statement, ast.Import | ast.ImportFrom):
            statements.append(statement)
        elif isinstance(statement, ast.Try):
            statements.extend(
                s for s in statement.body if isinstance(s, ast.Import | ast.ImportFrom)
            )
    return statements


def import_graph() -> dict[str, set[str]]:
    """Module -> the wince modules it imports at import time."""
    modules = module_files()
    graph = {}
    for name, path in modules.items():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        graph[name] = set().union(
            *(imported_modules(name, s, modules) for s in top_level_imports(tree))
        )
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[list[str]] = []
    for root in sorted(graph):
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    components.append(sorted(component))
    return components


def test_the_cycle_finder_finds_a_planted_cycle_and_nothing_in_a_chain():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": {"c"}, "c": set()}) == []


def test_relative_and_package_imports_resolve_to_modules():
    modules = module_files()
    statement = ast.parse("from .base import Magnitude\nfrom wince.perturbations import text")
    first, second = statement.body
    assert imported_modules("wince.perturbations.tabular", first, modules) == {
        "wince.perturbations.base"
    }
    assert imported_modules("wince.plan", second, modules) == {
        "wince.perturbations",
        "wince.perturbations.text",
    }


@pytest.mark.slow
@pytest.mark.parametrize("module", ["wince.cli", "wince.plan", "wince.engine.runner"])
def test_the_graph_holds_known_edges(module):
    """The reader sees real imports (a graph without edges has no cycles either)."""
    assert import_graph()[module]


@pytest.mark.slow
def test_no_import_time_cycles_between_wince_modules():
    found = cycles(import_graph())
    assert not found, (
        "import-time cycles between wince modules (move one import into the function that "
        f"needs it, or the shared piece into a module both can import): {found}"
    )
