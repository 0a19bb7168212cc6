"""Where the cluster's sources, build cache and run directories are."""

from __future__ import annotations

import os
from pathlib import Path


def cluster_source_dir() -> Path:
    """The repository's ``cluster/`` directory (Go wrapper module, versions.toml, stages).

    The package is installed in editable mode from the workspace, so it sits two levels below
    it; ``CONTAINER_MAKER_CLUSTER_SRC`` overrides that for other layouts.
    """
    override = os.environ.get("CONTAINER_MAKER_CLUSTER_SRC")
    path = Path(override) if override else Path(__file__).resolve().parents[2]
    if not (path / "versions.toml").is_file():
        raise FileNotFoundError(
            f"{path} does not hold the cluster sources (versions.toml); set "
            "CONTAINER_MAKER_CLUSTER_SRC to the repository's cluster/ directory"
        )
    return path


def cache_dir() -> Path:
    """Build cache, outside the clone.

    ``$CONTAINER_MAKER_CACHE``, else ``~/.cache/container-maker``.
    """
    override = os.environ.get("CONTAINER_MAKER_CACHE")
    base = Path(override) if override else Path.home() / ".cache" / "container-maker"
    base.mkdir(parents=True, exist_ok=True)
    return base


def default_run_dir() -> Path:
    """Run directory of the cluster started by the command line (``up``/``down``/``env``)."""
    override = os.environ.get("CONTAINER_MAKER_CLUSTER_DIR")
    return Path(override) if override else Path("/tmp") / f"container-maker-cluster-{os.getuid()}"
