"""Generate the Python code of the API from ``protos/`` into ``container_maker._proto``.

    uv run python scripts/generate_protos.py           # regenerate the committed modules
    uv run python scripts/generate_protos.py --check   # exit 1 if they differ from a fresh run

This is the one way the generated modules are made. It runs ``grpc_tools.protoc`` at the
version pinned in the workspace's ``pyproject.toml`` (dev group), so the output is the same on
every machine; a test runs ``--check`` so that the committed code cannot drift from the
``.proto`` files.

protoc writes imports as the ``.proto`` import paths say (``from containermaker import
types_pb2``); the generated modules live in the private package ``container_maker._proto``
instead, so those imports are rewritten to ``from container_maker._proto import ...``. The
descriptors keep their natural file names (``containermaker/types.proto``), which is what
server reflection shows to clients.
"""

from __future__ import annotations

import argparse
import filecmp
import importlib.metadata
import re
import sys
import tempfile
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PROTO_ROOT = ROOT / "protos"
PROTO_PACKAGE = "containermaker"  # the directory under protos/ (and the proto package)
TARGET = ROOT / "core" / "src" / "container_maker" / "_proto"
PYTHON_PACKAGE = "container_maker._proto"

INIT = '''"""Generated gRPC and protobuf modules of the Container Maker API (private).

Made by ``scripts/generate_protos.py`` from ``protos/``; do not edit. Import the API through
:mod:`container_maker.api` instead of from here.
"""
'''


def pinned_tools_version() -> str:
    """The grpcio-tools version pinned (``==``) in the workspace's dev dependency group."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    for requirement in project["dependency-groups"]["dev"]:
        match = re.fullmatch(r"grpcio-tools\s*==\s*([\w.]+)", requirement)
        if match:
            return match.group(1)
    raise SystemExit("pyproject.toml pins no grpcio-tools==X in [dependency-groups] dev")


def generate(out_dir: Path) -> list[Path]:
    """Write the generated modules into ``out_dir``; return the files written."""
    from grpc_tools import protoc  # a dev dependency: only needed to generate

    pinned = pinned_tools_version()
    installed = importlib.metadata.version("grpcio-tools")
    if installed != pinned:
        raise SystemExit(
            f"grpcio-tools {installed} is installed but {pinned} is pinned: run `uv sync`"
        )
    protos = sorted((PROTO_ROOT / PROTO_PACKAGE).glob("*.proto"))
    if not protos:
        raise SystemExit(f"no .proto files in {PROTO_ROOT / PROTO_PACKAGE}")
    with tempfile.TemporaryDirectory() as raw:
        include = Path(protoc.__file__).parent / "_proto"  # google/protobuf/*.proto
        args = [
            "grpc_tools.protoc",
            f"-I{PROTO_ROOT}",
            f"-I{include}",
            f"--python_out={raw}",
            f"--pyi_out={raw}",
            f"--grpc_python_out={raw}",
            *(str(p.relative_to(PROTO_ROOT)) for p in protos),
        ]
        if protoc.main(args) != 0:
            raise SystemExit("protoc failed (see above)")
        out_dir.mkdir(parents=True, exist_ok=True)
        written = [out_dir / "__init__.py"]
        written[0].write_text(INIT)
        for source in sorted((Path(raw) / PROTO_PACKAGE).iterdir()):
            text = source.read_text()
            text = re.sub(
                rf"^from {PROTO_PACKAGE} import ",
                f"from {PYTHON_PACKAGE} import ",
                text,
                flags=re.MULTILINE,
            )
            target = out_dir / source.name
            target.write_text(text)
            written.append(target)
    return written


def check(target: Path) -> int:
    """0 when the modules in ``target`` equal a fresh generation, else 1 (and say which differ)."""
    with tempfile.TemporaryDirectory() as fresh_dir:
        fresh = {p.name for p in generate(Path(fresh_dir))}
        committed = {p.name for p in target.iterdir() if p.is_file()} if target.is_dir() else set()
        differ = sorted(
            name
            for name in fresh | committed
            if name not in fresh
            or name not in committed
            or not filecmp.cmp(Path(fresh_dir) / name, target / name, shallow=False)
        )
    if differ:
        print(
            f"generated code in {target} is stale or edited: {differ}; "
            "run `uv run python scripts/generate_protos.py`",
            file=sys.stderr,
        )
        return 1
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="compare instead of writing")
    parser.add_argument(
        "--target", type=Path, default=TARGET, help="the package directory to compare (--check)"
    )
    args = parser.parse_args()
    if args.check:
        return check(args.target)
    if TARGET.is_dir():
        for stale in TARGET.iterdir():
            if stale.is_file():
                stale.unlink()
    for path in generate(TARGET):
        print(path.relative_to(ROOT))
    return 0


if __name__ == "__main__":
    sys.exit(main())
