"""The status sidecar's access to the API, checked with real tokens of its ServiceAccount.

Every pod of a namespace runs as the namespace's status identity (the ServiceAccount
``container-maker-status``, bound to the ClusterRole ``container-maker-status-reporter``:
patch on Leases). The sidecar's token is bound to its pod, and with that token it may patch its
own pod's Lease and nothing else: not read it, not create or delete one (RBAC), not see pods or
Secrets, not patch a neighbour's Lease, and in its own Lease only the report (the
ValidatingAdmissionPolicy of deploy/status-lease-policy.yaml, installed from there for this
module, with deploy/status-reporter.yaml): no relabelling, no finalizers, no ownerReferences.
A token of the same identity bound to no pod writes no Lease at all. A stolen token is played
by a TokenRequest bound to the container's pod, as the kubelet binds the sidecar's projected
token, then real requests to the real API server. The server's own defence, attributing a
report by the Lease's name and the pod's id, is proven apart, with the policy's binding
deleted. Simulated nodes: nothing here needs a container to run.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest
from api_support import (
    STATUS_ACCOUNT,
    Watcher,
    create_request,
    denied_by_policy,
    managed_objects,
    service_account_token,
    token_client,
)
from kubernetes import client

from container_maker._proto import types_pb2 as pb
from container_maker.testing import eventually

pytestmark = [pytest.mark.simulated, pytest.mark.usefixtures("status_lease_policy")]
ID_KEY = "container-maker.io/id"
NAME_KEY = "container-maker.io/name"
POD_NAME_CLAIM = "authentication.kubernetes.io/pod-name"
POD_UID_CLAIM = "authentication.kubernetes.io/pod-uid"


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


def sidecar_client(admin_api: client.ApiClient, namespace: str, pod: str) -> client.ApiClient:
    """A client with the token the kubelet would project into ``pod``'s status sidecar: the
    namespace's status identity, bound to that pod."""
    token = service_account_token(admin_api, namespace, STATUS_ACCOUNT, 600, bound_pod=pod)
    return token_client(admin_api, token)


def user_extra(api: client.ApiClient) -> dict[str, list[str]]:
    """The extra of the user ``api`` authenticates as (a SelfSubjectReview)."""
    review = client.AuthenticationV1Api(api).create_self_subject_review({})
    return dict(review.status.user_info.extra or {})


def test_every_pod_of_a_namespace_runs_as_its_one_status_identity(
    stub: Any, admin_api: client.ApiClient, namespace: str
) -> None:
    """One ServiceAccount and one RoleBinding per namespace, whatever the number of
    containers; each container has only its Lease, and deleting one leaves the identity."""
    created = [stub.createContainer(create_request(namespace, n), timeout=60) for n in "ab"]
    core = client.CoreV1Api(admin_api)
    for name in "ab":
        pod = core.read_namespaced_pod(name, namespace)
        assert pod.spec.service_account_name == STATUS_ACCOUNT
        assert pod.spec.automount_service_account_token is False
    account = core.read_namespaced_service_account(STATUS_ACCOUNT, namespace)
    assert account.automount_service_account_token is False
    rbac = client.RbacAuthorizationV1Api(admin_api)
    binding = rbac.read_namespaced_role_binding(STATUS_ACCOUNT, namespace)
    assert (binding.role_ref.kind, binding.role_ref.name) == (
        "ClusterRole",
        "container-maker-status-reporter",
    )
    assert [(s.kind, s.name, s.namespace) for s in binding.subjects] == [
        ("ServiceAccount", STATUS_ACCOUNT, namespace)
    ]
    assert not rbac.list_namespaced_role(namespace).items
    # Per container: its pod, its NetworkPolicy and its Lease, no account or binding of its own.
    assert managed_objects(admin_api, namespace) == [
        "lease/a-status",
        "lease/b-status",
        "networkpolicy/a-net",
        "networkpolicy/b-net",
        "pod/a",
        "pod/b",
    ]
    stub.deleteContainer(
        pb.DeleteContainerRequest(container_id=created[0].container_id, network_name=namespace),
        timeout=90,
    )
    assert managed_objects(admin_api, namespace)[0] == "lease/b-status"
    assert core.read_namespaced_service_account(STATUS_ACCOUNT, namespace).metadata.uid == (
        account.metadata.uid
    )
    assert rbac.read_namespaced_role_binding(STATUS_ACCOUNT, namespace).metadata.uid == (
        binding.metadata.uid
    )


