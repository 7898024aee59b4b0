"""The package's import graph: no cycle, no upward import, no private name taken across files.

The graph is read from the source (``ast``), not from ``sys.modules``: every ``import`` and
``from ... import`` statement counts as an edge, at module level or inside a function (a
function-level import hides a cycle, it does not remove it). Imports under ``if
TYPE_CHECKING:`` are not edges: they never run. The checks take a set of modules
(`check_modules`), so that they extend to ``benchmarks/`` by passing its modules too.
"""

from __future__ import annotations

import ast
import dataclasses
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path

import pytest

import signalinject

ROOT = Path(signalinject.__file__).parent
PACKAGE = "signalinject"

#: The core package's layers, lowest first: a module imports only from its own layer or a lower
#: one (and, within a layer, without a cycle). The base (``core``) knows no family; the families
#: know the base; the adapters know the families; the package's ``__init__`` re-exports them.
LAYERS: tuple[frozenset[str], ...] = (
    frozenset({"signalinject._native", "signalinject._backend", "signalinject._compile"}),
    frozenset({"signalinject._kernels", "signalinject.footprint"}),
    frozenset({"signalinject.core"}),
    frozenset({"signalinject.ranges", "signalinject.carriers"}),
    frozenset(
        {
            "signalinject.quantizer",
            "signalinject.image",
            "signalinject.image_noise",
            "signalinject.text",
            "signalinject.triggers",
            "signalinject.text_triggers",
        }
    ),
    frozenset({"signalinject.adapters", "signalinject.sklearn"}),
    frozenset({"signalinject"}),
    frozenset({"signalinject.benchmarks"}),  # every benchmark module (see `layer_of`)
    frozenset({"signalinject.__main__"}),
)


def module_name(path: Path, root: Path = ROOT) -> str:
    """The dotted name of the module at ``path`` under the package directory ``root``."""
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join([PACKAGE, *parts])


def package_modules(*, exclude: Iterable[str] = ("benchmarks",)) -> dict[str, Path]:
    """Every ``.py`` module of the package by dotted name, but those under ``exclude`` (folders
    relative to the package root)."""
    skipped = tuple(ROOT / e for e in exclude)
    return {
        module_name(p): p
        for p in sorted(ROOT.rglob("*.py"))
        if not any(p.is_relative_to(s) for s in skipped)
    }


def _is_type_checking(node: ast.If) -> bool:
    t = node.test
    return (isinstance(t, ast.Name) and t.id == "TYPE_CHECKING") or (
        isinstance(t, ast.Attribute) and t.attr == "TYPE_CHECKING"
    )


def _runtime_nodes(tree: ast.AST) -> Iterator[ast.AST]:
    """Every node of ``tree`` but the bodies of ``if TYPE_CHECKING:`` blocks."""
    stack = [tree]
    while stack:
        node = stack.pop()
        yield node
        if isinstance(node, ast.If) and _is_type_checking(node):
            stack.extend(node.orelse)
            continue
        stack.extend(ast.iter_child_nodes(node))


@dataclasses.dataclass(frozen=True)
class Use:
    """One use of another module of the package: ``line`` of ``module`` imports ``target``
    (a module), or the name ``name`` from it (``name`` None: the module itself)."""

    module: str
    line: int
    target: str
    name: str | None


