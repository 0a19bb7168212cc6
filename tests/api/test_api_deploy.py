"""The deployment manifests (deploy/) against the real test cluster.

They are accepted by the API server (server-side dry run, then applied for real), and their
RBAC is exactly enough: the service, run in-process under the ServiceAccount's own token
(TokenRequest), does a full create/list/get/delete at the highest exposure level (with the
status Lease policy applied too: it does not hold back the server's own creates and deletes of
Leases), and that token can do nothing beyond what the service needs (no Secrets anywhere, no
RBAC, no attach or port-forward, exec only as saveContainer needs it, no update). What the
policy refuses is tested in test_api_status_access.py.
"""

from __future__ import annotations

import re
import subprocess
import time
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from api_support import (
    SERVER_ACCOUNT,
    allowed,
    bind_server,
    create_request,
    delete_namespace,
    managed_objects,
    new_network_name,
    remove_deployed,
    running_server,
    served_settings,
    service_account_token,
    set_policy_parameters,
    tenant_namespace,
    token_client,
)
from kubernetes import client

from container_maker._proto import types_pb2 as pb
from container_maker_ingress.settings import IngressSettings

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
NAMESPACE = "container-maker-system"
SERVICE_ACCOUNT = "container-maker"


@pytest.fixture(scope="module")
def server_namespace(kube_cluster: Any) -> Iterator[str]:
    """The manifests' namespace, created for real: a dry run of namespaced objects needs it."""
    kube_cluster.kubectl("apply", "-f", str(DEPLOY / "namespace.yaml"))
    yield NAMESPACE
    resources = yaml.safe_load((DEPLOY / "kustomization.yaml").read_text())["resources"]
    remove_deployed(kube_cluster, resources)


def test_manifests_pass_a_server_side_dry_run(kube_cluster: Any, server_namespace: str) -> None:
    result = kube_cluster.kubectl("apply", "--dry-run=server", "-k", str(DEPLOY), check=False)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    for kind_name in (
        "serviceaccount/container-maker",
        "clusterrole.rbac.authorization.k8s.io/container-maker",
        "clusterrolebinding.rbac.authorization.k8s.io/container-maker",
        "clusterrole.rbac.authorization.k8s.io/container-maker-status-reporter",
        "clusterrolebinding.rbac.authorization.k8s.io/container-maker-auth-delegator",
        "clusterrole.rbac.authorization.k8s.io/container-maker-namespaced",
        "clusterrole.rbac.authorization.k8s.io/container-maker-user",
        "configmap/container-maker-policy",
        *(
            f"{kind}.admissionregistration.k8s.io/container-maker-{name}"
            for kind in ("validatingadmissionpolicy", "validatingadmissionpolicybinding")
            for name in (
                "namespaces",
                "namespace-prefix",
                "rolebindings",
                "pod-exec",
                "pods",
                "services",
            )
        ),
        "deployment.apps/container-maker",
        "service/container-maker",
        "validatingadmissionpolicy.admissionregistration.k8s.io/container-maker-status-lease",
        "validatingadmissionpolicybinding.admissionregistration.k8s.io/"
        "container-maker-status-lease",
        "role.rbac.authorization.k8s.io/container-maker-api-endpoints",
        "rolebinding.rbac.authorization.k8s.io/container-maker-api-endpoints",
        "networkpolicy.networking.k8s.io/default-deny",
        "networkpolicy.networking.k8s.io/container-maker",
    ):
        assert any(line.startswith(kind_name) and "(server dry run)" in line for line in lines)
    # The restricted Pod Security Standard of the namespace raised no warning for the pod.
    assert "would violate PodSecurity" not in result.stderr


@pytest.fixture(scope="module")
def applied(kube_cluster: Any, server_namespace: str) -> str:
    """The manifests applied for real; returns the ServiceAccount's namespace."""
    kube_cluster.kubectl("apply", "-k", str(DEPLOY))
    return server_namespace


