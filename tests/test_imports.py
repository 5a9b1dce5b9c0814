"""The package's import graph, read from the source: acyclic, lazy imports explained."""

from __future__ import annotations

import ast
import pathlib

import pytest

PACKAGE_ROOT = pathlib.Path(__file__).resolve().parent.parent / "tfbalance"


def _module_name(path: pathlib.Path) -> str:
    parts = list(path.relative_to(PACKAGE_ROOT.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _modules() -> dict[str, pathlib.Path]:
    return {_module_name(p): p for p in sorted(PACKAGE_ROOT.rglob("*.py"))}


def _imported(node: ast.AST, module: str, is_package: bool, known: set[str]) -> list[str]:
    """The tfbalance modules that one import statement loads."""
    if isinstance(node, ast.Import):
        return [a.name for a in node.names if a.name.split(".")[0] == "tfbalance"]
    if not isinstance(node, ast.ImportFrom):
        return []
    if node.level:
        base = module.split(".") if is_package else module.split(".")[:-1]
        base = base[: len(base) - (node.level - 1)]
        target = ".".join(base + ([node.module] if node.module else []))
    else:
        target = node.module or ""
    if target.split(".")[0] != "tfbalance":
        return []
    result = []
    for alias in node.names:
        # `from tfbalance import metrics` loads the submodule, not only the package.
        submodule = f"{target}.{alias.name}"
        result.append(submodule if submodule in known else target)
    return result


def _graph() -> tuple[dict[str, set[str]], list[tuple[str, int, str]]]:
    modules = _modules()
    known = set(modules)
    graph: dict[str, set[str]] = {m: set() for m in modules}
    lazy: list[tuple[str, int, str]] = []
    for module, path in modules.items():
        source = path.read_text(encoding="utf-8")
        lines = source.splitlines()
        tree = ast.parse(source)
        top_level = {id(n) for n in tree.body}
        type_only = set()
        for statement in tree.body:
            # `if TYPE_CHECKING:` imports never run: they are for type checkers only.
            if isinstance(statement, ast.If) and "TYPE_CHECKING" in ast.unparse(statement.test):
                type_only.update(id(n) for n in ast.walk(statement))
        for node in ast.walk(tree):
            if id(node) in type_only:
                continue
            targets = _imported(node, module, path.name == "__init__.py", known)
            for target in targets:
                # Importing a package runs its __init__; a module never depends on itself.
                if target != module:
                    graph[module].add(target)
            if targets and id(node) not in top_level:
                # The comment may stand above a group of consecutive deferred imports.
                row = node.lineno - 2
                while row >= 0 and lines[row].strip().startswith(("from ", "import ")):
                    row -= 1
                above = lines[row].strip() if row >= 0 else ""
                same = lines[node.lineno - 1]
                if not (above.startswith("#") or "#" in same):
                    lazy.append((module, node.lineno, same.strip()))
    return graph, lazy


def _find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return stack[stack.index(nxt):] + [nxt]
            if nxt not in state:
                found = visit(nxt)
                if found:
                    return found
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state:
            found = visit(node)
            if found:
                return found
    return None


def test_import_graph_reads_every_module():
    graph, _ = _graph()
    assert "tfbalance._csv" in graph or any(m.startswith("tfbalance._csv.") for m in graph)
    assert "tfbalance._sampling" in graph or any(
        m.startswith("tfbalance._sampling.") for m in graph
    )
    assert graph["tfbalance"], "the package's __init__ imports its submodules"


def test_import_graph_has_no_cycle():
    graph, _ = _graph()
    assert _find_cycle(graph) is None, f"import cycle: {' -> '.join(_find_cycle(graph) or [])}"


def test_find_cycle_detects_a_cycle():
    assert _find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert _find_cycle({"a": {"b"}, "b": {"c"}, "c": set()}) is None


def test_every_lazy_import_says_why():
    _, lazy = _graph()
    assert not lazy, (
        "function-level imports of tfbalance modules need a one-line comment saying why "
        f"(on the line above or the same line): {lazy}"
    )


@pytest.mark.parametrize("module", ["tfbalance._distribution", "tfbalance._progress"])
def test_leaf_modules_import_nothing_of_the_package(module):
    graph, _ = _graph()
    assert graph[module] == set()