def _resolve(module: str, is_package: bool, node: ast.ImportFrom) -> str:
    """The absolute module a ``from X import ...`` statement in ``module`` reads from."""
    if not node.level:
        return node.module or ""
    base = module.split(".")
    if not is_package:
        base = base[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def uses(module: str, path: Path, known: Iterable[str]) -> list[Use]:
    """The package modules (and names from them) that ``module`` imports or reads.

    ``known``: the dotted names that are modules (``from signalinject import image`` imports
    the module ``signalinject.image``, ``from signalinject.core import Compose`` the name
    ``Compose`` of ``signalinject.core``). ``alias._private`` of a module imported under
    ``alias`` counts as taking ``_private`` from it.
    """
    modules = set(known) | {"signalinject._native"}
    tree = ast.parse(path.read_text(), str(path))
    is_package = path.name == "__init__.py"
    out: list[Use] = []
    aliases: dict[str, str] = {}  # local name -> package module bound to it
    for node in _runtime_nodes(tree):
        if isinstance(node, ast.Import):
            for a in node.names:
                if a.name == PACKAGE or a.name.startswith(PACKAGE + "."):
                    out.append(Use(module, node.lineno, a.name, None))
                    aliases[a.asname or a.name] = a.name
        elif isinstance(node, ast.ImportFrom):
            src = _resolve(module, is_package, node)
            if src != PACKAGE and not src.startswith(PACKAGE + "."):
                continue
            for a in node.names:
                full = f"{src}.{a.name}"
                if full in modules:
                    out.append(Use(module, node.lineno, full, None))
                    aliases[a.asname or a.name] = full
                else:
                    out.append(Use(module, node.lineno, src, a.name))
    for node in _runtime_nodes(tree):
        if (
            isinstance(node, ast.Attribute)
            and isinstance(node.value, ast.Name)
            and node.value.id in aliases
            and node.attr.startswith("_")
            and not node.attr.startswith("__")
            and f"{aliases[node.value.id]}.{node.attr}" not in modules
        ):
            out.append(Use(module, node.lineno, aliases[node.value.id], node.attr))
    return out


def import_graph(modules: Mapping[str, Path]) -> dict[str, set[str]]:
    """The edges ``module -> imported package modules`` of ``modules`` (targets may lie outside
    ``modules``, e.g. the benchmarks imported by ``__main__``)."""
    known = set(modules)
    return {m: {u.target for u in uses(m, p, known) if u.target != m} for m, p in modules.items()}


def cycles(graph: Mapping[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    out: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return sorted(out)


def private_uses(modules: Mapping[str, Path]) -> list[Use]:
    """Every private name (one leading underscore, not a module) that a module of ``modules``
    takes from another module of the package."""
    known = set(modules)
    return [
        u
        for m, p in modules.items()
        for u in uses(m, p, known)
        if u.name is not None
        and u.name.startswith("_")
        and not u.name.startswith("__")
        and u.target != m
    ]


def layer_of(module: str) -> int:
    """The index in `LAYERS` of ``module`` (a benchmark module: the benchmarks' layer)."""
    key = "signalinject.benchmarks" if module.startswith("signalinject.benchmarks.") else module
    for i, layer in enumerate(LAYERS):
        if key in layer:
            return i
    raise KeyError(f"{module} is in no layer of LAYERS: add it to one")


def upward_imports(graph: Mapping[str, set[str]]) -> list[tuple[str, str]]:
    """The edges ``(a, b)`` where ``a`` imports ``b`` of a higher layer."""
    return sorted((a, b) for a, bs in graph.items() for b in bs if layer_of(b) > layer_of(a))


@dataclasses.dataclass(frozen=True)
class Report:
    """What `check_modules` found."""

    cycles: list[list[str]]
    private: list[Use]
    upward: list[tuple[str, str]]


def check_modules(modules: Mapping[str, Path]) -> Report:
    """Cycles, private names taken across modules, and upward imports among ``modules``."""
    graph = import_graph(modules)
    return Report(cycles(graph), private_uses(modules), upward_imports(graph))


CORE = package_modules()


def test_the_core_modules_are_found() -> None:
    assert {"signalinject", "signalinject.core", "signalinject.image", "signalinject.text"} <= set(
        CORE
    )
    assert not any(m.startswith("signalinject.benchmarks") for m in CORE)


def test_the_core_package_has_no_import_cycle() -> None:
    assert check_modules(CORE).cycles == []


def test_no_core_module_takes_a_private_name_of_another() -> None:
    assert [f"{u.module}:{u.line} takes {u.name} of {u.target}" for u in private_uses(CORE)] == []


def test_no_core_module_imports_upward() -> None:
    assert check_modules(CORE).upward == []


def test_the_base_knows_no_family() -> None:
    graph = import_graph(CORE)
    below = {"signalinject._backend", "signalinject._compile", "signalinject._kernels"}
    below |= {"signalinject.footprint"}
    assert graph["signalinject.core"] <= below | {"signalinject._native"}


# -- the checker's own tests: it finds what it must find ------------------------------------------
def _write(tmp: Path, files: Mapping[str, str]) -> dict[str, Path]:
    out = {}
    for rel, text in files.items():
        p = tmp / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text)
        out[module_name(p, tmp)] = p
    return out


def test_the_checker_sees_function_level_and_relative_imports(tmp_path: Path) -> None:
    mods = _write(
        tmp_path,
        {
            "__init__.py": "",
            "a.py": "def f():\n    from signalinject.b import g\n",
            "b.py": "from . import a\n",
            "c.py": (
                "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import signalinject.a\n"
            ),
        },
    )
    graph = import_graph(mods)
    assert graph["signalinject.a"] == {"signalinject.b"}
    assert graph["signalinject.b"] == {"signalinject.a"}
    assert graph["signalinject.c"] == set()  # TYPE_CHECKING: no edge
    assert cycles(graph) == [["signalinject.a", "signalinject.b"]]


def test_the_checker_sees_private_names(tmp_path: Path) -> None:
    mods = _write(
        tmp_path,
        {
            "__init__.py": "",
            "a.py": "_x = 1\n__version__ = '1'\n",
            "_b.py": "",
            "c.py": (
                "from signalinject.a import _x, __version__\n"
                "from signalinject import _b\n"  # a private module is no private name
                "from signalinject import a as m\n"
                "y = m._x\n"
            ),
        },
    )
    found = sorted((u.line, u.name) for u in private_uses(mods))
    assert found == [(1, "_x"), (4, "_x")]


@pytest.mark.parametrize(
    ("edge", "up"),
    [
        (("signalinject.core", "signalinject.image"), True),
        (("signalinject.image", "signalinject.core"), False),
        (("signalinject.benchmarks.grid", "signalinject.core"), False),
        (("signalinject.core", "signalinject.benchmarks.grid"), True),
    ],
)
def test_the_checker_sees_upward_imports(edge: tuple[str, str], up: bool) -> None:
    a, b = edge
    assert (upward_imports({a: {b}}) == [edge]) is up