def test_deployment_uses_grpc_probes_and_requests(kube_cluster: Any, applied: str) -> None:
    apps = client.AppsV1Api(kube_cluster.api_client())
    deployment = apps.read_namespaced_deployment("container-maker", applied)
    spec = deployment.spec.template.spec
    (container,) = spec.containers
    assert spec.service_account_name == SERVICE_ACCOUNT
    ports = {port.name: port.container_port for port in container.ports}
    assert ports == {"grpc": 50052, "health": 50053}
    for probe in (container.startup_probe, container.readiness_probe, container.liveness_probe):
        assert probe.grpc.port == ports["health"]  # the health server's, never the API's
    assert container.resources.requests == {"cpu": "100m", "memory": "128Mi"}
    assert container.security_context.allow_privilege_escalation is False
    assert not container.security_context.privileged


def test_server_namespace_policies_as_applied(kube_cluster: Any, applied: str) -> None:
    """Read back from the API server: everything in the namespace is denied but gRPC from
    namespaces labelled as the gateway's, and the server's egress to the API server's ports."""
    networking = client.NetworkingV1Api(kube_cluster.api_client())
    deny = networking.read_namespaced_network_policy("default-deny", applied).spec
    assert deny.pod_selector.match_labels is None and deny.pod_selector.match_expressions is None
    assert deny.policy_types == ["Ingress", "Egress"]
    assert not deny.ingress and not deny.egress
    server = networking.read_namespaced_network_policy("container-maker", applied).spec
    apps = client.AppsV1Api(kube_cluster.api_client())
    template = apps.read_namespaced_deployment("container-maker", applied).spec.template
    assert server.pod_selector.match_labels.items() <= template.metadata.labels.items()
    (ingress,) = server.ingress
    assert [(p.protocol, p.port) for p in ingress.ports] == [("TCP", 50052)]
    (source,) = ingress._from
    assert source.namespace_selector.match_labels == {"container-maker.io/gateway": "true"}
    assert source.pod_selector is None and source.ip_block is None
    (egress,) = server.egress
    assert egress.to is None
    assert [(p.protocol, p.port) for p in egress.ports] == [("TCP", 443), ("TCP", 6443)]


@pytest.fixture(scope="module")
def service_account_api(kube_cluster: Any, applied: str) -> Iterator[client.ApiClient]:
    """An API client authenticated only by a fresh token of the deployed ServiceAccount."""
    admin = kube_cluster.api_client()
    token = service_account_token(admin, applied, SERVICE_ACCOUNT, seconds=1800)
    api = token_client(admin, token)
    yield api
    api.close()


@pytest.mark.simulated
def test_rbac_is_enough_for_a_full_lifecycle(
    kube_cluster: Any, service_account_api: client.ApiClient
) -> None:
    admin = kube_cluster.api_client()
    network = new_network_name("rbac")
    settings = served_settings(server_service_account=SERVER_ACCOUNT)
    # The admission policies' parameters in step with the server's settings.
    set_policy_parameters(admin, ingressDomain=settings.of(IngressSettings).ingress_domain or "")
    try:
        with running_server(service_account_api, settings=settings) as running:
            stub = running.stub
            exposed = stub.createContainer(create_request(network, "web", "EXPOSED"), timeout=90)
            internal = stub.createContainer(create_request(network, "db"), timeout=90)
            listed = stub.listContainer(pb.ListContainerRequest(network_name=network), timeout=30)
            assert [c.container_name for c in listed.containers] == ["db", "web"]
            got = stub.getContainer(
                pb.GetContainerRequest(container_id=exposed.container_id, network_name=network),
                timeout=30,
            )
            assert got.container_type == "ingress"
            # The server bound itself into the namespace it made, and only there.
            core = client.CoreV1Api(admin)
            own = client.RbacAuthorizationV1Api(admin).read_namespaced_role_binding(
                "container-maker", network
            )
            assert own.role_ref.name == "container-maker-namespaced"
            assert [(s.name, s.namespace) for s in own.subjects] == [
                ("container-maker", "container-maker-system")
            ]
            # The token made the namespace's quota objects too (resourcequotas/limitranges).
            assert core.read_namespaced_resource_quota("container-maker", network).spec.hard
            assert core.read_namespaced_limit_range("container-maker", network).spec.limits
            for created in (exposed, internal):
                stub.deleteContainer(
                    pb.DeleteContainerRequest(
                        container_id=created.container_id, network_name=network
                    ),
                    timeout=90,
                )
        # The last delete removed the namespace Container Maker created (namespaces/delete).
        deadline = time.monotonic() + 30
        while managed_objects(admin, network) and time.monotonic() < deadline:
            time.sleep(0.5)
        assert managed_objects(admin, network) == []
        phase = None
        try:
            phase = client.CoreV1Api(admin).read_namespace(network).status.phase
        except client.ApiException as e:
            assert e.status == 404
        assert phase in (None, "Terminating")
    finally:
        delete_namespace(admin, network)


