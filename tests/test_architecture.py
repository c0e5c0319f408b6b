"""The layers stay honest: imports go down the module order; numba, matplotlib and printing
each live in one module (STYLE.md, "A starting module map").

Every import counts, also the lazy ones inside functions and ``__import__("...")`` calls: a lazy
import is still a dependency, it only moves the cost. The package is read with `ast`, never
imported, so the test is fast and sees code that a test run would not execute.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "bbw_bay"

#: The layer order, lowest first: a module may import only modules above it in this list. It is
#: STYLE.md's map (units ... cli) with the modules written since placed where their imports put
#: them: `reference` (NumPy twins of the kernels) beside `kernels`, `gulf` (grid from
#: bathymetry) after `grid`, `executors` (no bbw_bay imports) before `scenarios`, and
#: `response`, `capacity`, `ensembles` as issue #5 placed them.
ORDER = (
    "units",
    "kernels",
    "reference",
    "config",
    "forcing",
    "grid",
    "gulf",
    "flow",
    "circulation",
    "tides",
    "currents",
    "sources",
    "loads",
    "solver",
    "steady",
    "output",
    "model",
    "standards",
    "evaluate",
    "assemble",
    "response",
    "capacity",
    "executors",
    "scenarios",
    "ensembles",
    "plots",
    "verification",
    "cli",
)

#: Upward imports allowed on purpose: the public convenience constructors the issues name
#: (`bb.Grid.beibu`, `bb.Flow.from_dataset`) delegate lazily to the module that builds them, so a
#: user finds them on the class. Nothing else may import upward. The list may only shrink:
#: `test_pending_upward_imports_still_exist` fails when an entry is no longer needed.
PENDING_UPWARD = {
    ("grid", "gulf"): "Grid.beibu / Grid.from_bathymetry classmethods import gulf lazily",
    ("flow", "currents"): "Flow.from_dataset imports currents lazily",
}

#: Modules allowed to import each third-party package (any other importer is an error).
ONLY_IN = {"numba": {"kernels"}, "matplotlib": {"plots"}}


@dataclass(frozen=True)
class Import:
    module: str  # importing module (bbw_bay.<module>)
    target: str  # imported name: "bbw_bay.grid", "numba", "matplotlib.pyplot", ...
    line: int
    lazy: bool  # inside a function body (runs at call time, not at import)
    relative: bool = False


def module_names() -> list[str]:
    return sorted(p.stem for p in PACKAGE.glob("*.py") if p.stem != "__init__")


def _resolve_from(node: ast.ImportFrom) -> list[str]:
    if node.level:
        return [f"bbw_bay.{node.module or ''}".rstrip(".")]
    if node.module == "bbw_bay":  # from bbw_bay import kernels / __version__
        return [
            f"bbw_bay.{alias.name}" if (PACKAGE / f"{alias.name}.py").exists() else "bbw_bay"
            for alias in node.names
        ]
    return [node.module or ""]


class _Collector(ast.NodeVisitor):
    def __init__(self, module: str) -> None:
        self.module = module
        self.depth = 0
        self.imports: list[Import] = []
        self.prints: list[int] = []
        self.logging_setup: list[int] = []

    def _function(self, node) -> None:
        self.depth += 1
        self.generic_visit(node)
        self.depth -= 1

    visit_FunctionDef = visit_AsyncFunctionDef = visit_Lambda = _function

    def _add(self, target: str, node, relative: bool = False) -> None:
        self.imports.append(Import(self.module, target, node.lineno, self.depth > 0, relative))

    def visit_Import(self, node: ast.Import) -> None:
        for alias in node.names:
            self._add(alias.name, node)

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        for target in _resolve_from(node):
            self._add(target, node, relative=node.level > 0)

    def visit_Call(self, node: ast.Call) -> None:
        func = node.func
        name = func.id if isinstance(func, ast.Name) else getattr(func, "attr", "")
        first = node.args[0] if node.args else None
        if name in ("__import__", "import_module") and isinstance(first, ast.Constant):
            self._add(str(first.value), node)
        if isinstance(func, ast.Name) and func.id == "print":
            self.prints.append(node.lineno)
        if (
            isinstance(func, ast.Attribute)
            and func.attr == "write"
            and isinstance(func.value, ast.Attribute)
            and func.value.attr in ("stdout", "stderr")
        ):
            self.prints.append(node.lineno)
        if isinstance(func, ast.Attribute) and func.attr == "basicConfig":
            self.logging_setup.append(node.lineno)
        self.generic_visit(node)


def collect(module: str) -> _Collector:
    collector = _Collector(module)
    collector.visit(ast.parse((PACKAGE / f"{module}.py").read_text(encoding="utf-8")))
    return collector


@pytest.fixture(scope="module")
def scanned() -> dict[str, _Collector]:
    return {name: collect(name) for name in module_names()}


def upward_imports(scanned) -> dict[tuple[str, str], list[Import]]:
    """(importer, imported) -> imports of a bbw_bay module at or below the importer's layer."""
    rank = {name: k for k, name in enumerate(ORDER)}
    found: dict[tuple[str, str], list[Import]] = {}
    for name, collector in scanned.items():
        for imp in collector.imports:
            if not imp.target.startswith("bbw_bay."):
                continue
            target = imp.target.split(".")[1]
            if name in rank and target in rank and rank[target] >= rank[name]:
                found.setdefault((name, target), []).append(imp)
    return found


