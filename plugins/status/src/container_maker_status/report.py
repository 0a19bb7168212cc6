"""The status sidecar's report and its access to the API (pure).

Kind "status" makes one object per container and two per namespace, all labelled as ours:

- per container, a **Lease** (coordination.k8s.io/v1) named ``<container>-status`` and labelled
  like the container's other objects, made before the pod: the report. The sidecar patches
  ``spec.renewTime``, ``spec.leaseDurationSeconds`` (the report's validity) and the annotation
  :data:`REPORT_ANNOTATION`, a JSON document::

      {"version": 1, "observedAt": "<RFC 3339>", "ports": [{"port": 8080, "protocol": "TCP",
       "listening": true}, ...], "lastActivity": "<RFC 3339>" | null, "connections": 2}

- per namespace, the status identity: the **ServiceAccount** :data:`STATUS_ACCOUNT` every pod
  of the namespace runs as (it never automounts its token; only the status sidecar mounts one,
  as a projected volume, so the user's container holds no credentials), and a **RoleBinding**
  of the same name to the ClusterRole :data:`REPORTER_ROLE` (``leases`` ``patch``, shipped in
  ``deploy/status-reporter.yaml``). They are ensured at every create and go with the namespace,
  never with a container.

The server lists the Leases of a namespace in one call (and watches them with one watch), so
reports cost nothing per container on list.

RBAC lets the namespace's status identity patch any Lease of its namespace; what confines a
sidecar's token to its own container's Lease is the ValidatingAdmissionPolicy of
``deploy/status-lease-policy.yaml``: the kubelet binds the projected token to the pod, the API
server puts the pod's name into the user's extra (``authentication.kubernetes.io/pod-name``),
and the policy lets the identity only update the Lease named ``<that pod>-status`` (the pod is
named like its container), in the report annotation and ``spec.renewTime``,
``leaseDurationSeconds``, ``holderIdentity`` and ``acquireTime`` only: no relabelling, no
finalizers (which would pin the namespace in Terminating), no ownerReferences. A token without
the claim (not bound to a pod) may write no Lease at all.

The server does not rely on the policy alone. A report counts for a container only when the
Lease's name (which no one can change) is that container's report name and its id label is
that container's id as the pod says (the pod's labels are the server's alone):
:func:`reported_container` gives ``ObservedObject.named_for`` and the core drops the Lease from
any other container. A Lease relabelled to another container's id therefore changes nothing of
that container (not its ports, activity, report time or readiness); a Lease whose name label no
longer matches its name is "StatusReportInvalid" for its own container.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

from container_maker.sdk import (
    NAME_KEY,
    BuildContext,
    ContainerSpec,
    ObjectStatus,
    PortState,
    PortStatus,
    StatusCondition,
    managed_labels,
    object_metadata,
    object_name,
    protocol_of,
)

KIND = "status"
REPORT_ANNOTATION = "container-maker.io/status-report"
# The ports the sidecar watches, on the Lease for whoever reads it ("8080/TCP,53/UDP").
PORTS_ANNOTATION = "container-maker.io/watched-ports"
REPORT_VERSION = 1
# The sidecar's own user and group: non-root, and unlike any image's usual users.
AGENT_UID = 64011
TOKEN_DIR = "/var/run/secrets/container-maker/status"
TOKEN_VOLUME = "cm-status-token"
TOKEN_SECONDS = 3600  # the kubelet renews a projected token well before it expires
# The namespace's status identity (ServiceAccount and RoleBinding) and the ClusterRole it is
# bound to (deploy/status-reporter.yaml); the names are shared with deploy/ and its policies.
STATUS_ACCOUNT = "container-maker-status"
REPORTER_ROLE = "container-maker-status-reporter"


def report_name(container_name: str) -> str:
    """The name of a container's report Lease."""
    return object_name(KIND, container_name)


def reported_container(lease_name: str) -> str:
    """The container whose report a Lease of this name is ("" when the name is no report's)."""
    suffix = report_name("")
    return lease_name.removesuffix(suffix) if lease_name.endswith(suffix) else ""


def report_lease(spec: ContainerSpec, context: BuildContext) -> dict[str, Any]:
    """A container's report Lease, empty until its sidecar (or, on simulated nodes, a KWOK
    stage) writes the first report."""
    metadata = object_metadata(report_name(spec.container_name), spec, context)
    metadata["annotations"][PORTS_ANNOTATION] = watched_ports(spec)
    return {
        "apiVersion": "coordination.k8s.io/v1",
        "kind": "Lease",
        "metadata": metadata,
        "spec": {},
    }


