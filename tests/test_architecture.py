"""The layers stay honest: imports go down the layer order; numba, matplotlib and printing each
live in one subpackage (../shared/STYLE.md, "The module map").

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

#: The subpackages (and top-level modules) in the order a user writes a script, lowest first.
LAYERS = (
    "version",
    "version",
    "units",
    "errors",
    "core",
    "gulf",
    "quality",
    "control",
    "plots",
    "cli",
    "__main__",
)

#: The module order, lowest first: a module may import only modules above it in this list.
#: Modules of one layer stay together, in the order of LAYERS. Names are relative to bbw_bay;
#: a package's ``__init__`` is named by the package.
ORDER = (
    "version",
    "units",
    "errors",
    "core",
    "core.kernels",
    "core.kernels.transport",
    "core.kernels.shallow_water",
    "core.reference",
    "core.inputs",
    "core.schema",
    "core.config",
    "core.work",
    "core.grid",
    "core.potential",
    "core.currents",
    "core.flow",
    "core.barotropic",
    "core.sources",
    "core.open_boundary",
    "core.moving_volumes",
    "core.solver",
    "core.steady",
    "core.output",
    "core.shallow_water",
    "core.checkpoint",
    "core.spinup",
    "core.simulation",
    "core.model",
    "core.verification",
    "gulf",
    "gulf.data",
    "gulf.coastline",
    "gulf.geodata",
    "gulf.nests",
    "gulf.circulation",
    "gulf.tides",
    "gulf.tide_stations",
    "gulf.loads",
    "gulf.assemble",
    "quality",
    "quality.standards",
    "quality.zones",
    "quality.evaluate",
    "quality.observations",
    "quality.skill",
    "quality.validation",
    "quality.selectors",
    "quality.receptors",
    "control",
    "control.response",
    "control.apportion",
    "control.capacity",
    "control.capacity_report",
    "control.capacity_run",
    "control.evaluation_response",
    "control.capacity_milp",
    "control.capacity_evaluation",
    "control.calibration",
    "control.calibration_output",
    "control.executors",
    "control.scenario_spec",
    "control.scenario_ops",
    "control.scenario_compare",
    "control.scenarios",
    "control.ensemble_spec",
    "control.ensembles",
    "control.capacity_ensemble",
    "plots",
    "plots.common",
    "plots.overlays",
    "plots.maps",
    "plots.series",
    "plots.charts",
    "plots.validation",
    "plots.files",
    "cli",
    "cli.common",
    "cli.progress",
    "cli.reports",
    "cli.run_commands",
    "cli.control_commands",
    "cli.scenario_commands",
    "cli.observation_commands",
    "cli.main",
    "__main__",
)

#: Upward imports allowed on purpose. Empty, and it stays empty: a convenience constructor that
#: needs a higher layer is registered by that layer (see `bbw_bay.core.grid.register_builder`).
PENDING_UPWARD: dict[tuple[str, str], str] = {}

#: Subpackages allowed to import each third-party package (any other importer is an error).
ONLY_IN = {"numba": "core.kernels", "matplotlib": "plots"}

#: The most lines a module may have (issue #12: "no module over about 600 lines").
MAX_LINES = 600


@dataclass(frozen=True)
class Import:
    module: str  # importing module, relative to bbw_bay ("core.grid")
    target: str  # imported name: "bbw_bay.core.grid", "numba", "matplotlib.pyplot", ...
    line: int
    lazy: bool  # inside a function body (runs at call time, not at import)
    relative: bool = False


def _module_of(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def module_files() -> dict[str, Path]:
    """{module name relative to bbw_bay: file}; the facade ``bbw_bay/__init__`` is named ""."""
    return {_module_of(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def _exists(dotted: str) -> bool:
    rel = dotted.removeprefix("bbw_bay").lstrip(".").replace(".", "/")
    return (PACKAGE / f"{rel}.py").exists() or (PACKAGE / rel / "__init__.py").exists()


def _resolve_from(node: ast.ImportFrom) -> list[str]:
    if node.level:
        return [f"bbw_bay.{node.module or ''}".rstrip(".")]
    module = node.module or ""
    if module == "bbw_bay" or module.startswith("bbw_bay."):
        # `from bbw_bay.core import grid` imports the module bbw_bay.core.grid
        return [
            f"{module}.{alias.name}" if _exists(f"{module}.{alias.name}") else module
            for alias in node.names
        ]
    return [module]


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


def collect(module: str, path: Path) -> _Collector:
    collector = _Collector(module)
    collector.visit(ast.parse(path.read_text(encoding="utf-8")))
    return collector


@pytest.fixture(scope="module")
def scanned() -> dict[str, _Collector]:
    return {name: collect(name, path) for name, path in module_files().items()}


def _target_module(target: str) -> str | None:
    """The bbw_bay module an import names, relative to bbw_bay ("" for the facade)."""
    if target != "bbw_bay" and not target.startswith("bbw_bay."):
        return None
    parts = target.split(".")[1:]
    while parts and not _exists("bbw_bay." + ".".join(parts)):
        parts.pop()  # `import bbw_bay.core.grid.Grid`-like names end at the module
    return ".".join(parts)


def _in(module: str, package: str) -> bool:
    return module == package or module.startswith(package + ".")


def upward_imports(scanned) -> dict[tuple[str, str], list[Import]]:
    """(importer, imported) -> imports of a bbw_bay module not above the importer in ORDER.

    A package's ``__init__`` may import its own modules (it re-exports them); the facade
    ``bbw_bay/__init__`` is the public API and sits above everything."""
    rank = {name: k for k, name in enumerate(ORDER)}
    found: dict[tuple[str, str], list[Import]] = {}
    for name, collector in scanned.items():
        if not name:
            continue
        for imp in collector.imports:
            target = _target_module(imp.target)
            if target is None or _in(target, name) and target != name:
                continue
            if target == "" or rank.get(target, -1) >= rank.get(name, -1):
                found.setdefault((name, target), []).append(imp)
    return found


def test_every_module_has_a_place_in_the_layer_order():
    unplaced = sorted(set(module_files()) - set(ORDER) - {""})
    assert not unplaced, (
        f"module(s) {unplaced} are not in tests/test_architecture.py ORDER: add each below "
        "every bbw_bay module it imports and above every module that imports it"
    )


def test_order_lists_only_modules_that_exist():
    assert not sorted(set(ORDER) - set(module_files())), "remove deleted modules from ORDER"


def test_layers_are_contiguous_and_in_script_order():
    layer_of = [LAYERS.index(name.split(".")[0]) for name in ORDER]
    assert layer_of == sorted(layer_of), "ORDER must keep each layer's modules together"
    assert set(LAYERS) == {name.split(".")[0] for name in ORDER}


def test_imports_go_down_the_layer_order(scanned):
    new = {
        edge: imps for edge, imps in upward_imports(scanned).items() if edge not in PENDING_UPWARD
    }
    lines = [
        f"{a}:{imp.line} imports {b or 'bbw_bay (the facade)'}"
        f"{' (lazily, inside a function)' if imp.lazy else ''}, which is not above {a} in ORDER"
        for (a, b), imps in sorted(new.items())
        for imp in imps
    ]
    assert not lines, "\n".join(lines)


def test_no_upward_import_is_allowed():
    assert PENDING_UPWARD == {}


def test_imports_inside_the_package_are_absolute(scanned):
    relative = [f"{i.module}:{i.line}" for c in scanned.values() for i in c.imports if i.relative]
    assert not relative, relative


@pytest.mark.parametrize("package", sorted(ONLY_IN))
def test_third_party_package_is_imported_in_one_subpackage_only(scanned, package):
    importers = {
        f"{imp.module}:{imp.line}"
        for collector in scanned.values()
        for imp in collector.imports
        if imp.target.split(".")[0] == package and not _in(imp.module, ONLY_IN[package])
    }
    assert not importers, f"{package} imported outside {ONLY_IN[package]}: {sorted(importers)}"


def test_matplotlib_is_imported_lazily_inside_functions(scanned):
    plot_imports = [
        imp
        for name, c in scanned.items()
        if _in(name, "plots")
        for imp in c.imports
        if imp.target.split(".")[0] == "matplotlib"
    ]
    eager = [f"{imp.module}:{imp.line}" for imp in plot_imports if not imp.lazy]
    assert plot_imports and not eager, eager


def test_numba_is_imported_by_kernels(scanned):
    # the rule above would pass vacuously if the kernels stopped using numba under this name
    assert any(
        imp.target.split(".")[0] == "numba" for imp in scanned["core.kernels.transport"].imports
    )


def test_only_the_cli_prints_or_configures_logging(scanned):
    printing = {n: c.prints for n, c in scanned.items() if c.prints and not _in(n, "cli")}
    setup = {
        n: c.logging_setup for n, c in scanned.items() if c.logging_setup and not _in(n, "cli")
    }
    assert not printing, f"print()/sys.stdout.write outside cli/ (line numbers): {printing}"
    assert not setup, f"logging.basicConfig outside cli/: {setup}"
    assert any(c.prints for n, c in scanned.items() if _in(n, "cli"))  # the collector sees print


def test_no_module_is_longer_than_the_limit():
    long = {
        name or "__init__": n
        for name, path in module_files().items()
        if (n := len(path.read_text(encoding="utf-8").splitlines())) > MAX_LINES
    }
    assert not long, f"modules over {MAX_LINES} lines (split them): {long}"


def test_collector_sees_lazy_dunder_and_package_imports():
    # the walker itself: a lazy import, an __import__("...") call and `from bbw_bay.core import x`
    source = (
        "from bbw_bay.core import grid\n"
        "from bbw_bay import units\n"
        "def f():\n"
        "    import numba\n"
        "    return __import__('matplotlib')\n"
    )
    collector = _Collector("demo")
    collector.visit(ast.parse(source))
    got = {(i.target, i.lazy) for i in collector.imports}
    assert got == {
        ("bbw_bay.core.grid", False),
        ("bbw_bay.units", False),
        ("numba", True),
        ("matplotlib", True),
    }


def test_upward_import_is_caught():
    # a core module importing the gulf, lazily, is reported
    collector = _Collector("core.grid")
    collector.visit(ast.parse("def f():\n    from bbw_bay.gulf import geodata\n"))
    found = upward_imports({"core.grid": collector})
    assert ("core.grid", "gulf.geodata") in found
