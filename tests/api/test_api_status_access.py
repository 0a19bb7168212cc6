"""The status sidecar's access to the API, checked with a real token of its ServiceAccount.

The sidecar may patch its own container's Lease and nothing else: not read it, not patch a
neighbour's, not see pods or Secrets (RBAC), and in its Lease only the report (the
ValidatingAdmissionPolicy of deploy/status-lease-policy.yaml, installed from there for this
module): no relabelling, no finalizers, no ownerReferences. A stolen token is played by a
TokenRequest for the container's ServiceAccount, then real requests to the real API server.
The server's own defence, attributing a report by the Lease's name and the pod's id, is proven
apart, with the policy's binding deleted. Simulated nodes: nothing here needs a container to run.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest
from api_support import (
    Watcher,
    create_request,
    denied_by_policy,
    service_account_token,
    token_client,
)
from kubernetes import client

from container_maker._proto import types_pb2 as pb

pytestmark = [pytest.mark.simulated, pytest.mark.usefixtures("status_lease_policy")]
ID_KEY = "container-maker.io/id"
NAME_KEY = "container-maker.io/name"


def report_patch(
    listening: bool | None = None, last_activity: str | None = None, validity: int = 30
) -> dict[str, Any]:
    """The merge patch the status agent sends (its holderIdentity, renewTime, duration and the
    report annotation); ``listening`` gives port 8080/TCP a state."""
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    ports = [] if listening is None else [{"port": 8080, "protocol": "TCP", "listening": listening}]
    report = {"version": 1, "observedAt": now, "ports": ports, "lastActivity": last_activity}
    return {
        "metadata": {"annotations": {"container-maker.io/status-report": json.dumps(report)}},
        "spec": {"holderIdentity": "agent", "renewTime": now, "leaseDurationSeconds": validity},
    }


def refusal(call: Any, *args: Any, **kwargs: Any) -> client.ApiException:
    with pytest.raises(client.ApiException) as refused:
        call(*args, **kwargs)
    return refused.value


def denied(call: Any, *args: Any, **kwargs: Any) -> int:
    return int(refusal(call, *args, **kwargs).status)


def test_the_sidecars_token_may_patch_its_own_lease_and_nothing_else(
    stub: Any, admin_api: client.ApiClient, namespace: str
) -> None:
    for name in ("web", "neighbour"):
        stub.createContainer(create_request(namespace, name), timeout=60)
    pod = client.CoreV1Api(admin_api).read_namespaced_pod("web", namespace)
    assert pod.spec.service_account_name == "web-status"
    assert pod.spec.automount_service_account_token is False

    token = service_account_token(admin_api, namespace, "web-status", 600)
    sidecar = token_client(admin_api, token)
    leases = client.CoordinationV1Api(sidecar)
    core = client.CoreV1Api(sidecar)
    try:
        patched = leases.patch_namespaced_lease("web-status", namespace, report_patch())
        assert patched.spec.lease_duration_seconds == 30
        assert denied(leases.read_namespaced_lease, "web-status", namespace) == 403
        assert denied(leases.list_namespaced_lease, namespace) == 403
        # RBAC refuses a neighbour's Lease before the policy is asked.
        neighbour = refusal(
            leases.patch_namespaced_lease, "neighbour-status", namespace, report_patch()
        )
        assert neighbour.status == 403 and not denied_by_policy(neighbour)
        assert "cannot patch resource" in neighbour.body
        assert denied(leases.delete_namespaced_lease, "web-status", namespace) == 403
        assert denied(core.list_namespaced_pod, namespace) == 403
        assert denied(core.list_namespaced_secret, namespace) == 403
        assert (
            denied(
                client.RbacAuthorizationV1Api(sidecar).patch_namespaced_role,
                "web-status",
                namespace,
                {"rules": []},
            )
            == 403
        )
    finally:
        sidecar.close()


def test_a_stolen_token_may_change_only_the_report_of_its_own_lease(
    stub: Any, admin_api: client.ApiClient, namespace: str
) -> None:
    """The ValidatingAdmissionPolicy: every write of the Lease but the report answers 403."""
    victim = stub.createContainer(create_request(namespace, "victim"), timeout=60)
    stub.createContainer(create_request(namespace, "liar"), timeout=60)
    admin_leases = client.CoordinationV1Api(admin_api)
    before = admin_leases.read_namespaced_lease("liar-status", namespace)
    token = service_account_token(admin_api, namespace, "liar-status", 600)
    liar = token_client(admin_api, token)
    leases = client.CoordinationV1Api(liar)
    labels = "may not change its Lease's labels"
    report_only = "may change only the annotation container-maker.io/status-report"
    spec_only = "may change only spec.renewTime, leaseDurationSeconds, holderIdentity"
    # What each attack patches, and the policy's reason for refusing it.
    attacks: dict[str, tuple[dict[str, Any], str]] = {
        "relabel the id only": ({"metadata": {"labels": {ID_KEY: victim.container_id}}}, labels),
        "relabel id and name": (
            {"metadata": {"labels": {ID_KEY: victim.container_id, NAME_KEY: "victim"}}},
            labels,
        ),
        "drop the id label": ({"metadata": {"labels": {ID_KEY: None}}}, labels),
        "add a finalizer": (
            {"metadata": {"finalizers": ["example.com/pin"]}},
            "may not change its Lease's finalizers",
        ),
        "drop the ownerReference": (
            {"metadata": {"ownerReferences": None}},
            "may not change its Lease's ownerReferences",
        ),
        "add an annotation": ({"metadata": {"annotations": {"example.com/x": "y"}}}, report_only),
        "change the watched ports": (
            {"metadata": {"annotations": {"container-maker.io/watched-ports": "1/TCP"}}},
            report_only,
        ),
        "count transitions": ({"spec": {"leaseTransitions": 7}}, spec_only),
    }
    try:
        for what, (patch, reason) in attacks.items():
            # Each attack also carries a valid report, as a careful attacker would send it.
            body = report_patch()
            body["metadata"].update(patch.get("metadata", {}))
            body["spec"].update(patch.get("spec", {}))
            error = refusal(leases.patch_namespaced_lease, "liar-status", namespace, body)
            assert denied_by_policy(error) and reason in error.body, (what, error.body)
        patched = leases.patch_namespaced_lease("liar-status", namespace, report_patch())
        assert patched.spec.holder_identity == "agent"
    finally:
        liar.close()
    after = admin_leases.read_namespaced_lease("liar-status", namespace)
    assert after.metadata.labels == before.metadata.labels
    assert not after.metadata.finalizers
    assert after.metadata.owner_references == before.metadata.owner_references
    assert set(after.metadata.annotations) == {
        *before.metadata.annotations,
        "container-maker.io/status-report",
    }


def test_the_policy_keeps_a_status_identity_to_its_own_lease_even_with_more_rights(
    stub: Any, admin_api: client.ApiClient, namespace: str
) -> None:
    """Were RBAC ever to grant more (a Role too wide), the policy still refuses another
    container's Lease and any create or delete."""
    for name in ("web", "neighbour"):
        stub.createContainer(create_request(namespace, name), timeout=60)
    rbac = client.RbacAuthorizationV1Api(admin_api)
    rbac.create_namespaced_role(
        namespace,
        {
            "metadata": {"name": "too-wide"},
            "rules": [
                {
                    "apiGroups": ["coordination.k8s.io"],
                    "resources": ["leases"],
                    "verbs": ["patch", "create", "delete"],
                }
            ],
        },
    )
    rbac.create_namespaced_role_binding(
        namespace,
        {
            "metadata": {"name": "too-wide"},
            "roleRef": {
                "apiGroup": "rbac.authorization.k8s.io",
                "kind": "Role",
                "name": "too-wide",
            },
            "subjects": [{"kind": "ServiceAccount", "name": "web-status", "namespace": namespace}],
        },
    )
    token = service_account_token(admin_api, namespace, "web-status", 600)
    sidecar = token_client(admin_api, token)
    leases = client.CoordinationV1Api(sidecar)
    managed = {"app.kubernetes.io/managed-by": "container-maker"}
    try:
        for error, reason in (
            (
                refusal(
                    leases.patch_namespaced_lease, "neighbour-status", namespace, report_patch()
                ),
                "may write only the Lease named like itself, not neighbour-status",
            ),
            (
                refusal(leases.delete_namespaced_lease, "web-status", namespace),
                "may only update its Lease, not delete one",
            ),
            (
                refusal(
                    leases.create_namespaced_lease,
                    namespace,
                    {"metadata": {"name": "web-status-2", "labels": managed}, "spec": {}},
                ),
                "may only update its Lease, not create one",
            ),
        ):
            assert denied_by_policy(error) and reason in error.body, error.body
        leases.patch_namespaced_lease("web-status", namespace, report_patch())
    finally:
        sidecar.close()


