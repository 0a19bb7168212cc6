"""The test cluster is a real Kubernetes: these tests prove the behaviours Container Maker needs.

They run against the session cluster (ours, or the one CONTAINER_MAKER_TEST_KUBECONFIG names).
Tests that depend on a KWOK simulation say "simulated" in their names.
"""

from __future__ import annotations

import base64
import ipaddress
import json
import time
import uuid
from collections.abc import Callable
from typing import Any

import pytest
from kubernetes import client

from container_maker_testcluster.build import Versions
from container_maker_testcluster.pytest_plugin import TEST_NAMESPACE_LABEL, TestCluster

SIMULATED_RANGE = ipaddress.ip_network("203.0.113.0/24")


def wait_until(what: str, check: Callable[[], Any], timeout: float = 90.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = check()
        if result:
            return result
        time.sleep(0.25)
    pytest.fail(f"timed out after {timeout}s waiting for {what}")


def pod(name: str) -> client.V1Pod:
    return client.V1Pod(
        metadata=client.V1ObjectMeta(name=name, labels={"app": name}),
        spec=client.V1PodSpec(containers=[client.V1Container(name="main", image="busybox")]),
    )


def test_version_reports_the_pinned_release(kube_cluster: TestCluster) -> None:
    if kube_cluster.local is None:
        pytest.skip("an external cluster runs its own release")
    out = kube_cluster.kubectl("get", "--raw", "/version").stdout
    version = json.loads(out)
    assert version["gitVersion"] == Versions.load().kubernetes
    assert version["gitTreeState"] == "clean"


def test_nodes_are_ready_and_schedulable(kube_cluster: TestCluster) -> None:
    nodes = client.CoreV1Api(kube_cluster.api_client()).list_node().items
    assert nodes
    for node in nodes:
        ready = {c.type: c.status for c in node.status.conditions}["Ready"]
        assert ready == "True", node.metadata.name
        assert not [t for t in node.spec.taints or [] if t.effect == "NoSchedule"]


def test_deleted_namespace_is_finalized(kube_cluster: TestCluster) -> None:
    core = client.CoreV1Api(kube_cluster.api_client())
    name = f"t-finalize-{uuid.uuid4().hex[:6]}"
    core.create_namespace(
        client.V1Namespace(
            metadata=client.V1ObjectMeta(name=name, labels={TEST_NAMESPACE_LABEL: "true"})
        )
    )
    core.create_namespaced_config_map(
        name, client.V1ConfigMap(metadata=client.V1ObjectMeta(name="content"), data={"k": "v"})
    )
    core.delete_namespace(name)

    def gone() -> bool:
        try:
            phase = core.read_namespace(name).status.phase
        except client.ApiException as exc:
            return exc.status == 404
        assert phase == "Terminating"
        return False

    wait_until("the namespace to be finalized", gone)


def test_garbage_collector_removes_dependents_of_a_deleted_owner(
    kube_cluster: TestCluster, namespace: str
) -> None:
    core = client.CoreV1Api(kube_cluster.api_client())
    owner = core.create_namespaced_config_map(
        namespace, client.V1ConfigMap(metadata=client.V1ObjectMeta(name="owner"))
    )
    core.create_namespaced_config_map(
        namespace,
        client.V1ConfigMap(
            metadata=client.V1ObjectMeta(
                name="dependent",
                owner_references=[
                    client.V1OwnerReference(
                        api_version="v1", kind="ConfigMap", name="owner", uid=owner.metadata.uid
                    )
                ],
            )
        ),
    )
    core.delete_namespaced_config_map("owner", namespace)

    def dependent_gone() -> bool:
        try:
            core.read_namespaced_config_map("dependent", namespace)
        except client.ApiException as exc:
            return exc.status == 404
        return False

    wait_until("the garbage collector to delete the dependent", dependent_gone)


def test_pod_in_brand_new_namespace_waits_for_default_service_account(
    kube_cluster: TestCluster, record_property: Callable[[str, object], None]
) -> None:
    """Pod admission needs the namespace's `default` ServiceAccount, made asynchronously.

    Observed on this cluster: the first create, issued right after the namespace, is usually
    rejected with 403 "serviceaccount default not found"; a retry a few tens of milliseconds
    later is admitted. The test records how many rejections it saw (see the junit properties or
    `-rP` output); it asserts that any rejection is exactly that one, and that the pod is then
    admitted.
    """
    core = client.CoreV1Api(kube_cluster.api_client())
    name = f"t-new-sa-{uuid.uuid4().hex[:6]}"
    core.create_namespace(
        client.V1Namespace(
            metadata=client.V1ObjectMeta(name=name, labels={TEST_NAMESPACE_LABEL: "true"})
        )
    )
    rejections = 0
    started = time.monotonic()
    try:
        while True:
            try:
                core.create_namespaced_pod(name, pod("first"))
                break
            except client.ApiException as exc:
                assert exc.status == 403, exc
                assert "serviceaccount" in exc.body and "default" in exc.body, exc.body
                assert "not found" in exc.body, exc.body
                rejections += 1
                assert time.monotonic() - started < 60, "never admitted"
                time.sleep(0.02)
        waited = time.monotonic() - started
        record_property("default_sa_rejections", rejections)
        record_property("default_sa_wait_seconds", round(waited, 3))
        print(f"pod admitted after {rejections} rejection(s), {waited:.3f}s")
    finally:
        core.delete_namespace(name)


def test_simulated_pod_becomes_running_with_an_ip(
    kube_cluster: TestCluster, namespace: str
) -> None:
    core = client.CoreV1Api(kube_cluster.api_client())
    core.create_namespaced_pod(namespace, pod("web"))

    def running() -> client.V1Pod | None:
        p = core.read_namespaced_pod("web", namespace)
        return p if p.status.phase == "Running" and p.status.pod_ip else None

    p = wait_until("the pod to be Running with an IP", running)
    ipaddress.ip_address(p.status.pod_ip)
    core.delete_namespaced_pod("web", namespace)

    def deleted() -> bool:
        try:
            core.read_namespaced_pod("web", namespace)
        except client.ApiException as exc:
            return exc.status == 404
        return False

    wait_until("the pod deletion to complete", deleted)


def test_simulated_load_balancer_gets_an_external_address(
    kube_cluster: TestCluster, namespace: str
) -> None:
    core = client.CoreV1Api(kube_cluster.api_client())
    core.create_namespaced_service(
        namespace,
        client.V1Service(
            metadata=client.V1ObjectMeta(name="lb"),
            spec=client.V1ServiceSpec(
                type="LoadBalancer",
                selector={"app": "web"},
                ports=[client.V1ServicePort(port=80, target_port=8080)],
            ),
        ),
    )

    def address() -> str | None:
        ingress = core.read_namespaced_service("lb", namespace).status.load_balancer.ingress
        return ingress[0].ip if ingress else None

    ip = wait_until("a load balancer address", address)
    if kube_cluster.simulated:
        assert ipaddress.ip_address(ip) in SIMULATED_RANGE


def test_simulated_ingress_gets_an_address(kube_cluster: TestCluster, namespace: str) -> None:
    net = client.NetworkingV1Api(kube_cluster.api_client())
    net.create_namespaced_ingress(
        namespace,
        client.V1Ingress(
            metadata=client.V1ObjectMeta(name="web"),
            spec=client.V1IngressSpec(
                rules=[
                    client.V1IngressRule(
                        host="web.example.test",
                        http=client.V1HTTPIngressRuleValue(
                            paths=[
                                client.V1HTTPIngressPath(
                                    path="/",
                                    path_type="Prefix",
                                    backend=client.V1IngressBackend(
                                        service=client.V1IngressServiceBackend(
                                            name="web", port=client.V1ServiceBackendPort(number=80)
                                        )
                                    ),
                                )
                            ]
                        ),
                    )
                ]
            ),
        ),
    )

    def address() -> str | None:
        ingress = net.read_namespaced_ingress("web", namespace).status.load_balancer.ingress
        return ingress[0].ip if ingress else None

    ip = wait_until("an ingress address", address)
    if kube_cluster.simulated:
        assert ipaddress.ip_address(ip) in SIMULATED_RANGE


def test_rbac_denies_a_service_account_without_permissions(
    kube_cluster: TestCluster, namespace: str
) -> None:
    admin = kube_cluster.api_client()
    core = client.CoreV1Api(admin)
    core.create_namespaced_service_account(
        namespace, client.V1ServiceAccount(metadata=client.V1ObjectMeta(name="nobody"))
    )
    request = client.AuthenticationV1TokenRequest(
        spec=client.V1TokenRequestSpec(audiences=[], expiration_seconds=600)
    )
    token = core.create_namespaced_service_account_token("nobody", namespace, request).status.token

    configuration = client.Configuration(host=admin.configuration.host)
    configuration.ssl_ca_cert = admin.configuration.ssl_ca_cert
    configuration.api_key = {"BearerToken": token}
    configuration.api_key_prefix = {"BearerToken": "Bearer"}
    as_sa = client.ApiClient(configuration)

    # Authenticated: the API server knows who this is...
    review = client.AuthenticationV1Api(as_sa).create_self_subject_review(
        client.V1SelfSubjectReview()
    )
    assert review.status.user_info.username == f"system:serviceaccount:{namespace}:nobody"
    # ...and authorization (RBAC) says no.
    for call in (
        lambda: client.CoreV1Api(as_sa).list_namespaced_pod(namespace),
        lambda: client.CoreV1Api(as_sa).list_secret_for_all_namespaces(),
        lambda: client.CoreV1Api(as_sa).create_namespaced_config_map(
            namespace, client.V1ConfigMap(metadata=client.V1ObjectMeta(name="x"))
        ),
    ):
        with pytest.raises(client.ApiException) as denied:
            call()
        assert denied.value.status == 403
    # The token is a real signed JWT issued by our issuer.
    payload = token.split(".")[1]
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    assert claims["sub"] == f"system:serviceaccount:{namespace}:nobody"