def test_the_sidecars_token_may_patch_its_own_lease_and_nothing_else(
    stub: Any, admin_api: client.ApiClient, namespace: str
) -> None:
    for name in ("web", "neighbour"):
        stub.createContainer(create_request(namespace, name), timeout=60)
    pod = client.CoreV1Api(admin_api).read_namespaced_pod("web", namespace)
    sidecar = sidecar_client(admin_api, namespace, "web")
    leases = client.CoordinationV1Api(sidecar)
    core = client.CoreV1Api(sidecar)
    try:
        # The claims the policy reads are really in the user's extra on this cluster.
        extra = user_extra(sidecar)
        assert (extra[POD_NAME_CLAIM], extra[POD_UID_CLAIM]) == (["web"], [pod.metadata.uid])
        patched = leases.patch_namespaced_lease("web-status", namespace, report_patch())
        assert patched.spec.lease_duration_seconds == 30
        assert denied(leases.read_namespaced_lease, "web-status", namespace) == 403
        assert denied(leases.list_namespaced_lease, namespace) == 403
        # RBAC would let the namespace's identity patch the neighbour's Lease: the policy,
        # reading the token's pod, does not.
        neighbour = refusal(
            leases.patch_namespaced_lease, "neighbour-status", namespace, report_patch()
        )
        assert denied_by_policy(neighbour), neighbour.body
        assert (
            "the status sidecar of pod web may write only the Lease web-status, "
            "not neighbour-status" in neighbour.body
        )
        assert denied(leases.delete_namespaced_lease, "web-status", namespace) == 403
        assert denied(core.list_namespaced_pod, namespace) == 403
        assert denied(core.list_namespaced_secret, namespace) == 403
        assert (
            denied(
                client.RbacAuthorizationV1Api(sidecar).patch_namespaced_role_binding,
                STATUS_ACCOUNT,
                namespace,
                {"subjects": []},
            )
            == 403
        )
    finally:
        sidecar.close()


def test_a_token_bound_to_no_pod_writes_no_lease(
    stub: Any, admin_api: client.ApiClient, namespace: str
) -> None:
    """The same identity's token without the pod claim (a TokenRequest bound to nothing, as an
    admin or a legacy Secret would make it): even the report of a Lease is refused."""
    stub.createContainer(create_request(namespace, "web"), timeout=60)
    token = service_account_token(admin_api, namespace, STATUS_ACCOUNT, 600)
    unbound = token_client(admin_api, token)
    try:
        assert POD_NAME_CLAIM not in user_extra(unbound)
        error = refusal(
            client.CoordinationV1Api(unbound).patch_namespaced_lease,
            "web-status",
            namespace,
            report_patch(),
        )
        assert denied_by_policy(error), error.body
        assert "the claim authentication.kubernetes.io/pod-name is missing" in error.body
    finally:
        unbound.close()
    lease = client.CoordinationV1Api(admin_api).read_namespaced_lease("web-status", namespace)
    assert lease.spec.holder_identity != "agent"


