"""The Ingress manifest (pure)."""

from __future__ import annotations

from typing import Any

from container_maker.context import BuildContext
from container_maker.identity import object_name
from container_maker.manifests import object_metadata
from container_maker.models import ContainerSpec
from container_maker.validation import protocol_of


def ingress_path(namespace: str, container_name: str, port: int) -> str:
    """The path of one published port: unique per container and port on a shared host."""
    return f"/{namespace}/{container_name}/{port}"


def build_ingress(spec: ContainerSpec, context: BuildContext) -> dict[str, Any]:
    """The Ingress of a container: a Prefix path per published TCP port to its Service."""
    service = object_name("service", spec.container_name)
    paths = [
        {
            "path": ingress_path(spec.network_name, spec.container_name, info.publish_port),
            "pathType": "Prefix",
            "backend": {"service": {"name": service, "port": {"number": info.publish_port}}},
        }
        for info in spec.publish_information
        # Ingress routes HTTP, which runs over TCP; UDP and SCTP ports stay on the Service.
        if protocol_of(info.protocol) == "TCP"
    ]
    rule: dict[str, Any] = {"http": {"paths": paths}}
    if context.settings.ingress_host:
        rule["host"] = context.settings.ingress_host
    body_spec: dict[str, Any] = {"rules": [rule]}
    if context.settings.ingress_class:
        body_spec["ingressClassName"] = context.settings.ingress_class
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "Ingress",
        "metadata": object_metadata(
            object_name("ingress", spec.container_name), spec, context, owned=True
        ),
        "spec": body_spec,
    }
