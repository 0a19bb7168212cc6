"""Protobuf messages <-> core models: the only module that knows both sides.

Inbound, messages become :class:`~container_maker.models.ContainerSpec` and plain arguments
without judging them (validation is the manager's, so that every client, gRPC or Python, gets
the same errors); proto3 presence (``optional`` fields) becomes ``None``. Outbound, models
become response messages.
"""

from __future__ import annotations

from typing import Any

from container_maker._proto import types_pb2 as pb
from container_maker.models import (
    AssociatedResource,
    Container,
    ContainerResources,
    ContainerSpec,
    ContainerStatus,
    DeleteOutcome,
    PublishInformation,
    ResourceRequirements,
    SavedImage,
)
from container_maker.watch import ContainerEvent


def _optional(message: pb.ResourceRequirements | pb.PublishInformation, field: str) -> Any:
    """The value of an ``optional`` field, or None when the client did not set it."""
    return getattr(message, field) if message.HasField(field) else None


def spec_from_request(request: pb.CreateContainerRequest) -> ContainerSpec:
    """The container spec of a ``createContainer`` request (not validated yet)."""
    requirements = None
    if request.HasField("resource_requirements"):
        given = request.resource_requirements
        requirements = ResourceRequirements(
            **{name: _optional(given, name) for name in ResourceRequirements.model_fields}
        )
    return ContainerSpec(
        image_name=request.image_name,
        container_name=request.container_name,
        network_name=request.network_name,
        # Kept as a number: an unknown value must reach validation (INVALID_ARGUMENT).
        exposure_level=int(request.exposure_level),
        publish_information=tuple(
            PublishInformation(
                publish_port=info.publish_port,
                target_port=info.target_port,
                protocol=info.protocol,
                node_port=_optional(info, "node_port"),
            )
            for info in request.publish_information
        ),
        environment_variables=dict(request.environment_variables),
        resource_requirements=requirements,
    )


def _resources(resources: ContainerResources) -> pb.ContainerResources:
    return pb.ContainerResources(**resources.model_dump())


def _associated(node: AssociatedResource) -> pb.AssociatedResource:
    message = pb.AssociatedResource(
        resource_name=node.resource_name,
        resource_type=node.resource_type,
        associated_resources=[_associated(child) for child in node.associated_resources],
    )
    if node.container_resources is not None:
        message.container_resources.CopyFrom(_resources(node.container_resources))
    return message


def status_message(status: ContainerStatus) -> pb.ContainerStatus:
    """The ``ContainerStatus`` message of a status."""
    message = pb.ContainerStatus(
        phase=f"CONTAINER_PHASE_{status.phase.name}",
        ready=status.ready,
        conditions=[
            pb.ContainerCondition(
                reason=c.reason,
                message=c.message,
                resource_type=c.resource_type,
                resource_name=c.resource_name,
            )
            for c in status.conditions
        ],
        restart_count=status.restart_count,
        ports=[
            pb.PortStatus(port=p.port, protocol=p.protocol, state=f"PORT_STATE_{p.state.value}")
            for p in status.ports
        ],
    )
    if status.last_exit_code is not None:
        message.last_exit_code = status.last_exit_code
    if status.last_activity is not None:
        message.last_activity_time.FromDatetime(status.last_activity)
    if status.reported_at is not None:
        message.report_time.FromDatetime(status.reported_at)
    return message


def container_response(container: Container) -> pb.ContainerResponse:
    """The response message describing ``container``."""
    return pb.ContainerResponse(
        container_id=container.container_id,
        container_name=container.container_name,
        container_ip=container.container_ip,
        container_network=container.container_network,
        ports=[
            pb.PortInformation(
                name=port.name, container_port=port.container_port, protocol=port.protocol
            )
            for port in container.ports
        ],
        associated_resources=[_associated(node) for node in container.associated_resources],
        container_type=container.container_type,
        exposure_level=f"EXPOSURE_LEVEL_{container.exposure_level.name}",
        status=status_message(container.status),
        published_ports=[
            pb.PublishedPort(
                publish_port=port.publish_port,
                target_port=port.target_port,
                protocol=port.protocol,
                url=port.url,
            )
            for port in container.published_ports
        ],
    )


def event_message(event: ContainerEvent) -> pb.ContainerEvent:
    """The ``watchContainers`` message of a hub event."""
    message = pb.ContainerEvent(type=f"CONTAINER_EVENT_TYPE_{event.type.value}")
    if event.container is not None:
        message.container.CopyFrom(container_response(event.container))
    return message


def list_response(containers: tuple[Container, ...]) -> pb.ListContainerResponse:
    """The response listing ``containers`` in the order given."""
    return pb.ListContainerResponse(containers=[container_response(c) for c in containers])


def delete_response(outcome: DeleteOutcome) -> pb.DeleteContainerResponse:
    """The response to a delete."""
    return pb.DeleteContainerResponse(container_id=outcome.container_id, status=outcome.status)


def save_response(saved: tuple[SavedImage, ...]) -> pb.SaveContainerResponse:
    """The response to a save: one entry per saved pod, the image named with its digest."""
    return pb.SaveContainerResponse(
        saved_pods=[
            pb.SavedPodResponse(
                pod_name=s.pod_name, namespace_name=s.namespace, image_name=s.image_name
            )
            for s in saved
        ]
    )