def test_a_token_of_a_deleted_pod_does_not_report_for_its_successor(
    stub: Any, admin_api: client.ApiClient, namespace: str
) -> None:
    """A container deleted and made again under the same name has a pod of the same name but
    another uid. The old pod's token carries the old uid, and the API server's authenticator
    refuses it (401) once its token cache has expired; the new pod's token reports."""
    first = stub.createContainer(create_request(namespace, "web"), timeout=60)
    old = sidecar_client(admin_api, namespace, "web")
    try:
        client.CoordinationV1Api(old).patch_namespaced_lease(
            "web-status", namespace, report_patch()
        )
        stub.deleteContainer(
            pb.DeleteContainerRequest(container_id=first.container_id, network_name=namespace),
            timeout=90,
        )
        stub.createContainer(create_request(namespace, "web"), timeout=60)

        def refused() -> int:
            try:
                client.CoordinationV1Api(old).patch_namespaced_lease(
                    "web-status", namespace, report_patch(), dry_run="All"
                )
            except client.ApiException as error:
                return int(error.status)
            return 200

        # The API server caches a token's successful authentication for 10 s.
        assert eventually(refused, lambda status: status != 200, timeout=30) == 401
    finally:
        old.close()
    new = sidecar_client(admin_api, namespace, "web")
    try:
        client.CoordinationV1Api(new).patch_namespaced_lease(
            "web-status", namespace, report_patch()
        )
    finally:
        new.close()


def test_a_stolen_token_may_change_only_the_report_of_its_own_lease(
    stub: Any, admin_api: client.ApiClient, namespace: str
) -> None:
    """The ValidatingAdmissionPolicy: every write of the Lease but the report answers 403."""
    victim = stub.createContainer(create_request(namespace, "victim"), timeout=60)
    stub.createContainer(create_request(namespace, "liar"), timeout=60)
    victim_pod = client.CoreV1Api(admin_api).read_namespaced_pod("victim", namespace)
    admin_leases = client.CoordinationV1Api(admin_api)
    before = admin_leases.read_namespaced_lease("liar-status", namespace)
    liar = sidecar_client(admin_api, namespace, "liar")
    leases = client.CoordinationV1Api(liar)
    labels = "may not change its Lease's labels"
    report_only = "may change only the annotation container-maker.io/status-report"
    spec_only = "may change only spec.renewTime, leaseDurationSeconds, holderIdentity"
    owner = {"apiVersion": "v1", "kind": "Pod", "name": "victim", "uid": victim_pod.metadata.uid}
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
        "add an ownerReference": (
            {"metadata": {"ownerReferences": [owner]}},
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
    assert not after.metadata.owner_references
    assert set(after.metadata.annotations) == {
        *before.metadata.annotations,
        "container-maker.io/status-report",
    }


def grant_lease_writes(admin_api: client.ApiClient, namespace: str, subject_namespace: str) -> None:
    """A Role too wide (patch, create and delete on every Lease of ``namespace``) bound to the
    status identity of ``subject_namespace``."""
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
            "subjects": [
                {"kind": "ServiceAccount", "name": STATUS_ACCOUNT, "namespace": subject_namespace}
            ],
        },
    )


def test_the_policy_keeps_a_status_identity_to_its_own_lease_even_with_more_rights(
    stub: Any, admin_api: client.ApiClient, namespace: str, network: str
) -> None:
    """Were RBAC ever to grant more (a Role too wide, here or in another namespace), the policy
    still refuses any create or delete, and a Lease of another namespace."""
    stub.createContainer(create_request(namespace, "web"), timeout=60)
    stub.createContainer(create_request(network, "web"), timeout=60)
    grant_lease_writes(admin_api, namespace, namespace)
    grant_lease_writes(admin_api, network, namespace)
    sidecar = sidecar_client(admin_api, namespace, "web")
    leases = client.CoordinationV1Api(sidecar)
    managed = {"app.kubernetes.io/managed-by": "container-maker"}
    try:
        for error, reason in (
            (
                refusal(leases.patch_namespaced_lease, "web-status", network, report_patch()),
                f"system:serviceaccount:{namespace}:{STATUS_ACCOUNT} may write no Lease of "
                f"namespace {network}",
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
            (
                refusal(
                    leases.create_namespaced_lease,
                    namespace,
                    {"metadata": {"name": "unlabelled"}, "spec": {}},
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
    liar_api = sidecar_client(admin_api, namespace, "liar")
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
