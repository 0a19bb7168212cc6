"""Proto <-> model conversion (pure; the API's behaviour is tested through gRPC in tests/api)."""

from __future__ import annotations

from container_maker._proto import types_pb2 as pb
from container_maker.api import conversion
from container_maker.models import (
    AssociatedResource,
    Container,
    ContainerResources,
    DeleteOutcome,
    ExposureLevel,
    PortInformation,
    PublishedPort,
)


def test_proto3_presence_becomes_none() -> None:
    request = pb.CreateContainerRequest(
        image_name="nginx:1.27",
        container_name="web",
        network_name="demo",
        exposure_level=pb.EXPOSURE_LEVEL_CLUSTER_EXTERNAL,
        publish_information=[
            pb.PublishInformation(publish_port=80, target_port=8080),
            pb.PublishInformation(publish_port=81, target_port=81, protocol="udp", node_port=0),
        ],
        environment_variables={"A": "1"},
        resource_requirements=pb.ResourceRequirements(cpu_request="250m", memory_limit=""),
    )
    spec = conversion.spec_from_request(request)
    assert spec.exposure is ExposureLevel.CLUSTER_EXTERNAL
    first, second = spec.publish_information
    assert first.node_port is None and first.protocol == ""
    assert second.node_port == 0  # set to 0 is not "unset": validation will judge it
    assert second.protocol == "udp"
    assert spec.environment_variables == {"A": "1"}
    assert spec.resource_requirements is not None
    assert spec.resource_requirements.cpu_request == "250m"
    assert spec.resource_requirements.memory_limit == ""
    assert spec.resource_requirements.cpu_limit is None


def test_no_resource_requirements_and_unknown_enum_numbers_pass_through() -> None:
    request = pb.CreateContainerRequest(exposure_level=42)  # type: ignore[arg-type]
    spec = conversion.spec_from_request(request)
    assert spec.resource_requirements is None
    assert spec.exposure_level == 42


def test_container_response() -> None:
    pod = AssociatedResource(
        resource_name="web",
        resource_type="pod",
        associated_resources=(
            AssociatedResource(
                resource_name="web",
                resource_type="pod_container",
                container_resources=ContainerResources(cpu_request="100m"),
            ),
        ),
    )
    container = Container(
        container_id="id-1",
        container_name="web",
        container_type="service",
        container_ip="10.96.0.10",
        container_network="demo",
        exposure_level=ExposureLevel.CLUSTER_LOCAL,
        ports=(PortInformation(container_port=8080, protocol="TCP"),),
        associated_resources=(
            AssociatedResource(resource_name="web-svc", resource_type="service",
                               associated_resources=(pod,)),
        ),
        published_ports=(
            PublishedPort(publish_port=80, target_port=8080, url="tcp://web-svc.demo.svc:80"),
            PublishedPort(publish_port=53, target_port=53, protocol="UDP"),
        ),
    )  # fmt: skip
    response = conversion.container_response(container)
    assert response.container_type == "service"
    assert response.exposure_level == pb.EXPOSURE_LEVEL_CLUSTER_LOCAL
    (port,) = response.ports
    assert not port.HasField("name") and port.protocol == "TCP"
    assert [
        (p.publish_port, p.target_port, p.protocol, p.url) for p in response.published_ports
    ] == [(80, 8080, "TCP", "tcp://web-svc.demo.svc:80"), (53, 53, "UDP", "")]
    (service,) = response.associated_resources
    assert not service.HasField("container_resources")
    (pod_node,) = service.associated_resources
    (user,) = pod_node.associated_resources
    assert user.container_resources.cpu_request == "100m"
    assert user.container_resources.memory_limit == ""
    listed = conversion.list_response((container, container))
    assert [c.container_id for c in listed.containers] == ["id-1", "id-1"]
    deleted = conversion.delete_response(DeleteOutcome(container_id="id-1", status="Deleted"))
    assert (deleted.container_id, deleted.status) == ("id-1", "Deleted")


def test_container_status_in_the_response() -> None:
    from container_maker.models import ContainerPhase, ContainerStatus, StatusCondition

    condition = StatusCondition(
        reason="CrashLoopBackOff",
        message="container web keeps exiting",
        resource_type="pod_container",
        resource_name="web",
    )
    base = Container(
        container_id="id",
        container_name="web",
        container_type="pod",
        container_ip="",
        container_network="ns",
        exposure_level=ExposureLevel.INTERNAL,
    )
    failed = base.model_copy(
        update={
            "status": ContainerStatus(
                phase=ContainerPhase.FAILED,
                ready=False,
                conditions=(condition,),
                restart_count=4,
                last_exit_code=0,
            )
        }
    )
    status = conversion.container_response(failed).status
    assert status.phase == pb.CONTAINER_PHASE_FAILED
    assert [(c.reason, c.resource_type, c.resource_name) for c in status.conditions] == [
        ("CrashLoopBackOff", "pod_container", "web")
    ]
    assert status.restart_count == 4
    assert status.HasField("last_exit_code") and status.last_exit_code == 0  # 0 is not "unset"
    # Every phase has its enum value of the same name.
    for phase in ContainerPhase:
        ready = base.model_copy(
            update={"status": ContainerStatus(phase=phase, ready=phase is ContainerPhase.READY)}
        )
        message = conversion.container_response(ready).status
        assert pb.ContainerPhase.Name(message.phase) == f"CONTAINER_PHASE_{phase.name}"
        assert not message.HasField("last_exit_code")