def test_every_module_has_a_place_in_the_layer_order():
    unplaced = sorted(set(module_names()) - set(ORDER))
    assert not unplaced, (
        f"module(s) {unplaced} are not in tests/test_architecture.py ORDER: add each below "
        "every bbw_bay module it imports and above every module that imports it"
    )


def test_imports_go_down_the_layer_order(scanned):
    new = {
        edge: imps for edge, imps in upward_imports(scanned).items() if edge not in PENDING_UPWARD
    }
    lines = [
        f"{a}.py:{imp.line} imports {b}{' (lazily, inside a function)' if imp.lazy else ''}, "
        f"which is not above {a} in ORDER"
        for (a, b), imps in sorted(new.items())
        for imp in imps
    ]
    assert not lines, "\n".join(lines)


def test_pending_upward_imports_still_exist(scanned):
    # keeps PENDING_UPWARD honest: a fixed entry must be deleted so it cannot come back
    existing = set(upward_imports(scanned))
    assert set(PENDING_UPWARD) <= existing, sorted(set(PENDING_UPWARD) - existing)


def test_imports_inside_the_package_are_absolute(scanned):
    relative = [
        f"{i.module}.py:{i.line}" for c in scanned.values() for i in c.imports if i.relative
    ]
    assert not relative, relative


@pytest.mark.parametrize("package", sorted(ONLY_IN))
def test_third_party_package_is_imported_in_one_module_only(scanned, package):
    importers = {
        f"{imp.module}.py:{imp.line}"
        for collector in scanned.values()
        for imp in collector.imports
        if imp.target.split(".")[0] == package and imp.module not in ONLY_IN[package]
    }
    assert not importers, f"{package} imported outside {ONLY_IN[package]}: {sorted(importers)}"


def test_matplotlib_is_imported_lazily_inside_functions(scanned):
    eager = [
        f"plots.py:{imp.line}"
        for imp in scanned["plots"].imports
        if imp.target.split(".")[0] == "matplotlib" and not imp.lazy
    ]
    assert scanned["plots"].imports and not eager, eager


def test_numba_is_imported_by_kernels(scanned):
    # the rule above would pass vacuously if the kernels stopped using numba under this name
    assert any(imp.target.split(".")[0] == "numba" for imp in scanned["kernels"].imports)


def test_only_the_cli_prints_or_configures_logging(scanned):
    printing = {name: c.prints for name, c in scanned.items() if c.prints and name != "cli"}
    setup = {
        name: c.logging_setup for name, c in scanned.items() if c.logging_setup and name != "cli"
    }
    assert not printing, f"print()/sys.stdout.write outside cli.py (line numbers): {printing}"
    assert not setup, f"logging.basicConfig outside cli.py: {setup}"
    assert scanned["cli"].prints  # the collector does see print() calls


def test_collector_sees_lazy_dunder_and_package_imports():
    # the walker itself: a lazy import, an __import__("...") call and `from bbw_bay import x`
    source = (
        "from bbw_bay import kernels, __version__\n"
        "def f():\n"
        "    import numba\n"
        "    return __import__('matplotlib')\n"
    )
    collector = _Collector("demo")
    collector.visit(ast.parse(source))
    got = {(i.target, i.lazy) for i in collector.imports}
    assert got == {
        ("bbw_bay.kernels", False),
        ("bbw_bay", False),
        ("numba", True),
        ("matplotlib", True),
    }
