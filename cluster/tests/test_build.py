"""The build step: cache hits, and a clear failure when the disk is too full to build."""

from __future__ import annotations

import shutil
from collections import namedtuple
from pathlib import Path

import pytest

from container_maker_testcluster import build


def test_second_call_reuses_the_cached_binaries() -> None:
    first = build.ensure_binaries()
    again = build.ensure_binaries()
    assert first == again
    assert first.kube.is_file() and first.kwok.is_file()
    assert (first.bin_dir / "kubectl").resolve() == first.kube.resolve()
    # Cached outside the clone, keyed by version.
    assert build.Versions.load().kubernetes in str(first.kube)
    assert not first.kube.is_relative_to(Path(__file__).resolve().parents[2])


def test_build_refuses_to_start_without_enough_free_disk(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    usage = namedtuple("usage", "total used free")
    monkeypatch.setattr(shutil, "disk_usage", lambda path: usage(10 * 2**30, 9 * 2**30, 2**30))
    with pytest.raises(build.BuildError, match=r"only 1\.0 GiB free .* needs 8 GiB"):
        build._check_disk(tmp_path)


def test_link_flags_stamp_the_pinned_release() -> None:
    versions = build.Versions.load()
    flags = build.link_flags(versions)
    assert f"k8s.io/component-base/version.gitVersion={versions.kubernetes}'" in flags
    major, minor = versions.kubernetes.removeprefix("v").split(".")[:2]
    assert f"version.gitMajor={major}'" in flags and f"version.gitMinor={minor}'" in flags