def test_token_cannot_read_secrets_cluster_wide(service_account_api: client.ApiClient) -> None:
    core = client.CoreV1Api(service_account_api)
    with pytest.raises(client.ApiException) as denied:
        core.list_secret_for_all_namespaces()
    assert denied.value.status == 403
    with pytest.raises(client.ApiException) as denied:
        core.list_namespaced_secret(NAMESPACE)
    assert denied.value.status == 403


NO_BINDING = "any-namespace"  # a namespace the server has not bound itself into
FORBIDDEN = [
    # (verb, group, resource, subresource, namespace)
    ("get", "", "secrets", "", "kube-system"),
    ("list", "", "secrets", "", ""),
    ("list", "", "configmaps", "", ""),
    ("list", "", "namespaces", "", ""),
    ("update", "", "namespaces", "", ""),
    ("create", "", "pods", "", "kube-system"),
    ("create", "", "pods", "exec", "kube-system"),
    ("get", "", "pods", "exec", "kube-system"),
    ("patch", "coordination.k8s.io", "leases", "", "kube-system"),
    ("update", "coordination.k8s.io", "leases", "", "kube-system"),
    ("delete", "coordination.k8s.io", "leases", "", "kube-node-lease"),
    ("create", "coordination.k8s.io", "leases", "", "kube-system"),
    # No namespaced write where the server has not bound itself.
    ("create", "", "pods", "", NO_BINDING),
    ("delete", "", "pods", "", NO_BINDING),
    ("create", "", "pods", "exec", NO_BINDING),
    ("create", "", "services", "", NO_BINDING),
    ("create", "networking.k8s.io", "ingresses", "", NO_BINDING),
    ("create", "networking.k8s.io", "networkpolicies", "", NO_BINDING),
    ("create", "", "resourcequotas", "", NO_BINDING),
    ("create", "", "serviceaccounts", "", NO_BINDING),
    ("create", "coordination.k8s.io", "leases", "", NO_BINDING),
    ("create", "", "pods", "", "container-maker-system"),
    ("create", "", "pods", "", "default"),
    # Bindings: only of the two roles; no Roles or ClusterRoles of its own, no escalation.
    ("create", "rbac.authorization.k8s.io", "roles", "", NO_BINDING),
    ("delete", "rbac.authorization.k8s.io", "rolebindings", "", NO_BINDING),
    ("update", "rbac.authorization.k8s.io", "rolebindings", "", NO_BINDING),
    ("create", "rbac.authorization.k8s.io", "clusterrolebindings", "", ""),
    ("create", "rbac.authorization.k8s.io", "clusterroles", "", ""),
    ("escalate", "rbac.authorization.k8s.io", "clusterroles", "", ""),
    ("escalate", "rbac.authorization.k8s.io", "roles", "", "default"),
    ("bind", "rbac.authorization.k8s.io", "clusterroles", "", "", "cluster-admin"),
    ("bind", "rbac.authorization.k8s.io", "clusterroles", "", "", "admin"),
    ("bind", "rbac.authorization.k8s.io", "roles", "", NO_BINDING, "anything"),
    ("update", "", "pods", "", "default"),
    ("patch", "", "services", "", "default"),
    ("create", "", "pods", "attach", "default"),
    ("create", "", "pods", "portforward", "default"),
    ("update", "", "serviceaccounts", "", "default"),
    ("create", "apps", "deployments", "", "default"),
    ("create", "", "serviceaccounts", "token", "default"),
    ("delete", "", "nodes", "", ""),
    # Quotas are made once with their namespace and never loosened.
    ("update", "", "resourcequotas", "", NO_BINDING),
    ("delete", "", "resourcequotas", "", NO_BINDING),
    ("update", "", "limitranges", "", NO_BINDING),
    ("watch", "networking.k8s.io", "networkpolicies", "", ""),
    # Only the API server's own EndpointSlice, only read.
    ("list", "discovery.k8s.io", "endpointslices", "", "default"),
    ("get", "discovery.k8s.io", "endpointslices", "", "kube-system", "kube-dns"),
    ("get", "discovery.k8s.io", "endpointslices", "", "default", "other"),
    ("update", "discovery.k8s.io", "endpointslices", "", "default", "kubernetes"),
]
ALLOWED = [
    ("get", "", "namespaces", "", ""),
    ("create", "", "namespaces", "", ""),
    ("delete", "", "namespaces", "", ""),  # which ones: the namespaces policy
    # Read of what the watch hub watches, in all namespaces.
    ("watch", "", "pods", "", ""),
    ("list", "", "services", "", ""),
    ("watch", "networking.k8s.io", "ingresses", "", ""),
    ("watch", "coordination.k8s.io", "leases", "", ""),
    ("get", "", "pods", "", NO_BINDING),
    # Binding itself (and the status identity) into a tenant's namespace.
    ("create", "rbac.authorization.k8s.io", "rolebindings", "", NO_BINDING),
    ("bind", "rbac.authorization.k8s.io", "clusterroles", "", "", "container-maker-namespaced"),
    (
        "bind",
        "rbac.authorization.k8s.io",
        "clusterroles",
        "",
        NO_BINDING,
        "container-maker-status-reporter",
    ),
    # Callers' tokens and rights (system:auth-delegator).
    ("create", "authentication.k8s.io", "tokenreviews", "", ""),
    ("create", "authorization.k8s.io", "subjectaccessreviews", "", ""),
    # The API server's endpoints, which the status sidecar may reach.
    ("get", "discovery.k8s.io", "endpointslices", "", "default", "kubernetes"),
]
# In a tenant's namespace once the server has bound itself there ("{tenant}" is replaced).
ALLOWED_IN_TENANT = [
    ("create", "", "pods", ""),
    ("delete", "", "pods", ""),
    ("create", "", "pods", "exec"),  # saveContainer runs the snapshot agent
    ("get", "", "pods", "exec"),
    ("create", "", "services", ""),
    ("delete", "", "services", ""),
    ("create", "networking.k8s.io", "ingresses", ""),
    ("delete", "networking.k8s.io", "ingresses", ""),
    ("create", "", "resourcequotas", ""),
    ("get", "", "resourcequotas", ""),
    ("create", "", "limitranges", ""),
    ("get", "", "limitranges", ""),
    ("create", "networking.k8s.io", "networkpolicies", ""),
    ("list", "networking.k8s.io", "networkpolicies", ""),
    ("delete", "networking.k8s.io", "networkpolicies", ""),
    ("create", "", "serviceaccounts", ""),  # the namespace's status identity
    ("create", "coordination.k8s.io", "leases", ""),  # the report Leases
    ("delete", "coordination.k8s.io", "leases", ""),
]
FORBIDDEN_IN_TENANT = [
    ("get", "", "secrets", ""),
    ("list", "", "secrets", ""),
    ("patch", "coordination.k8s.io", "leases", ""),  # the status identity's, not the server's
    ("update", "", "pods", ""),
    ("create", "rbac.authorization.k8s.io", "roles", ""),
    ("create", "", "pods", "attach"),
    ("create", "", "pods", "portforward"),
    ("update", "", "resourcequotas", ""),
    ("delete", "", "serviceaccounts", ""),
]


