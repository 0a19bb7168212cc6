"""Lint, types and layers of the core and plugin packages, run by the one test command."""

from __future__ import annotations

import ast
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PLUGIN_DIRS = sorted(p for p in (ROOT / "plugins").iterdir() if (p / "pyproject.toml").exists())
# Third-party distributions as examples (not workspace members): held to what plugins are.
EXAMPLE_DIRS = sorted(p for p in (ROOT / "examples").iterdir() if (p / "pyproject.toml").exists())
OUR_CODE = ["core", "plugins", "examples", "tests", "cluster", "bench", "scripts"]
PACKAGES = [
    "core/src",
    "cluster/src",
    *(str(p.relative_to(ROOT) / "src") for p in (*PLUGIN_DIRS, *EXAMPLE_DIRS)),
]


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, cwd=ROOT, capture_output=True, text=True, timeout=300)


def tool(name: str) -> str:
    path = shutil.which(name, path=str(Path(sys.executable).parent))
    assert path, f"{name} is not installed in the environment (uv sync --all-packages)"
    return path


def test_ruff_check() -> None:
    result = run(tool("ruff"), "check", *OUR_CODE)
    assert result.returncode == 0, result.stdout + result.stderr


def test_ruff_format() -> None:
    result = run(tool("ruff"), "format", "--check", *OUR_CODE)
    assert result.returncode == 0, result.stdout + result.stderr


def test_mypy_strict_on_our_packages() -> None:
    result = run(tool("mypy"), *PACKAGES)
    assert result.returncode == 0, result.stdout + result.stderr


def imported_top_levels(path: Path) -> set[str]:
    """Top-level package names imported by a module (relative imports excluded)."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names


def plugin_package(plugin_dir: Path) -> str:
    (package,) = [p.name for p in (plugin_dir / "src").iterdir() if p.is_dir()]
    return package


PLUGIN_PACKAGES = {plugin_package(p): p for p in PLUGIN_DIRS}
EXAMPLE_PACKAGES = {plugin_package(p): p for p in EXAMPLE_DIRS}


@pytest.mark.parametrize("package", sorted(PLUGIN_PACKAGES))
def test_plugins_import_only_core(package: str) -> None:
    """Layers: a plugin imports the core, never another plugin (in its code or its tests)."""
    plugin_dir = PLUGIN_PACKAGES[package]
    others = set(PLUGIN_PACKAGES) - {package}
    files = [*(plugin_dir / "src").rglob("*.py"), *(plugin_dir / "tests").rglob("*.py")]
    assert files
    for path in files:
        crossing = imported_top_levels(path) & others
        assert not crossing, f"{path.relative_to(ROOT)} imports other plugins: {crossing}"


def core_modules_imported(path: Path) -> set[str]:
    """The ``container_maker`` modules a module imports (``container_maker`` itself included;
    ``from container_maker import sdk`` counts as the SDK), wherever the import is."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.split(".")[0] == "container_maker")
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            if node.module == "container_maker":
                found.update(f"container_maker.{a.name}" for a in node.names)
            elif node.module.split(".")[0] == "container_maker":
                found.add(node.module)
    return found


@pytest.mark.parametrize("package", sorted({**PLUGIN_PACKAGES, **EXAMPLE_PACKAGES}))
def test_plugins_import_only_the_sdk(package: str) -> None:
    """Layers: a plugin's code imports from the core only its SDK (``container_maker.sdk``);
    the rest of the core is internal. (Its tests may use the testing kit and more.)"""
    found = {**PLUGIN_PACKAGES, **EXAMPLE_PACKAGES}
    for path in (found[package] / "src").rglob("*.py"):
        internal = core_modules_imported(path) - {"container_maker.sdk"}
        assert not internal, f"{path.relative_to(ROOT)} imports internals of the core: {internal}"


def test_the_sdk_check_sees_internal_imports(tmp_path: Path) -> None:
    module = tmp_path / "m.py"
    module.write_text(
        "from container_maker.sdk import Resource\nfrom container_maker import hookimpl\n"
        "def later():\n    import container_maker.manager\n"
    )
    assert core_modules_imported(module) == {
        "container_maker.sdk",
        "container_maker.hookimpl",
        "container_maker.manager",
    }


def test_core_imports_no_plugin() -> None:
    for path in (ROOT / "core" / "src").rglob("*.py"):
        crossing = imported_top_levels(path) & set(PLUGIN_PACKAGES)
        assert not crossing, f"{path.relative_to(ROOT)} imports plugins: {crossing}"


