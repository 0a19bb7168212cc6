"""The wrapper's go.mod is what generate_gomod.py makes from the pinned release's go.mod."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

from container_maker_testcluster.build import Versions
from container_maker_testcluster.paths import cluster_source_dir


def load_generator():  # type: ignore[no-untyped-def]
    path = cluster_source_dir() / "kube" / "generate_gomod.py"
    spec = importlib.util.spec_from_file_location("generate_gomod", path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def block(text: str, keyword: str) -> list[str]:
    match = re.search(rf"^{keyword} \(\n(.*?)^\)", text, re.MULTILINE | re.DOTALL)
    assert match, f"no {keyword} block"
    return [line.strip() for line in match.group(1).splitlines() if line.strip()]


def test_replace_list_is_generated_from_the_pinned_release() -> None:
    generator = load_generator()
    versions = Versions.load()
    upstream = generator.kubernetes_gomod(versions.kubernetes, generator.go_env())
    committed = (cluster_source_dir() / "kube" / "go.mod").read_text()

    expected = block(generator.render(versions.kubernetes, upstream), "replace")
    assert block(committed, "replace") == expected
    staging = f"v0.{versions.kubernetes.removeprefix('v1.')}"
    assert all(line.endswith(staging) for line in expected)
    # Every staging module of the release is replaced, none is forgotten.
    assert len(expected) == len(re.findall(r"=> \./staging/", upstream))
    assert f"k8s.io/kubernetes {versions.kubernetes}" in committed


def test_go_sum_is_committed() -> None:
    go_sum = Path(cluster_source_dir() / "kube" / "go.sum").read_text()
    assert "k8s.io/kubernetes " in go_sum