def status_identity(namespace: str) -> list[dict[str, Any]]:
    """The namespace's status ServiceAccount and its RoleBinding to :data:`REPORTER_ROLE`, in
    creation order. They carry our managed-by label but no container's labels: they belong to
    the namespace."""

    def metadata() -> dict[str, Any]:
        return {"name": STATUS_ACCOUNT, "namespace": namespace, "labels": managed_labels()}

    return [
        {
            "apiVersion": "v1",
            "kind": "ServiceAccount",
            "metadata": metadata(),
            "automountServiceAccountToken": False,
        },
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "RoleBinding",
            "metadata": metadata(),
            "roleRef": {
                "apiGroup": "rbac.authorization.k8s.io",
                "kind": "ClusterRole",
                "name": REPORTER_ROLE,
            },
            "subjects": [
                {"kind": "ServiceAccount", "name": STATUS_ACCOUNT, "namespace": namespace}
            ],
        },
    ]


def watched_ports(spec: ContainerSpec) -> str:
    """The declared ports as the sidecar is told them: "8080/TCP,53/UDP"."""
    return ",".join(f"{p.target_port}/{protocol_of(p.protocol)}" for p in spec.publish_information)


def token_volume() -> dict[str, Any]:
    """The sidecar's projected volume: a short-lived token of the pod's ServiceAccount and the
    cluster's CA (published in every namespace by the controller manager)."""
    return {
        "name": TOKEN_VOLUME,
        "projected": {
            "sources": [
                {"serviceAccountToken": {"path": "token", "expirationSeconds": TOKEN_SECONDS}},
                {
                    "configMap": {
                        "name": "kube-root-ca.crt",
                        "items": [{"key": "ca.crt", "path": "ca.crt"}],
                    }
                },
            ]
        },
    }


# -- reading a report ---------------------------------------------------------------------------


def _time(value: Any) -> datetime | None:
    """A UTC datetime from a client datetime or an RFC 3339 string; None when absent."""
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        parsed = value
    else:
        parsed = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def _condition(reason: str, message: str, name: str) -> StatusCondition:
    return StatusCondition(reason=reason, message=message, resource_type=KIND, resource_name=name)


def report_status(
    name: str,
    labels: dict[str, str],
    annotations: dict[str, str],
    renew_time: Any,
    duration_seconds: int | None,
) -> ObjectStatus:
    """What a Lease's report says, valid until its renew time plus its duration.

    Not ready while there is no report yet, while a declared port is not listening, and when
    the report is unreadable or not this container's; a port the sidecar cannot check (SCTP)
    is UNKNOWN and holds nothing back.
    """
    container = labels.get(NAME_KEY, "")
    if name != report_name(container):
        return ObjectStatus(
            ready=False,
            conditions=(
                _condition(
                    "StatusReportInvalid",
                    f"Lease {name} claims container {container!r}, whose report it cannot be; "
                    "its report is ignored",
                    name,
                ),
            ),
        )
    raw = annotations.get(REPORT_ANNOTATION)
    renewed = _time(renew_time)
    if raw is None or renewed is None or not duration_seconds:
        return ObjectStatus(
            ready=False,
            conditions=(
                _condition(
                    "StatusReportPending",
                    f"no report from the status sidecar of {container} yet (it reports once "
                    "it runs; see the pod's containers if this lasts)",
                    name,
                ),
            ),
        )
    try:
        report = json.loads(raw)
        if report.get("version") != REPORT_VERSION:
            raise ValueError(f"version {report.get('version')!r}, expected {REPORT_VERSION}")
        ports = tuple(
            PortStatus(
                port=int(p["port"]),
                protocol=str(p["protocol"]),
                state=PortState.UNKNOWN
                if p.get("listening") is None
                else PortState.LISTENING
                if p["listening"] is True
                else PortState.NOT_LISTENING,
            )
            for p in report.get("ports") or []
        )
        last_activity = _time(report.get("lastActivity"))
        observed = _time(report.get("observedAt")) or renewed
    except (ValueError, TypeError, KeyError, AttributeError) as error:
        return ObjectStatus(
            ready=False,
            conditions=(
                _condition(
                    "StatusReportInvalid",
                    f"the status sidecar's report in Lease {name} cannot be read: {error}",
                    name,
                ),
            ),
        )
    conditions = tuple(
        _condition(
            "PortNotListening",
            f"port {p.port}/{p.protocol} of container {container} is not accepting connections "
            "inside the pod",
            name,
        )
        for p in ports
        if p.state is PortState.NOT_LISTENING
    )
    return ObjectStatus(
        ready=not conditions,
        conditions=conditions,
        ports=ports,
        last_activity=last_activity,
        reported_at=observed,
        valid_until=renewed + timedelta(seconds=duration_seconds),
    )
