"""The Ingress manifest (pure)."""

from __future__ import annotations

from typing import Any

from container_maker.sdk import (
    BuildContext,
    ContainerSpec,
    InvalidConfiguration,
    object_metadata,
    object_name,
    protocol_of,
)

from .hosts import ingress_host
from .settings import IngressSettings

NO_DOMAIN = (
    "exposure EXPOSED needs a sandbox domain for the containers' hosts, and none is configured: "
    "start the server with --ingress-domain (CONTAINER_MAKER_INGRESS_DOMAIN), a domain whose "
    "wildcard DNS record points at the ingress controller"
)


def build_ingress(spec: ContainerSpec, context: BuildContext) -> dict[str, Any]:
    """The Ingress of a container: a rule per published TCP port, on that port's own host,
    routing every path (``/`` Prefix) to the port on the container's Service.

    No two containers or ports share a host, so none shares a browser origin with another
    (see :mod:`container_maker_ingress.hosts`). With ``settings.ingress_tls_secret`` the
    Ingress has one ``tls`` entry covering all its hosts.
    """
    settings = context.settings.of(IngressSettings)
    if not settings.ingress_domain:
        raise InvalidConfiguration(NO_DOMAIN)
    service = object_name("service", spec.container_name)
    rules: list[dict[str, Any]] = []
    for info in spec.publish_information:
        # Ingress routes HTTP, which runs over TCP; UDP and SCTP ports stay on the Service.
        if protocol_of(info.protocol) != "TCP":
            continue
        host = ingress_host(
            settings.ingress_domain,
            context.container_id,
            spec.network_name,
            spec.container_name,
            info.publish_port,
        )
        backend = {"service": {"name": service, "port": {"number": info.publish_port}}}
        rules.append(
            {
                "host": host,
                "http": {"paths": [{"path": "/", "pathType": "Prefix", "backend": backend}]},
            }
        )
    body_spec: dict[str, Any] = {"rules": rules}
    if settings.ingress_tls_secret:
        body_spec["tls"] = [
            {"hosts": [rule["host"] for rule in rules], "secretName": settings.ingress_tls_secret}
        ]
    if settings.ingress_class:
        body_spec["ingressClassName"] = settings.ingress_class
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "Ingress",
        "metadata": object_metadata(
            object_name("ingress", spec.container_name), spec, context, owned=True
        ),
        "spec": body_spec,
    }
