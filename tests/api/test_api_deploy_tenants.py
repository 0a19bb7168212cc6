"""Two tenants against the server as deployed, through real channels.

The server runs in-process under the token of deploy/'s ServiceAccount, with deploy/'s RBAC and
admission policies applied (not its Deployment), authenticating callers by Kubernetes tokens
for the audience ``container-maker``. The callers are ServiceAccounts ``caller`` of two home
namespaces, ``tenant-a-<hex>`` and ``tenant-b-<hex>`` (a ServiceAccount's tenant is its
namespace), each bound cluster-wide to the ClusterRole ``container-maker-user``
(deploy/containers-resource.yaml): RBAC lets both use any network, so what keeps them apart is
tenancy. Each tenant's network is a namespace Container Maker creates for it.

Shown here: every RPC refuses missing, garbage, expired and wrong-audience tokens; tenant A gets
nothing of tenant B's network (the answers of a network nobody has, B's objects untouched);
reserved and admin-made namespaces are refused and nothing of ours lies outside tenants'
namespaces; the containers-per-tenant and creates-per-second limits; one status identity per
namespace and no Role.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from typing import Any

import grpc
import pytest
from api_support import (
    AUDIENCE,
    SERVER_ACCOUNT,
    SERVERLESS_MANIFESTS,
    TOKEN_OFFER,
    Running,
    allowed,
    apply_deployed,
    assert_unauthenticated,
    create_request,
    delete_namespace,
    denied_by,
    every_rpc,
    expired_token,
    managed_outside,
    namespace_phase,
    new_network_name,
    refusal,
    remove_deployed,
    restore_policy_parameters,
    running_server,
    served_settings,
    service_account_token,
    set_policy_parameters,
    tenants_namespaces,
    token_client,
    versions,
)
from kubernetes import client

from container_maker._proto import service_pb2_grpc
from container_maker._proto import types_pb2 as pb
from container_maker.identity import TENANT_KEY
from container_maker.settings import LOCAL_INGRESS_DOMAIN, Settings
from container_maker.testing import eventually, token_channel
from container_maker.testing import service_account_token as audience_token

pytestmark = pytest.mark.simulated

SERVER_NAMESPACE = "container-maker-system"
USER_ROLE = "container-maker-user"
CALLER = "caller"
LIMIT = 2
STATUS = "container-maker-status"
REGISTRY = "registry.example.com/saved"  # saveContainer is configured (nothing is saved)


@dataclass(frozen=True)
class Tenant:
    name: str  # its home namespace, where its ServiceAccount is: the tenant
    network: str  # the network Container Maker makes for it
    token: str

    @property
    def user(self) -> str:
        return f"system:serviceaccount:{self.name}:{CALLER}"


# -- fixtures -----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def server_api(kube_cluster: Any, admin_api: client.ApiClient) -> Iterator[client.ApiClient]:
    """deploy/'s RBAC and policies applied, and a client with the server's token only, once
    its rights and the policies are in force."""
    eventually(
        lambda: namespace_phase(admin_api, SERVER_NAMESPACE), lambda p: p != "Terminating", 120
    )
    try:
        apply_deployed(kube_cluster)
        set_policy_parameters(admin_api, ingressDomain=LOCAL_INGRESS_DOMAIN, registry=REGISTRY)
        token = service_account_token(admin_api, SERVER_NAMESPACE, "container-maker", 1800)
        api = token_client(admin_api, token)
        try:
            eventually(lambda: allowed(api, "create", "", "namespaces", "", ""), lambda ok: ok, 30)
            eventually(lambda: unlabelled_refused(api), lambda refused: refused, 60)
            yield api
        finally:
            api.close()
    finally:
        remove_deployed(kube_cluster, list(SERVERLESS_MANIFESTS))
        restore_policy_parameters(admin_api)


def unlabelled_refused(server_api: client.ApiClient) -> bool:
    """Whether the namespaces policy refuses the server an unlabelled namespace (dry run)."""
    try:
        client.CoreV1Api(server_api).create_namespace(
            {"metadata": {"name": "probe-unlabelled"}}, dry_run="All"
        )
    except client.ApiException as e:
        return denied_by(e, "container-maker-namespaces")
    return False


@pytest.fixture(scope="module")
def tenants(admin_api: client.ApiClient, server_api: client.ApiClient) -> Iterator[list[Tenant]]:
    """Tenants A and B: a home namespace each with the ServiceAccount ``caller``, bound by a
    ClusterRoleBinding to container-maker-user, and a token of it for the audience."""
    core = client.CoreV1Api(admin_api)
    rbac = client.RbacAuthorizationV1Api(admin_api)
    suffix = uuid.uuid4().hex[:6]
    homes = [f"tenant-a-{suffix}", f"tenant-b-{suffix}"]
    try:
        made = []
        for home in homes:
            core.create_namespace({"metadata": {"name": home}})
            core.create_namespaced_service_account(home, {"metadata": {"name": CALLER}})
            rbac.create_cluster_role_binding(
                {
                    "metadata": {"name": f"{USER_ROLE}-{home}"},
                    "roleRef": {
                        "apiGroup": "rbac.authorization.k8s.io",
                        "kind": "ClusterRole",
                        "name": USER_ROLE,
                    },
                    "subjects": [{"kind": "ServiceAccount", "name": CALLER, "namespace": home}],
                }
            )
            token = audience_token(admin_api, home, CALLER, (AUDIENCE,))
            made.append(Tenant(home, f"{home}-net", token))
        for tenant in made:
            eventually(lambda t=tenant: may(admin_api, t.user, "create"), lambda ok: ok, 30)
        yield made
    finally:
        for home in homes:
            try:
                rbac.delete_cluster_role_binding(f"{USER_ROLE}-{home}")
            except client.ApiException as e:
                if e.status != 404:
                    raise
            for namespace in (home, f"{home}-net"):
                delete_namespace(admin_api, namespace)


def may(admin: client.ApiClient, user: str, verb: str, namespace: str = "any") -> bool:
    """Whether RBAC grants ``user`` ``verb`` on containers.container-maker.io there."""
    review: Any = {
        "spec": {
            "user": user,
            "resourceAttributes": {
                "group": "container-maker.io",
                "resource": "containers",
                "verb": verb,
                "namespace": namespace,
            },
        }
    }
    answer = client.AuthorizationV1Api(admin).create_subject_access_review(review)
    return bool(answer.status.allowed)


def deployed_settings(**values: Any) -> Settings:
    """The settings of the deployed server (as deploy/deployment.yaml runs it), with
    ``values``."""
    return served_settings(
        server_service_account=SERVER_ACCOUNT,
        authenticators=("kubernetes-token",),
        token_audiences=(AUDIENCE,),
        registry=REGISTRY,
        **values,
    )


@pytest.fixture(scope="module")
def served(server_api: client.ApiClient, tenants: list[Tenant]) -> Iterator[Running]:
    with running_server(
        server_api, settings=deployed_settings(max_containers_per_tenant=LIMIT)
    ) as running:
        yield running


@pytest.fixture(scope="module")
def stubs(served: Running, tenants: list[Tenant]) -> Iterator[list[Any]]:
    """A stub for each tenant, on a channel sending its token."""
    with ExitStack() as stack:
        yield [
            service_pb2_grpc.ContainerMakerAPIStub(
                stack.enter_context(token_channel(served.address, tenant.token))
            )
            for tenant in tenants
        ]


@pytest.fixture(scope="module")
def b_container(admin_api: client.ApiClient, tenants: list[Tenant], stubs: list[Any]) -> Any:
    """B's container (a pod, its Lease and a Service), its pod settled (Running and Ready on
    the simulated node, so that nothing changes it any more)."""
    b = tenants[1]
    created = stubs[1].createContainer(
        create_request(b.network, "web", "CLUSTER_LOCAL"), timeout=90
    )
    core = client.CoreV1Api(admin_api)
    eventually(
        lambda: core.list_namespaced_pod(b.network).items,
        lambda pods: (
            len(pods) == 1
            and pods[0].status.phase == "Running"
            and any(
                c.type == "Ready" and c.status == "True" for c in pods[0].status.conditions or ()
            )
        ),
        60,
    )
    return created


@pytest.fixture(scope="module")
def a_containers(tenants: list[Tenant], stubs: list[Any]) -> list[Any]:
    """A's containers, as many as its limit allows."""
    a = tenants[0]
    return [
        stubs[0].createContainer(create_request(a.network, f"c{i}"), timeout=90)
        for i in range(LIMIT)
    ]


