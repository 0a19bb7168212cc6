"""The status kind's objects and the reading of a report (pure)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from kubernetes import client

from container_maker.context import BuildContext
from container_maker.identity import ID_KEY, NAME_KEY
from container_maker.models import (
    ContainerPhase,
    ObjectStatus,
    ObservedObject,
    PortState,
    PublishInformation,
)
from container_maker.readiness import container_status
from container_maker.settings import Settings
from container_maker.testing import build_context, container_spec
from container_maker_status import plugin as status
from container_maker_status.report import (
    PORTS_ANNOTATION,
    REPORT_ANNOTATION,
    STATUS_ACCOUNT,
    report_lease,
    report_status,
    reported_container,
    status_identity,
)

SPEC = container_spec(
    image_name="nginx",
    publish_information=(
        PublishInformation(publish_port=80, target_port=8080),
        PublishInformation(publish_port=53, target_port=53, protocol="UDP"),
    ),
)
NOW = datetime(2026, 11, 29, 12, 0, 0, tzinfo=UTC)
LABELS = {NAME_KEY: "web", ID_KEY: "id-1"}


def context() -> BuildContext:
    return build_context(SPEC, Settings(), container_id="id-1")


def report(**changes: Any) -> dict[str, str]:
    body: dict[str, Any] = {
        "version": 1,
        "observedAt": "2026-11-29T12:00:00.123456Z",
        "ports": [
            {"port": 8080, "protocol": "TCP", "listening": True},
            {"port": 53, "protocol": "UDP", "listening": True},
        ],
        "lastActivity": "2026-11-29T11:59:58Z",
        "connections": 1,
    }
    body.update(changes)
    return {REPORT_ANNOTATION: json.dumps(body)}


def test_a_lease_per_container_and_the_namespaces_status_identity() -> None:
    manifest = status.RESOURCE.manifest(SPEC, context())
    assert manifest is not None
    account, binding, lease = manifest.to_body()["items"]
    assert [o["kind"] for o in (account, binding, lease)] == [
        "ServiceAccount",
        "RoleBinding",
        "Lease",
    ]
    # The container's report, labelled like its other objects.
    assert lease["metadata"]["name"] == "web-status"
    assert lease["metadata"]["labels"][ID_KEY] == "id-1"
    assert lease["metadata"]["annotations"][PORTS_ANNOTATION] == "8080/TCP,53/UDP"
    assert "ownerReferences" not in lease["metadata"]
    # The namespace's identity: ours, but no container's (it outlives each of them).
    for obj in (account, binding):
        assert obj["metadata"]["name"] == STATUS_ACCOUNT == "container-maker-status"
        assert obj["metadata"]["namespace"] == "net"
        assert obj["metadata"]["labels"] == {"app.kubernetes.io/managed-by": "container-maker"}
    assert account["automountServiceAccountToken"] is False
    assert binding["roleRef"] == {
        "apiGroup": "rbac.authorization.k8s.io",
        "kind": "ClusterRole",
        "name": "container-maker-status-reporter",
    }
    assert binding["subjects"] == [
        {"kind": "ServiceAccount", "name": "container-maker-status", "namespace": "net"}
    ]
    assert status_identity("net") == [account, binding]
    assert report_lease(SPEC, context()) == lease


def test_only_the_status_sidecar_mounts_the_token() -> None:
    extras = status.status_extras(SPEC, context())
    assert extras.service_account_name == "container-maker-status"
    (volume,) = extras.volumes
    sources = volume["projected"]["sources"]
    assert sources[0]["serviceAccountToken"]["expirationSeconds"] == 3600
    assert sources[1]["configMap"]["name"] == "kube-root-ca.crt"
    (container,) = extras.containers
    env = {e["name"]: e["value"] for e in container["env"]}
    assert env["CONTAINER_MAKER_REPORT_LEASE"] == "web-status"
    assert env["CONTAINER_MAKER_REPORT_VALIDITY"] == "30"
    assert env["CONTAINER_MAKER_HEARTBEAT_INTERVAL"] == "10.0"
    assert not any("token" in v.lower() and "/" not in v for v in env.values())


def test_a_fresh_report_with_every_port_listening_is_ready() -> None:
    found = report_status("web-status", LABELS, report(), NOW, 30)
    assert found.ready and found.conditions == ()
    assert [(p.port, p.protocol, p.state) for p in found.ports] == [
        (8080, "TCP", PortState.LISTENING),
        (53, "UDP", PortState.LISTENING),
    ]
    assert found.last_activity == datetime(2026, 11, 29, 11, 59, 58, tzinfo=UTC)
    assert found.valid_until == NOW + timedelta(seconds=30)


def test_a_port_not_listening_holds_the_container_back() -> None:
    ports = [
        {"port": 8080, "protocol": "TCP", "listening": False},
        {"port": 9000, "protocol": "SCTP", "listening": None},
    ]
    found = report_status("web-status", LABELS, report(ports=ports), NOW, 30)
    assert not found.ready
    assert [c.reason for c in found.conditions] == ["PortNotListening"]
    assert "8080/TCP" in found.conditions[0].message
    assert [p.state for p in found.ports] == [PortState.NOT_LISTENING, PortState.UNKNOWN]


@pytest.mark.parametrize(
    ("name", "annotations", "renewed", "reason"),
    [
        ("web-status", {}, None, "StatusReportPending"),
        ("web-status", report(), None, "StatusReportPending"),
        ("web-status", {REPORT_ANNOTATION: "{not json"}, NOW, "StatusReportInvalid"),
        ("web-status", report(version=2), NOW, "StatusReportInvalid"),
        ("web-status", report(ports=[{"port": "x"}]), NOW, "StatusReportInvalid"),
        # Another container's Lease relabelled to claim this one.
        ("other-status", report(), NOW, "StatusReportInvalid"),
    ],
)
def test_no_usable_report_is_never_ready(
    name: str, annotations: dict[str, str], renewed: datetime | None, reason: str
) -> None:
    found = report_status(name, LABELS, annotations, renewed, 30)
    assert not found.ready
    assert [c.reason for c in found.conditions] == [reason]
    assert found.ports == ()


def pod_ready() -> ObservedObject:
    return ObservedObject(
        kind="pod",
        namespace="net",
        name="web",
        uid="p",
        status=ObjectStatus(phase=ContainerPhase.READY, ready=True),
    )


def lease(found: ObjectStatus) -> ObservedObject:
    return ObservedObject(kind="status", namespace="net", name="web-status", uid="l", status=found)


def test_a_report_vouches_until_its_validity_then_for_nothing() -> None:
    found = report_status("web-status", LABELS, report(), NOW, 30)
    objects = {"pod": (pod_ready(),), "status": (lease(found),)}
    fresh = container_status(objects, ("pod", "status"), now=NOW + timedelta(seconds=29))
    assert (fresh.phase, fresh.ready) == (ContainerPhase.READY, True)
    assert fresh.reported_at == datetime(2026, 11, 29, 12, 0, 0, 123456, tzinfo=UTC)
    assert {p.state for p in fresh.ports} == {PortState.LISTENING}

    stale = container_status(objects, ("pod", "status"), now=NOW + timedelta(seconds=31))
    assert (stale.phase, stale.ready) == (ContainerPhase.RUNNING, False)
    assert [c.reason for c in stale.conditions] == ["StatusReportStale"]
    assert {p.state for p in stale.ports} == {PortState.UNKNOWN}
    # What was seen stays known: activity is history, not a claim about now.
    assert stale.last_activity == fresh.last_activity


def test_a_missing_report_object_keeps_the_container_from_ready() -> None:
    found = container_status({"pod": (pod_ready(),)}, ("pod", "status"), now=NOW)
    assert (found.phase, found.ready) == (ContainerPhase.RUNNING, False)
    assert [c.reason for c in found.conditions] == ["ObjectMissing"]


@pytest.mark.parametrize(
    ("lease", "container"),
    [
        ("web-status", "web"),
        ("web-status-status", "web-status"),
        ("web", ""),
        ("status", ""),
        ("-status", ""),
    ],
)
def test_a_lease_names_the_container_it_reports_on(lease: str, container: str) -> None:
    assert reported_container(lease) == container


def test_a_lease_is_attributed_by_its_name_not_by_the_labels_its_sidecar_may_change() -> None:
    relabelled = client.V1Lease(
        metadata=client.V1ObjectMeta(
            name="liar-status",
            namespace="net",
            uid="u-1",
            labels={NAME_KEY: "liar", ID_KEY: "id-of-the-victim"},
            annotations=report(),
        ),
        spec=client.V1LeaseSpec(renew_time=NOW, lease_duration_seconds=30),
    )
    observed = status.observe(relabelled)
    assert observed.named_for == "liar"
    assert observed.labels[ID_KEY] == "id-of-the-victim"