@pytest.mark.parametrize("attributes", FORBIDDEN, ids=lambda a: "-".join(x for x in a if x))
def test_token_has_no_more_rights(service_account_api: client.ApiClient, attributes: Any) -> None:
    assert not allowed(service_account_api, *attributes)


@pytest.mark.parametrize("attributes", ALLOWED, ids=lambda a: "-".join(x for x in a if x))
def test_token_has_the_rights_it_needs(
    service_account_api: client.ApiClient, attributes: Any
) -> None:
    assert allowed(service_account_api, *attributes)


@pytest.fixture(scope="module")
def bound_tenant(
    kube_cluster: Any, applied: str, service_account_api: client.ApiClient
) -> Iterator[str]:
    """A tenant's namespace into which the server's token bound itself (access.py)."""
    admin = kube_cluster.api_client()
    name = new_network_name("tenant")
    tenant_namespace(admin, name)
    bind_server(service_account_api, name)
    yield name
    delete_namespace(admin, name)


@pytest.mark.parametrize("attributes", ALLOWED_IN_TENANT, ids=lambda a: "-".join(x for x in a if x))
def test_token_has_the_rights_it_needs_in_a_tenant_namespace(
    service_account_api: client.ApiClient, bound_tenant: str, attributes: Any
) -> None:
    assert allowed(service_account_api, *attributes, bound_tenant)