# -- 1. authentication of every RPC ---------------------------------------------------------


@pytest.mark.parametrize("kind", ["none", "garbage", "expired", "wrong-audience"])
def test_refused_credentials_are_unauthenticated_for_every_rpc(
    kind: str,
    kube_cluster: Any,
    admin_api: client.ApiClient,
    served: Running,
    tenants: list[Tenant],
) -> None:
    a = tenants[0]
    network = new_network_name("nobody")
    if kind == "none":
        assert_unauthenticated(served.stub, network, TOKEN_OFFER)
    else:
        token = {
            "garbage": lambda: "not-a-token",
            "expired": lambda: expired_token(kube_cluster, admin_api, a.name, CALLER),
            "wrong-audience": lambda: audience_token(admin_api, a.name, CALLER, ("elsewhere",)),
        }[kind]()
        with token_channel(served.address, token) as channel:
            assert_unauthenticated(
                service_pb2_grpc.ContainerMakerAPIStub(channel), network, TOKEN_OFFER
            )
    assert namespace_phase(admin_api, network) is None  # create made nothing


# -- 2. tenant A against tenant B's network ---------------------------------------------------


def test_another_tenants_network_is_the_same_not_found_as_a_missing_one(
    admin_api: client.ApiClient, tenants: list[Tenant], stubs: list[Any], b_container: Any
) -> None:
    a, b = tenants
    a_stub, b_stub = stubs
    cid = b_container.container_id
    before = versions(admin_api, b.network)
    kinds = {key.split("/")[0] for key in before}
    assert {"pod", "lease", "service", "namespace"} <= kinds, before
    missing_net, missing_id = new_network_name("nobody"), str(uuid.uuid4())
    foreign = every_rpc(a_stub, b.network, cid)
    absent = every_rpc(a_stub, missing_net, missing_id)
    for rpc in ("get", "list", "delete", "save", "watch"):
        theirs, nobodys = refusal(foreign[rpc]), refusal(absent[rpc])
        assert nobodys.code() is grpc.StatusCode.NOT_FOUND, (rpc, nobodys)
        assert theirs.code() is grpc.StatusCode.NOT_FOUND, (rpc, theirs)
        expected = (
            (nobodys.details() or "").replace(missing_id, cid).replace(missing_net, b.network)
        )
        assert theirs.details() == expected, rpc
    # B's very request (which is idempotent for B) neither finds B's container nor adds one.
    same = create_request(b.network, "web", "CLUSTER_LOCAL")
    created = refusal(lambda: a_stub.createContainer(same, timeout=30))
    assert created.code() is grpc.StatusCode.PERMISSION_DENIED, created
    details = created.details() or ""
    assert f"network {b.network} is not available to tenant {a.name}" in details
    # The same words as for a namespace that is nobody's: whose it is is not said.
    reserved = refusal(
        lambda: a_stub.createContainer(create_request("kube-system", "web"), timeout=30)
    )
    assert details == (reserved.details() or "").replace("kube-system", b.network)
    assert versions(admin_api, b.network) == before
    assert namespace_phase(admin_api, missing_net) is None
    listed = b_stub.listContainer(pb.ListContainerRequest(network_name=b.network), timeout=30)
    assert [c.container_id for c in listed.containers] == [cid]


