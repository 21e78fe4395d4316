"""The package's shape, held: no import circle anywhere in bot/, counting every import (those
inside functions and under TYPE_CHECKING too), and no module outside bot/local/ past about 400
lines. `make lint`'s import-linter contracts hold the layers and the circles among siblings;
this also catches a package that imports a module of its own which imports the package back,
which the sibling contract does not see."""

from __future__ import annotations

import grimp

from tests.conftest import ROOT

LONGEST = 400  # lines; bot/local/ (the stand-ins, the CLI) may be longer


def circles(graph: grimp.ImportGraph) -> list[list[str]]:
    """The strongly connected groups of more than one module (Tarjan's algorithm)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(module: str) -> None:
        index[module] = low[module] = len(index)
        stack.append(module)
        for imported in sorted(graph.find_modules_directly_imported_by(module)):
            if imported not in index:
                visit(imported)
                low[module] = min(low[module], low[imported])
            elif imported in stack:
                low[module] = min(low[module], index[imported])
        if low[module] == index[module]:
            group = []
            while True:
                member = stack.pop()
                group.append(member)
                if member == module:
                    break
            if len(group) > 1:
                found.append(sorted(group))

    for module in sorted(graph.modules):
        if module not in index:
            visit(module)
    return found


def test_no_import_circle_in_the_package() -> None:
    graph = grimp.build_graph("bot")
    assert len(graph.modules) > 90  # the whole package was read
    assert circles(graph) == []


def test_a_circle_is_found_where_there_is_one() -> None:
    graph = grimp.ImportGraph()
    for module in ("a", "a.b", "a.c", "d"):
        graph.add_module(module)
    graph.add_import(importer="a", imported="a.b")
    graph.add_import(importer="a.b", imported="a.c")
    graph.add_import(importer="a.c", imported="a")
    graph.add_import(importer="a.c", imported="d")
    assert circles(graph) == [["a", "a.b", "a.c"]]


def test_no_module_outside_the_local_stack_is_longer_than_about_400_lines() -> None:
    long = {
        str(path.relative_to(ROOT)): lines
        for path in (ROOT / "bot").rglob("*.py")
        if "local" not in path.relative_to(ROOT / "bot").parts
        and (lines := len(path.read_text().splitlines())) > LONGEST
    }
    assert long == {}
