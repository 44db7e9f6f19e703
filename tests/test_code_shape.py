"""The code stays readable and layered: no function in assistant/ or vectorstore/ longer than 60 lines, and no
import cycle between their modules (an import inside a function counts: it only hides the cycle).

The long functions known when this check was written were split one by one (the last, the UI's chat tab, in
the third wave); the two import cycles known then, loaders ↔ formats ↔ safety and server errors ↔ guards,
were broken the same day. There are no exceptions: any long function or cycle fails at once.
"""

from __future__ import annotations

import ast
import inspect
import re
from collections.abc import Iterator
from pathlib import Path

import vectorstore.errors
from tests.conftest import ROOT

PACKAGES = ("assistant", "vectorstore")
MAX_LINES = 60


# -- the checks ------------------------------------------------------------------------------------------


def module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules(root: Path, packages: tuple[str, ...] = PACKAGES) -> dict[str, Path]:
    return {module_name(p, root): p for pkg in packages for p in sorted((root / pkg).rglob("*.py"))}


def _type_checking_only(tree: ast.Module) -> set[int]:
    """ids of the import nodes under `if TYPE_CHECKING:`: never executed, so never part of a cycle."""
    hidden: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            hidden |= {id(n) for stmt in node.body for n in ast.walk(stmt)}
    return hidden


def imports_of(name: str, path: Path, known: dict[str, Path]) -> set[str]:
    """The project modules `name` imports, wherever the statement is (module level or in a function)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    hidden = _type_checking_only(tree)
    package = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
    found: set[str] = set()
    for node in ast.walk(tree):
        if id(node) in hidden:
            continue
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names if alias.name in known}
        elif isinstance(node, ast.ImportFrom):
            base = package[: len(package) - node.level + 1] if node.level else []
            target = ".".join([*base, *([node.module] if node.module else [])])
            for alias in node.names:
                submodule = f"{target}.{alias.name}"
                found.add(submodule if submodule in known else target)
    return (found & known.keys()) - {name}


def import_cycles(root: Path, packages: tuple[str, ...] = PACKAGES) -> list[frozenset[str]]:
    """The strongly connected components (Tarjan) of two or more modules in the import graph."""
    known = modules(root, packages)
    graph = {name: imports_of(name, path, known) for name, path in known.items()}
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    cycles: list[frozenset[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = {stack.pop()}
            while v not in component:
                component.add(stack.pop())
            if len(component) > 1:
                cycles.append(frozenset(component))

    for name in sorted(graph):
        if name not in index:
            visit(name)
    return cycles


def _functions(
    body: list[ast.stmt], prefix: str
) -> Iterator[tuple[str, ast.FunctionDef | ast.AsyncFunctionDef]]:
    for node in body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            yield prefix + node.name, node
            yield from _functions(node.body, f"{prefix}{node.name}.")
        elif isinstance(node, ast.ClassDef):
            yield from _functions(node.body, f"{prefix}{node.name}.")
        elif isinstance(node, (ast.If, ast.Try, ast.With)):
            yield from _functions([*ast.iter_child_nodes(node)], prefix)  # type: ignore[list-item]


def long_functions(root: Path, packages: tuple[str, ...] = PACKAGES) -> dict[str, int]:
    """`path::Class.function` → its length in lines, for every function longer than MAX_LINES."""
    found: dict[str, int] = {}
    for path in modules(root, packages).values():
        for qualname, node in _functions(ast.parse(path.read_text(encoding="utf-8")).body, ""):
            lines = (node.end_lineno or node.lineno) - node.lineno + 1
            if lines > MAX_LINES:
                found[f"{path.relative_to(root).as_posix()}::{qualname}"] = lines
    return found


def drawn_hierarchy(doc: str) -> dict[str, str]:
    """class → parent, as the tree in a docstring's ``` block draws it (`├── Name`, `│   └── Name`); the
    root's parent is ""."""
    tree = doc.split("```")[1] if doc.count("```") >= 2 else ""
    parents: dict[str, str] = {}
    path: list[str] = []
    for line in tree.splitlines():
        match = re.match(r"^([│ ]*)(?:[├└]── )?([A-Z]\w+)", line)
        if match:
            depth = len(match.group(1)) // 4 + (1 if "──" in line else 0)
            path[depth:] = [match.group(2)]
            parents[match.group(2)] = path[depth - 1] if depth else ""
    return parents


def exception_classes(root: Path, packages: tuple[str, ...]) -> dict[str, str]:
    """`path::Class` of every exception class defined in the packages (by name: ...Error, or a base that
    is one)."""
    found = {}
    for path in modules(root, packages).values():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in (n for n in ast.walk(tree) if isinstance(n, ast.ClassDef)):
            bases = [ast.unparse(b) for b in node.bases]
            if any(re.search(r"(Error|Exception|Cancelled)$", b) for b in bases):
                found[f"{path.relative_to(root).as_posix()}::{node.name}"] = ", ".join(bases)
    return found


# -- the tests -------------------------------------------------------------------------------------------


def test_no_function_is_longer_than_60_lines() -> None:
    long = long_functions(ROOT)
    assert not long, f"split these (at most {MAX_LINES} lines a function): {long}"


def test_no_import_cycle() -> None:
    cycles = [sorted(cycle) for cycle in import_cycles(ROOT)]
    assert not cycles, f"these modules import each other (maybe from inside a function): {cycles}"


def test_the_checks_see_a_hidden_cycle_and_a_long_method(tmp_path: Path) -> None:
    """The checks themselves: a cycle through an import inside a function, a TYPE_CHECKING import that is
    not one, and a method one line too long."""
    pkg = tmp_path / "pkg"
    (pkg / "sub").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "sub" / "__init__.py").write_text("")
    (pkg / "a.py").write_text("from pkg.sub import b\n")
    (pkg / "sub" / "b.py").write_text("def f():\n    from .. import a\n    return a\n")
    (pkg / "c.py").write_text("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from pkg import a\n")
    (pkg / "d.py").write_text("import pkg.c\n")
    body = "".join(f"        x{i} = {i}\n" for i in range(MAX_LINES))  # with its `def` line: one too many
    (pkg / "e.py").write_text(
        f"class K:\n    def short(self):\n        return 1\n\n    def long(self):\n{body}"
    )
    assert import_cycles(tmp_path, ("pkg",)) == [frozenset({"pkg.a", "pkg.sub.b"})]
    assert long_functions(tmp_path, ("pkg",)) == {"pkg/e.py::K.long": MAX_LINES + 1}


def test_the_documents_side_raises_errors_from_one_hierarchy_drawn_as_it_is() -> None:
    """vectorstore/errors.py holds every error the documents side raises on purpose, and its docstring's
    tree is the real one: each class under its first base, every class drawn."""
    outside = {
        name: bases
        for name, bases in exception_classes(ROOT, ("vectorstore",)).items()
        if not name.startswith("vectorstore/errors.py::")
    }
    # office.py's row counter stops a sheet's walk and becomes a LoadError before it leaves the parser
    assert outside == {"vectorstore/formats/office.py::TooManyRows": "ValueError"}
    defined = {
        name: cls
        for name, cls in inspect.getmembers(vectorstore.errors, inspect.isclass)
        if cls.__module__ == "vectorstore.errors"
    }
    actual = {
        name: (cls.__bases__[0].__name__ if cls.__bases__[0] is not Exception else "")
        for name, cls in defined.items()
    }
    assert drawn_hierarchy(vectorstore.errors.__doc__ or "") == actual