# -- 3. reserved and admin-made namespaces --------------------------------------------------


@pytest.mark.usefixtures("a_containers", "b_container")
def test_reserved_and_admin_made_namespaces_are_refused(
    admin_api: client.ApiClient, tenants: list[Tenant], stubs: list[Any]
) -> None:
    a, b = tenants
    core = client.CoreV1Api(admin_api)
    unlabelled = new_network_name("admin-made")
    core.create_namespace({"metadata": {"name": unlabelled}})
    refused = ("kube-system", "default", SERVER_NAMESPACE, unlabelled)
    try:
        for network in refused:
            error = refusal(
                lambda network=network: stubs[0].createContainer(
                    create_request(network), timeout=30
                )
            )
            assert error.code() is grpc.StatusCode.PERMISSION_DENIED, (network, error)
            assert f"network {network} is not available to tenant {a.name}" in (
                error.details() or ""
            )
        assert TENANT_KEY not in (core.read_namespace(unlabelled).metadata.labels or {})
        # The tenants' namespaces are the networks Container Maker made for them, and nothing
        # of ours is anywhere else but in namespaces of tenants (other modules' included).
        assert tenants_namespaces(admin_api, a.name) == {a.network}
        assert tenants_namespaces(admin_api, b.name) == {b.network}
        assert managed_outside(admin_api, tenants_namespaces(admin_api)) == []
        everywhere = managed_outside(admin_api, set())
        assert [o for o in everywhere if o.split("/")[1] in refused] == []
    finally:
        delete_namespace(admin_api, unlabelled)


