"""The status sidecar plugin: reports what the control plane cannot see (ports, activity).

It adds the ``cm-status`` container to every pod (``status-agent run`` from the configured
image, see ``plugins/status/status-agent``), told which ports the user's container should
listen on, and owns the kind "status": the sidecar's report (a Lease per container, made before
the pod) and the namespace's status identity the pod runs as (see
:mod:`container_maker_status.report` for the objects and why).

The sidecar runs as a non-root user of its own with no capabilities and a read-only root; it
makes itself non-dumpable, so the user's container, which shares the pod's PID namespace, cannot
read its token through /proc.
"""

from __future__ import annotations

import contextlib
from typing import Any

from kubernetes import client

from container_maker.sdk import (
    AlreadyExists,
    BuildContext,
    ContainerSpec,
    KubeContext,
    Manifest,
    NamespacedApi,
    ObservedObject,
    PodExtras,
    Resource,
    ResourceRegistry,
    create_object,
    hookimpl,
    sidecar_container,
)

from .report import (
    AGENT_UID,
    KIND,
    STATUS_ACCOUNT,
    TOKEN_DIR,
    TOKEN_VOLUME,
    report_lease,
    report_name,
    report_status,
    reported_container,
    status_identity,
    token_volume,
    watched_ports,
)
from .settings import StatusSettings

NAME = "status"
CONTAINER_NAME = "cm-status"


def status_extras(spec: ContainerSpec, context: BuildContext) -> PodExtras:
    """The status sidecar container, with the ports to watch ("8080/TCP,53/UDP") and where to
    report; the pod runs as the namespace's status ServiceAccount."""
    settings = context.settings.of(StatusSettings)
    ports = watched_ports(spec)
    name = report_name(spec.container_name)
    container = sidecar_container(
        CONTAINER_NAME,
        settings.status_image,
        spec,
        context,
        env={
            "CONTAINER_MAKER_WATCH_PORTS": ports,
            "CONTAINER_MAKER_REPORT_LEASE": name,
            "CONTAINER_MAKER_TOKEN_DIR": TOKEN_DIR,
            "CONTAINER_MAKER_POLL_INTERVAL": str(settings.status_poll_interval),
            "CONTAINER_MAKER_HEARTBEAT_INTERVAL": str(settings.status_heartbeat_interval),
            "CONTAINER_MAKER_REPORT_VALIDITY": str(settings.status_report_validity),
        },
        volume_mounts=[{"name": TOKEN_VOLUME, "mountPath": TOKEN_DIR, "readOnly": True}],
    )
    container["securityContext"].update(
        {
            "runAsUser": AGENT_UID,
            "runAsGroup": AGENT_UID,
            "runAsNonRoot": True,
            "readOnlyRootFilesystem": True,
        }
    )
    return PodExtras(
        plugin=NAME,
        containers=(container,),
        volumes=(token_volume(),),
        service_account_name=STATUS_ACCOUNT,
    )


def _observe_plain(kind: str) -> Any:
    def observe(obj: Any) -> ObservedObject:
        return ObservedObject.from_metadata(obj, kind)

    return observe


def observe(lease: Any) -> ObservedObject:
    """Summarise a ``V1Lease``: the report it carries, as the container's status sees it."""
    meta = lease.metadata
    labels = dict(meta.labels or {})
    annotations = dict(meta.annotations or {})
    spec = lease.spec
    return ObservedObject.from_metadata(
        lease,
        KIND,
        # Attributed by its name, never by the labels its sidecar may change.
        named_for=reported_container(meta.name),
        status=report_status(
            meta.name,
            labels,
            annotations,
            spec.renew_time if spec else None,
            spec.lease_duration_seconds if spec else None,
        ),
    )


LEASES = NamespacedApi.of(client.CoordinationV1Api, "lease", observe=observe, name="status lease")
SERVICE_ACCOUNTS = NamespacedApi.of(
    client.CoreV1Api,
    "service_account",
    observe=_observe_plain("status serviceaccount"),
    name="status serviceaccount",
    watchable=False,
)
ROLE_BINDINGS = NamespacedApi.of(
    client.RbacAuthorizationV1Api,
    "role_binding",
    observe=_observe_plain("status rolebinding"),
    name="status rolebinding",
    watchable=False,
)
# The namespace's status identity, in creation order.
_IDENTITY_KINDS: tuple[NamespacedApi[Any], ...] = (SERVICE_ACCOUNTS, ROLE_BINDINGS)


@hookimpl
def cm_settings_model() -> type[StatusSettings]:
    return StatusSettings


@hookimpl
def cm_pod_extras(spec: ContainerSpec, context: BuildContext) -> PodExtras:
    return status_extras(spec, context)


def build(spec: ContainerSpec, context: BuildContext) -> dict[str, Any]:
    items = [*status_identity(spec.network_name), report_lease(spec, context)]
    return {"apiVersion": "v1", "kind": "List", "items": items}


def create(manifest: Manifest, context: KubeContext) -> ObservedObject:
    """Ensure the namespace's status ServiceAccount and RoleBinding (one create each; one that
    exists already is left as it is), then create the container's Lease; the Lease.

    Nothing needs undoing when a step fails: the identity stays with the namespace, and a
    Lease whose create failed after the API server took it is found by its label in the
    manager's rollback.
    """
    *identity, lease = manifest.to_body()["items"]
    for which, body in zip(_IDENTITY_KINDS, identity, strict=True):
        # An existing one was made with an earlier container of the namespace.
        with contextlib.suppress(AlreadyExists):
            create_object(which, Manifest(kind=KIND, body=body), context)
    return create_object(LEASES, Manifest(kind=KIND, body=lease), context)


# Before the pod, which runs as the status ServiceAccount. Found by get, list and watch (the
# report is part of the container's status) and deleted with the container (the Leases only,
# waiting until they are gone: a container made again under the same name needs the name
# free; the identity stays, other containers of the namespace run as it, and it goes with the
# namespace). Not in the tree. A Lease's name is not a DNS label: no suffix limit.
RESOURCE = Resource(
    kind=KIND, build=build, client=LEASES, create=create, before=("pod",), tree=False
)


@hookimpl
def cm_register_resources(registry: ResourceRegistry) -> None:
    registry.add(RESOURCE)
