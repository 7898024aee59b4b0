"""The benchmarks' imports: no cycle, and no module imports one of a layer above its own.

Every import is read from the source with ``ast``, at the top of a module and inside its
functions alike (a function-level import is still a dependency). ``from signalinject.benchmarks
import stats`` is an import of ``stats``; a module imports itself only through ``__main__``
blocks, which are left out.

The layers, bottom to top (a module may import its own layer and those below):

0. ``base``: errors and files, the statistics, the trainer, the stdlib corpus, the shrunk
   Gaussian classifier;
1. ``user code``: loading a user's ``MODULE:FACTORY``;
2. ``registries``: the models' and data sets' registry, the signals' view, the results store;
3. ``entries``: the modules that register models and data sets (every name in
   ``registry.MODULES`` belongs here, a new one included, with no edit of this test), and the
   run settings;
4. ``engine``: the grid over processes, the reports;
5. ``runner``: the cell's stages;
6. ``commands``: scan, sweep, atlas, the figures, the performance benchmarks;
7. ``front``: ``show`` and the command line; 8. the packages' ``__init__``.

The registry imports the modules of ``MODULES`` by name when first read (as entry points are):
a plug-in above it by design, not an import this graph holds.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from signalinject.benchmarks import registry

PKG = "signalinject.benchmarks"
ROOT = Path(__file__).resolve().parent.parent / "src" / "signalinject" / "benchmarks"

LAYERS: list[set[str]] = [
    {
        "errors",
        "_files",
        "_layout",
        "_preprocess",
        "_stdlib_docs",
        "photo_digits",
        "progress",
        "stats",
        "train",
        "shrunk",
    },
    {"_user_code"},
    {"registry", "signals", "store"},
    {"settings", "poison"},  # and every module of registry.MODULES
    {"grid", "report"},
    {"runner"},
    {
        "scan",
        "sweep",
        "atlas",
        "coverage",
        "figures",
        "perf.throughput",
        "perf.trainspeed",
        "perf.art",
    },
    {"show", "cli"},
    {"", "perf"},  # signalinject.benchmarks and .perf themselves
]
ENTRIES = 3


def modules() -> dict[str, Path]:
    """Every module of the benchmarks by its name relative to the package (``""``: itself)."""
    out = {}
    for path in sorted(ROOT.rglob("*.py")):
        parts = path.relative_to(ROOT).with_suffix("").parts
        name = ".".join(parts).removesuffix("__init__").rstrip(".")
        out[name] = path
    return out


def _main_block(node: ast.AST) -> bool:
    return (
        isinstance(node, ast.If)
        and isinstance(node.test, ast.Compare)
        and isinstance(node.test.left, ast.Name)
        and node.test.left.id == "__name__"
    )


def imports(path: Path, known: set[str]) -> set[str]:
    """The benchmark modules ``path`` imports anywhere in it (``__main__`` blocks left out)."""
    tree = ast.parse(path.read_text())
    found: set[str] = set()
    skip = {id(n) for top in tree.body if _main_block(top) for n in ast.walk(top)}
    for node in ast.walk(tree):
        if id(node) in skip:
            continue
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            subs = [f"{node.module}.{a.name}" for a in node.names]
            names = [s for s in subs if s.removeprefix(f"{PKG}.") in known] or [node.module]
        for name in names:
            if name == PKG or name.startswith(f"{PKG}."):
                found.add(name.removeprefix(PKG).lstrip("."))
    return found & known


def graph() -> dict[str, set[str]]:
    mods = modules()
    return {name: imports(path, set(mods)) - {name} for name, path in mods.items()}


def layer_of() -> dict[str, int]:
    layers = [set(layer) for layer in LAYERS]
    layers[ENTRIES] |= {m.removeprefix(f"{PKG}.") for m in registry.MODULES if m.startswith(PKG)}
    return {m: i for i, layer in enumerate(layers) for m in layer}


def test_every_module_has_a_layer() -> None:
    missing = sorted(set(modules()) - set(layer_of()))
    assert not missing, f"give these modules a layer in LAYERS: {missing}"
    gone = sorted(set(layer_of()) - set(modules()))
    assert not gone, f"LAYERS names modules that do not exist: {gone}"


def test_no_upward_import() -> None:
    level = layer_of()
    upward = [
        f"{m} (layer {level[m]}) imports {d} (layer {level[d]})"
        for m, deps in graph().items()
        for d in sorted(deps)
        if level[d] > level[m]
    ]
    assert not upward, "\n".join(upward)


def test_no_cycle() -> None:
    g = graph()
    state: dict[str, int] = {}  # 1: on the path, 2: done
    path: list[str] = []

    def visit(m: str) -> None:
        state[m] = 1
        path.append(m)
        for d in sorted(g[m]):
            if state.get(d) == 1:
                cycle = [*path[path.index(d) :], d]
                pytest.fail("import cycle: " + " -> ".join(cycle))
            if d not in state:
                visit(d)
        path.pop()
        state[m] = 2

    for m in sorted(g):
        if m not in state:
            visit(m)


def test_the_reader_finds_function_level_imports_and_cycles(tmp_path: Path) -> None:
    """The checks themselves: a function-level import is an edge, and a cycle is found."""
    a = tmp_path / "a.py"
    a.write_text(f"def f():\n    from {PKG}.b import g\n    return g\n")
    b = tmp_path / "b.py"
    b.write_text(f"from {PKG} import a\n\nif __name__ == '__main__':\n    import {PKG}.c\n")
    known = {"a", "b", "c"}
    assert imports(a, known) == {"b"}
    assert imports(b, known) == {"a"}  # the __main__ block is not an import of the module