def status_of(stub: Any, namespace: str, container_id: str) -> Any:
    return stub.getContainer(
        pb.GetContainerRequest(container_id=container_id, network_name=namespace), timeout=30
    ).status


def listed_status(stub: Any, namespace: str, container_id: str) -> Any:
    listed = stub.listContainer(pb.ListContainerRequest(network_name=namespace), timeout=30)
    (found,) = [c for c in listed.containers if c.container_id == container_id]
    return found.status


def test_a_relabelled_lease_cannot_vouch_for_another_container(
    stub: Any, admin_api: client.ApiClient, namespace: str, without_status_lease_policy: Any
) -> None:
    """Without the policy, a stolen token can relabel its own Lease with the victim's id (the
    name label kept, then changed too) and write any report into it, flattering (activity in
    2999) or damning (port not listening, idle since 2000). The server attributes a report by
    the Lease's name and the pod's id, so the victim's status (ports, activity, report time,
    readiness, conditions) stays the same on get, list and watchContainers."""
    victim = stub.createContainer(create_request(namespace, "victim"), timeout=60)
    liar = stub.createContainer(create_request(namespace, "liar"), timeout=60)
    admin_leases = client.CoordinationV1Api(admin_api)
    # The victim's own report, written here as its sidecar would: 8080 listening, last active
    # on 2026-01-01.
    honest = report_patch(listening=True, last_activity="2026-01-01T00:00:00Z", validity=600)
    admin_leases.patch_namespaced_lease("victim-status", namespace, honest)
    baseline = status_of(stub, namespace, victim.container_id)
    assert [p.state for p in baseline.ports] == [pb.PORT_STATE_LISTENING]
    assert baseline.last_activity_time.ToJsonString() == "2026-01-01T00:00:00Z"
    watcher = Watcher(stub, namespace, victim.container_id)
    watcher.synced()

    claims = (
        report_patch(listening=True, last_activity="2999-01-01T00:00:00Z", validity=600),
        report_patch(listening=False, last_activity="2000-01-01T00:00:00Z", validity=600),
    )
    token = service_account_token(admin_api, namespace, "liar-status", 600)
    liar_api = token_client(admin_api, token)
    try:
        for labels in (
            {ID_KEY: victim.container_id},  # the name label kept: the case names alone miss
            {ID_KEY: victim.container_id, NAME_KEY: "victim"},
        ):
            for claim in claims:
                claim["metadata"]["labels"] = labels
                # Accepted: the policy is not enforced in this test.
                client.CoordinationV1Api(liar_api).patch_namespaced_lease(
                    "liar-status", namespace, claim
                )
                why = (labels, claim["metadata"]["annotations"])
                assert status_of(stub, namespace, victim.container_id) == baseline, why
                assert listed_status(stub, namespace, victim.container_id) == baseline, why
    finally:
        liar_api.close()
    # The liar only lost its own report.
    assert status_of(stub, namespace, liar.container_id).ready is False

    # The watch hub saw every relabelling before this later change of the victim's own Lease
    # (one watch of Leases, in order): no event in between may carry the liar's claims.
    admin_leases.patch_namespaced_lease(
        "victim-status",
        namespace,
        report_patch(listening=True, last_activity="2026-01-01T00:00:01Z", validity=600),
    )
    seen: list[Any] = []

    def latest(container: Any) -> bool:
        seen.append(container.status)
        return bool(container.status.last_activity_time.ToJsonString() == "2026-01-01T00:00:01Z")

    watcher.container(latest, timeout=30)
    for status in seen:
        assert status.last_activity_time.ToJsonString().startswith("2026-01-01"), status
        assert [p.state for p in status.ports] == [pb.PORT_STATE_LISTENING], status
        assert (status.ready, status.conditions) == (baseline.ready, baseline.conditions)
    watcher.call.cancel()
