"""The Service manifest (pure)."""

from __future__ import annotations

from typing import Any

from container_maker.sdk import (
    BuildContext,
    ContainerSpec,
    ExposureLevel,
    object_metadata,
    object_name,
    pod_selector,
    protocol_of,
)


def service_type(level: ExposureLevel) -> str:
    """ClusterIP inside the cluster; LoadBalancer once the container is reachable from outside."""
    return "ClusterIP" if level <= ExposureLevel.CLUSTER_LOCAL else "LoadBalancer"


def build_service(spec: ContainerSpec, context: BuildContext) -> dict[str, Any]:
    """The Service of a container: one port per published port, owned by the pod."""
    kind = service_type(spec.exposure)
    ports: list[dict[str, Any]] = []
    for info in spec.publish_information:
        protocol = protocol_of(info.protocol)
        port: dict[str, Any] = {
            "name": f"{protocol.lower()}-{info.publish_port}",
            "port": info.publish_port,
            "targetPort": info.target_port,
            "protocol": protocol,
        }
        if info.node_port is not None and kind == "LoadBalancer":
            port["nodePort"] = info.node_port
        ports.append(port)
    body: dict[str, Any] = {
        "type": kind,
        "selector": pod_selector(context.container_id),
        "ports": ports,
    }
    if kind == "LoadBalancer":
        # Without node ports (the default) a container cannot use up the cluster-wide NodePort
        # range; explicit node_port values, where the operator allows them, are kept.
        body["allocateLoadBalancerNodePorts"] = context.settings.load_balancer_node_ports
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": object_metadata(
            object_name("service", spec.container_name), spec, context, owned=True
        ),
        "spec": body,
    }
