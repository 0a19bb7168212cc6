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
OUR_CODE = ["core", "plugins", "tests", "cluster", "bench", "scripts"]
PACKAGES = ["core/src", "cluster/src", *(str(p.relative_to(ROOT) / "src") for p in PLUGIN_DIRS)]


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


@pytest.mark.parametrize("package", sorted(PLUGIN_PACKAGES))
def test_plugins_import_only_the_sdk(package: str) -> None:
    """Layers: a plugin's code imports from the core only its SDK (``container_maker.sdk``);
    the rest of the core is internal. (Its tests may use the testing kit and more.)"""
    for path in (PLUGIN_PACKAGES[package] / "src").rglob("*.py"):
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
    roots = [ROOT / "core" / "src", *(p / "src" for p in PLUGIN_DIRS)]
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