TEST_CLUSTER = "container_maker_testcluster"


def test_the_product_never_imports_the_test_cluster() -> None:
    """Layers: the test cluster sits above the product (its serve command runs core's), so
    neither core nor a plugin imports it, not even lazily inside a function."""
    roots = [ROOT / "core" / "src", *(p / "src" for p in (*PLUGIN_DIRS, *EXAMPLE_DIRS))]
    files = [path for root in roots for path in root.rglob("*.py")]
    assert len(files) > len(roots)
    for path in files:
        assert TEST_CLUSTER not in imported_top_levels(path), (
            f"{path.relative_to(ROOT)} imports the test cluster"
        )


def test_layer_check_catches_a_crossing(tmp_path: Path) -> None:
    """The check itself works: a module importing a plugin is seen."""
    module = tmp_path / "m.py"
    module.write_text(
        "import os\nfrom container_maker_pod.plugin import KIND\n\n"
        "def later():\n    import container_maker_testcluster.cluster\n"
    )
    assert {"container_maker_pod", TEST_CLUSTER} <= imported_top_levels(module)


def module_files(src_dirs: list[Path]) -> dict[str, Path]:
    """Every module under the given ``src`` directories, by dotted name (a package by its own)."""
    modules: dict[str, Path] = {}
    for src in src_dirs:
        for path in src.rglob("*.py"):
            parts = path.relative_to(src).with_suffix("").parts
            if parts[-1] == "__init__":
                parts = parts[:-1]
            modules[".".join(parts)] = path
    return modules


def imported_modules(name: str, path: Path, modules: set[str]) -> set[str]:
    """The modules of ``modules`` that module ``name`` imports anywhere in its file.

    Imports inside functions and under ``if TYPE_CHECKING:`` count as much as module-level ones:
    each says the module needs the other. ``from package import name`` depends on the submodule
    ``package.name`` when there is one, else on the package.
    """
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                # `from . import x` is relative to the package, each further dot one level up.
                parts = package.split(".")
                parts = parts[: len(parts) - node.level + 1]
                module = ".".join([*parts, *([node.module] if node.module else [])])
            else:
                module = node.module or ""
            submodules = (f"{module}.{alias.name}" for alias in node.names)
            targets = [sub if sub in modules else module for sub in submodules]
        else:
            continue
        for target in targets:
            # `import a.b.c` naming no module of ours (an attribute path) depends on its parent.
            while target and target not in modules:
                target = target.rpartition(".")[0]
            if target and target != name:
                found.add(target)
    return found


def import_cycles(src_dirs: list[Path]) -> list[list[str]]:
    """Groups of modules that import each other (strongly connected components of size > 1)."""
    files = module_files(src_dirs)
    graph = {name: imported_modules(name, path, set(files)) for name, path in files.items()}
    # Tarjan's algorithm; the graph has a few hundred nodes, so recursion depth is no concern.
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for other in sorted(graph[node]):
            if other not in index:
                visit(other)
                low[node] = min(low[node], low[other])
            elif other in on_stack:
                low[node] = min(low[node], index[other])
        if low[node] == index[node]:
            component: list[str] = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return sorted(cycles)


def test_no_import_cycles() -> None:
    """Modules of the workspace's packages never import each other in a circle, not even lazily."""
    cycles = import_cycles([ROOT / src for src in PACKAGES])
    assert not cycles, "import cycles: " + "; ".join(" <-> ".join(c) for c in cycles)


def test_cycle_check_catches_every_kind_of_import(tmp_path: Path) -> None:
    """The check itself works: relative, function-level and TYPE_CHECKING imports close cycles."""
    package = tmp_path / "src" / "pkg"
    (package / "sub").mkdir(parents=True)
    (package / "__init__.py").write_text("from pkg.a import A\n")
    (package / "a.py").write_text("from . import b\nA = 1\n")
    (package / "b.py").write_text("def f():\n    from .sub.c import C\n")
    (package / "sub" / "__init__.py").write_text("")
    (package / "sub" / "c.py").write_text(
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from ..a import A\nC = 1\n"
    )
    (package / "d.py").write_text("import pkg.sub.c\nfrom pkg import a\n")
    assert import_cycles([tmp_path / "src"]) == [["pkg.a", "pkg.b", "pkg.sub.c"]]
    (package / "sub" / "c.py").write_text("C = 1\n")
    assert import_cycles([tmp_path / "src"]) == []
