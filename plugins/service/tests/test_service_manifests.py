"""The Service manifest (pure): type per level, ports, node ports, owner, selector."""

from __future__ import annotations

from typing import Any

import pytest

from container_maker.context import BuildContext
from container_maker.models import ContainerSpec, ExposureLevel, ObjectRef, PublishInformation
from container_maker.settings import Settings
from container_maker.testing import build_context, container_spec
from container_maker_service.manifests import build_service, service_type

CONTAINER_ID = "7d444840-9dc0-11d1-b245-5ffdce74fad2"
OWNER = ObjectRef(kind="pod", namespace="net", name="web", uid="pod-uid")


def make(
    level: ExposureLevel, owner: ObjectRef | None = OWNER, settings: Settings | None = None
) -> tuple[ContainerSpec, BuildContext]:
    node_port = 30080 if level >= ExposureLevel.CLUSTER_EXTERNAL else None
    spec = container_spec(
        image_name="nginx",
        exposure_level=int(level),
        publish_information=(
            PublishInformation(publish_port=80, target_port=8080, node_port=node_port),
            PublishInformation(publish_port=53, target_port=5353, protocol="UDP"),
        ),
    )
    # Node ports are given above: only a server that allows them accepts the spec.
    settings = settings or Settings(allow_node_ports=True)
    return spec, build_context(spec, settings, container_id=CONTAINER_ID, owner=owner)


@pytest.mark.parametrize(
    ("level", "kind"),
    [
        (ExposureLevel.CLUSTER_LOCAL, "ClusterIP"),
        (ExposureLevel.CLUSTER_EXTERNAL, "LoadBalancer"),
        (ExposureLevel.EXPOSED, "LoadBalancer"),
    ],
)
def test_type_per_level(level: ExposureLevel, kind: str) -> None:
    assert service_type(level) == kind
    spec, context = make(level)
    assert build_service(spec, context)["spec"]["type"] == kind


def test_ports_and_node_ports() -> None:
    spec, context = make(ExposureLevel.CLUSTER_EXTERNAL)
    ports: list[dict[str, Any]] = build_service(spec, context)["spec"]["ports"]
    assert ports == [
        {"name": "tcp-80", "port": 80, "targetPort": 8080, "protocol": "TCP", "nodePort": 30080},
        {"name": "udp-53", "port": 53, "targetPort": 5353, "protocol": "UDP"},
    ]


@pytest.mark.parametrize("allocate", [False, True])
def test_load_balancers_get_node_ports_only_when_configured(allocate: bool) -> None:
    settings = Settings(allow_node_ports=True, load_balancer_node_ports=allocate)
    spec, context = make(ExposureLevel.CLUSTER_EXTERNAL, settings=settings)
    assert build_service(spec, context)["spec"]["allocateLoadBalancerNodePorts"] is allocate
    spec, context = make(ExposureLevel.CLUSTER_LOCAL, settings=settings)
    assert "allocateLoadBalancerNodePorts" not in build_service(spec, context)["spec"]


def test_selects_only_its_pod_and_is_owned_by_it() -> None:
    spec, context = make(ExposureLevel.CLUSTER_LOCAL)
    service = build_service(spec, context)
    assert service["metadata"]["name"] == "web-svc"
    assert service["spec"]["selector"] == {
        "app.kubernetes.io/managed-by": "container-maker",
        "container-maker.io/id": CONTAINER_ID,
    }
    assert service["metadata"]["ownerReferences"] == [
        {"apiVersion": "v1", "kind": "Pod", "name": "web", "uid": "pod-uid"}
    ]
    assert service["metadata"]["labels"]["container-maker.io/id"] == CONTAINER_ID


def test_needs_the_owner() -> None:
    spec, context = make(ExposureLevel.CLUSTER_LOCAL, owner=None)
    with pytest.raises(ValueError, match="owned"):
        build_service(spec, context)