@pytest.mark.parametrize(
    "attributes", FORBIDDEN_IN_TENANT, ids=lambda a: "-".join(x for x in a if x)
)
def test_token_has_no_more_rights_in_a_tenant_namespace(
    service_account_api: client.ApiClient, bound_tenant: str, attributes: Any
) -> None:
    assert not allowed(service_account_api, *attributes, bound_tenant)


def test_kubectl_auth_can_i_agrees(kube_cluster: Any, applied: str, bound_tenant: str) -> None:
    """What an operator sees: kubectl auth can-i as the server's ServiceAccount."""
    user = "--as=system:serviceaccount:container-maker-system:container-maker"

    def can(*args: str) -> bool:
        result = kube_cluster.kubectl("auth", "can-i", user, *args, check=False)
        return result.stdout.strip() == "yes"

    assert not can("create", "pods", "-n", "kube-system")
    assert not can("create", "pods/exec", "-n", "kube-system")
    assert not can("patch", "leases", "-n", "kube-system")
    assert not can("list", "secrets", "-A")
    assert not can("create", "pods", "-n", "default")
    assert can("create", "pods", "-n", bound_tenant)
    assert can("create", "pods/exec", "-n", bound_tenant)
    assert can("create", "leases", "-n", bound_tenant)


def test_dockerfile_installs_the_locked_set() -> None:
    """The Dockerfile cannot be built here (no Docker engine); its export step can run."""
    text = (DEPLOY / "Dockerfile").read_text()
    command = re.search(r"RUN (uv export .*?)--output-file", text, re.DOTALL)
    assert command is not None
    args = command.group(1).replace("\\\n", " ").split()
    result = subprocess.run(
        args, cwd=ROOT, capture_output=True, text=True, timeout=120, check=False
    )
    assert result.returncode == 0, result.stderr
    for package in ("grpcio==", "grpcio-health-checking==", "kubernetes==", "protobuf=="):
        assert package in result.stdout
    # Every member but the test cluster: the core and each built-in plugin, installed and
    # exported by its distribution's name.
    workspace = tomllib.loads((ROOT / "pyproject.toml").read_text())
    for member in workspace["tool"]["uv"]["workspace"]["members"]:
        if member == "cluster":
            continue
        assert f"./{member}" in text.split(), member
        project = tomllib.loads((ROOT / member / "pyproject.toml").read_text())["project"]
        assert f"--package {project['name']}" in " ".join(args), member


def test_first_writes_after_binding_itself_are_not_refused(
    kube_cluster: Any, applied: str, service_account_api: client.ApiClient
) -> None:
    """RBAC is enforced from a cache: right after its RoleBinding is created the server could
    be refused for a moment. Binding waits until the binding is in force, so the first write
    in each fresh namespace (the ResourceQuota, as the namespace plugin makes it) succeeds."""
    admin = kube_cluster.api_client()
    core = client.CoreV1Api(service_account_api)
    names = [new_network_name("bind") for _ in range(5)]
    try:
        for name in names:
            tenant_namespace(admin, name)
            bind_server(service_account_api, name)
            core.create_namespaced_resource_quota(
                name, {"metadata": {"name": "first"}, "spec": {"hard": {"pods": "1"}}}
            )
    finally:
        for name in names:
            delete_namespace(admin, name)
