"""The exposure chain: order and levels (pure)."""

from __future__ import annotations

import pytest

from container_maker.chain import (
    CONTAINER_KINDS,
    DELETED_KINDS,
    EXPOSURE_CHAIN,
    check_declarations,
    delete_order,
    kinds_for_level,
)
from container_maker.errors import InvalidConfiguration
from container_maker.models import ExposureLevel, ResourceKind
from container_maker.plugins import Hooks, create_plugin_manager


def test_chain_order() -> None:
    assert EXPOSURE_CHAIN == (
        "namespace",
        "networkpolicy",
        "status",
        "pod",
        "service",
        "ingress",
    )
    assert delete_order(EXPOSURE_CHAIN) == (
        "ingress",
        "service",
        "pod",
        "status",
        "networkpolicy",
        "namespace",
    )
    assert delete_order(("pod", "service")) == ("service", "pod")


def test_the_network_policy_is_deleted_with_a_container_but_not_part_of_its_view() -> None:
    assert CONTAINER_KINDS == ("status", "pod", "service", "ingress")
    assert DELETED_KINDS == ("networkpolicy", "status", "pod", "service", "ingress")


@pytest.mark.parametrize(
    ("level", "kinds"),
    [
        (ExposureLevel.INTERNAL, ("namespace", "networkpolicy", "status", "pod")),
        (ExposureLevel.CLUSTER_LOCAL, ("namespace", "networkpolicy", "status", "pod", "service")),
        (
            ExposureLevel.CLUSTER_EXTERNAL,
            ("namespace", "networkpolicy", "status", "pod", "service"),
        ),
        (
            ExposureLevel.EXPOSED,
            ("namespace", "networkpolicy", "status", "pod", "service", "ingress"),
        ),
    ],
)
def test_kinds_per_level_with_the_installed_plugins(
    level: ExposureLevel, kinds: tuple[str, ...]
) -> None:
    declared = Hooks(create_plugin_manager()).declared_kinds()
    assert kinds_for_level(level, declared) == kinds


def test_declarations_outside_the_chain_or_missing_essentials_are_refused() -> None:
    pod = ResourceKind(kind="pod", min_level=ExposureLevel.INTERNAL)
    namespace = ResourceKind(kind="namespace", min_level=ExposureLevel.INTERNAL)
    with pytest.raises(InvalidConfiguration, match="pod"):
        check_declarations({"namespace": namespace})
    with pytest.raises(InvalidConfiguration, match="volume"):
        check_declarations(
            {
                "namespace": namespace,
                "pod": pod,
                "volume": ResourceKind(kind="volume", min_level=ExposureLevel.INTERNAL),
            }
        )
    check_declarations({"namespace": namespace, "pod": pod})