# -- 4. per-tenant limits -------------------------------------------------------------------


def test_containers_per_tenant(
    tenants: list[Tenant], stubs: list[Any], a_containers: list[Any], b_container: Any
) -> None:
    a, b = tenants
    third = refusal(lambda: stubs[0].createContainer(create_request(a.network, "c9"), timeout=30))
    assert third.code() is grpc.StatusCode.RESOURCE_EXHAUSTED, third
    details = third.details() or ""
    assert "max_containers_per_tenant" in details and f"is {LIMIT}" in details, details
    listed = stubs[0].listContainer(pb.ListContainerRequest(network_name=a.network), timeout=30)
    assert sorted(c.container_id for c in listed.containers) == sorted(
        c.container_id for c in a_containers
    )
    # B is not counted against A's limit.
    more = stubs[1].createContainer(create_request(b.network, "more"), timeout=90)
    assert more.container_network == b.network


def test_creates_per_second(server_api: client.ApiClient, tenants: list[Tenant]) -> None:
    """A burst of 2, then one create per 100 s: A's third create is refused naming the limit
    (requests refused for their own reasons count too); B's bucket is its own."""
    settings = deployed_settings(max_creates_per_second=0.01, max_create_burst=2)
    with (
        running_server(server_api, settings=settings) as running,
        token_channel(running.address, tenants[0].token) as a_channel,
        token_channel(running.address, tenants[1].token) as b_channel,
    ):
        a_stub = service_pb2_grpc.ContainerMakerAPIStub(a_channel)
        b_stub = service_pb2_grpc.ContainerMakerAPIStub(b_channel)
        bad = create_request(tenants[0].network, "Not_A_Name")
        for _ in range(2):
            spent = refusal(lambda: a_stub.createContainer(bad, timeout=30))
            assert spent.code() is grpc.StatusCode.INVALID_ARGUMENT, spent
        limited = refusal(lambda: a_stub.createContainer(bad, timeout=30))
        assert limited.code() is grpc.StatusCode.RESOURCE_EXHAUSTED, limited
        details = limited.details() or ""
        assert "max_creates_per_second" in details and repr(tenants[0].name) in details, details
        other = refusal(lambda: b_stub.createContainer(bad, timeout=30))
        assert other.code() is grpc.StatusCode.INVALID_ARGUMENT, other


# -- 5. the status identity under the deployed RBAC -----------------------------------------


def test_one_status_identity_per_namespace_and_no_role(
    admin_api: client.ApiClient, tenants: list[Tenant], a_containers: list[Any]
) -> None:
    network = tenants[0].network
    core = client.CoreV1Api(admin_api)
    rbac = client.RbacAuthorizationV1Api(admin_api)
    accounts = [s.metadata.name for s in core.list_namespaced_service_account(network).items]
    assert sorted(accounts) == sorted(["default", STATUS])
    bindings = {
        rb.metadata.name: (
            rb.role_ref.kind,
            rb.role_ref.name,
            [(s.kind, s.namespace, s.name) for s in rb.subjects],
        )
        for rb in rbac.list_namespaced_role_binding(network).items
    }
    assert bindings == {
        "container-maker": (
            "ClusterRole",
            "container-maker-namespaced",
            [("ServiceAccount", SERVER_NAMESPACE, "container-maker")],
        ),
        STATUS: (
            "ClusterRole",
            "container-maker-status-reporter",
            [("ServiceAccount", network, STATUS)],
        ),
    }
    assert rbac.list_namespaced_role(network).items == []
    pods = core.list_namespaced_pod(network).items
    assert len(pods) == len(a_containers) == LIMIT
    assert {p.spec.service_account_name for p in pods} == {STATUS}
