"""The status sidecar's access to the API, checked with a real token of its ServiceAccount.

The sidecar may patch its own container's Lease and nothing else: not read it, not patch a
neighbour's, not see pods or Secrets. The real API server's RBAC decides (a TokenRequest for
the container's ServiceAccount, then real requests). Simulated nodes: nothing here needs a
container to run.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest
from api_support import create_request, service_account_token, token_client
from kubernetes import client

from container_maker._proto import types_pb2 as pb

pytestmark = pytest.mark.simulated


def report_patch() -> dict[str, Any]:
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    report = {"version": 1, "observedAt": now, "ports": [], "lastActivity": None}
    return {
        "metadata": {"annotations": {"container-maker.io/status-report": json.dumps(report)}},
        "spec": {"renewTime": now, "leaseDurationSeconds": 30},
    }


def denied(call: Any, *args: Any, **kwargs: Any) -> int:
    with pytest.raises(client.ApiException) as refused:
        call(*args, **kwargs)
    return int(refused.value.status)


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
        assert (
            denied(leases.patch_namespaced_lease, "neighbour-status", namespace, report_patch())
            == 403
        )
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


def test_a_relabelled_lease_cannot_vouch_for_another_container(
    stub: Any, admin_api: client.ApiClient, namespace: str
) -> None:
    """A sidecar can change its own Lease's labels (patch reaches all of it). Claiming another
    container's id only gets that report refused: the other container never looks better."""
    victim = stub.createContainer(create_request(namespace, "victim"), timeout=60)
    stub.createContainer(create_request(namespace, "liar"), timeout=60)
    token = service_account_token(admin_api, namespace, "liar-status", 600)
    liar = token_client(admin_api, token)
    try:
        claim = report_patch()
        claim["metadata"]["labels"] = {
            "container-maker.io/id": victim.container_id,
            "container-maker.io/name": "victim",
        }
        client.CoordinationV1Api(liar).patch_namespaced_lease("liar-status", namespace, claim)
    finally:
        liar.close()
    got = stub.getContainer(
        pb.GetContainerRequest(container_id=victim.container_id, network_name=namespace),
        timeout=30,
    )
    assert "StatusReportInvalid" in [c.reason for c in got.status.conditions]
    assert got.status.ready is False
