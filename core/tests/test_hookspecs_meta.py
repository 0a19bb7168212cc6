"""Meta-tests: every hook spec is documented, and tested somewhere (pure)."""

from __future__ import annotations

import inspect
import re
from pathlib import Path

import pytest

from container_maker import NAME, hookspecs

ROOT = Path(__file__).resolve().parents[2]
SPECS = {
    name: fn
    for name, fn in vars(hookspecs).items()
    if name.startswith("cm_") and inspect.isfunction(fn)
}
TEST_DIRS = [ROOT / "core" / "tests", ROOT / "tests", *sorted((ROOT / "plugins").glob("*/tests"))]


def test_specs_exist_and_carry_the_prefix() -> None:
    assert set(SPECS) == {
        "cm_register_resources",
        "cm_settings_model",
        "cm_preflight",
        "cm_pod_extras",
        "cm_save",
        "cm_authenticate",
        "cm_accepted_credentials",
        "cm_authorize",
    }
    for name, fn in vars(hookspecs).items():
        if inspect.isfunction(fn) and hasattr(fn, f"{NAME}_spec"):
            assert name.startswith("cm_"), name


@pytest.mark.parametrize("name", sorted(SPECS))
def test_every_spec_is_documented(name: str) -> None:
    fn = SPECS[name]
    doc = inspect.getdoc(fn) or ""
    assert "Called:" in doc, f"{name}: say when it is called"
    assert "Returns:" in doc, f"{name}: say what it returns"
    for parameter in inspect.signature(fn).parameters:
        assert re.search(rf"\b{parameter}:", doc), f"{name}: document parameter {parameter}"
    firstresult = getattr(fn, f"{NAME}_spec")["firstresult"]
    if firstresult:
        assert "first non-None result wins" in doc, name
    else:
        assert "collected" in doc, name


@pytest.mark.parametrize("name", sorted(SPECS))
def test_every_spec_is_tested(name: str) -> None:
    this = Path(__file__).resolve()
    for directory in TEST_DIRS:
        for path in directory.glob("test_*.py"):
            if path.resolve() != this and name in path.read_text():
                return
    pytest.fail(f"no test mentions {name}")


def test_only_the_facade_calls_hooks() -> None:
    sources = [*(ROOT / "core" / "src").rglob("*.py"), *(ROOT / "plugins").glob("*/src/**/*.py")]
    callers = sorted(
        str(p.relative_to(ROOT))
        for p in sources
        # pytest's own hooks (the testing kit's ``config.hook.pytest_...``) are not ours.
        if re.search(r"\.hook\b(?!\.pytest_)", p.read_text())
    )
    assert callers == ["core/src/container_maker/plugins.py"]
