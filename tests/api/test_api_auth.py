"""Callers on the real test cluster: authentication of every RPC, API keys, mutual TLS,
SubjectAccessReview authorization, and the safe serving defaults.

Servers run in-process on loopback with the admin's credentials (they may review tokens and
access); the callers come through real channels with real credentials: ServiceAccount tokens
from the TokenRequest API, an expired token signed with the cluster's own service-account key,
API keys in a file, certificates of a test CA.
"""

from __future__ import annotations

import json
import logging
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import api_support
import grpc
import pytest
from api_support import (
    AUDIENCE,
    CONTAINERS_RESOURCE,
    TOKEN_OFFER,
    Running,
    assert_unauthenticated,
    delete_namespace,
    namespace_phase,
    refusal,
    running_server,
    served_settings,
)
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc
from kubernetes import client
from test_api_server import CONTAINER_MAKER, refused_serve

from container_maker._proto import service_pb2_grpc
from container_maker._proto import types_pb2 as pb
from container_maker.auth import VERBS, Access, Credentials
from container_maker.context import KubeContext
from container_maker.errors import Forbidden
from container_maker.manager import ContainerManager
from container_maker.tenancy import assign_namespace
from container_maker.testing import (
    ApiKeys,
    TestPki,
    api_key_channel,
    certificate_channel,
    eventually,
    service_account_token,
    token_channel,
)

KEY_OFFER = "this server accepts an API key"
RULES = [
    {"apiGroups": ["container-maker.io"], "resources": ["containers"], "verbs": ["list", "watch"]}
]


# -- fixtures -----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def tenant(admin_api: client.ApiClient) -> Iterator[str]:
    """A namespace with ServiceAccounts ``reader`` (may list and watch
    containers.container-maker.io there, by a RoleBinding) and ``nobody`` (no binding),
    assigned by the operator to the tenant of the same name (a ServiceAccount's tenant is its
    namespace)."""
    name = f"auth-{uuid.uuid4().hex[:8]}"
    core = client.CoreV1Api(admin_api)
    rbac = client.RbacAuthorizationV1Api(admin_api)
    core.create_namespace({"metadata": {"name": name}})
    assign_namespace(admin_api, name, name)
    for account in ("reader", "nobody"):
        core.create_namespaced_service_account(name, {"metadata": {"name": account}})
    rbac.create_namespaced_role(name, {"metadata": {"name": "lister"}, "rules": RULES})
    rbac.create_namespaced_role_binding(
        name,
        {
            "metadata": {"name": "lister"},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "lister"},
            "subjects": [{"kind": "ServiceAccount", "name": "reader", "namespace": name}],
        },
    )
    yield name
    delete_namespace(admin_api, name)


@pytest.fixture(scope="module")
def token_server(admin_api: client.ApiClient) -> Iterator[Running]:
    settings = served_settings(authenticators=("kubernetes-token",), token_audiences=(AUDIENCE,))
    with running_server(admin_api, settings=settings) as running:
        yield running


@pytest.fixture(scope="module")
def keys(tmp_path_factory: pytest.TempPathFactory) -> ApiKeys:
    return ApiKeys(tmp_path_factory.mktemp("keys") / "api-keys.json")


@pytest.fixture(scope="module")
def key_server(admin_api: client.ApiClient, keys: ApiKeys) -> Iterator[Running]:
    settings = keys.settings(served_settings(), api_keys_reload_seconds=RELOAD_SECONDS)
    with running_server(admin_api, settings=settings) as running:
        yield running


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> TestPki:
    return TestPki(tmp_path_factory.mktemp("pki"))


@pytest.fixture(scope="module")
def mtls_server(admin_api: client.ApiClient, pki: TestPki) -> Iterator[Running]:
    settings = served_settings(authenticators=("client-certificate",))
    channel = grpc.insecure_channel("127.0.0.1:1")  # unused: each test opens its own
    with running_server(admin_api, settings=settings, tls=pki.server_tls(), channel=channel) as r:
        yield r


RELOAD_SECONDS = 0.5


def new_key(keys: ApiKeys, name: str, tenant: str, verbs: tuple[str, ...] = VERBS) -> str:
    """A key added to the file and seen by the server (which re-reads it every half second)."""
    key = keys.add(name, tenant, verbs)
    time.sleep(2 * RELOAD_SECONDS)
    return key


def stub(channel: grpc.Channel) -> Any:
    return service_pb2_grpc.ContainerMakerAPIStub(channel)


@pytest.fixture(scope="module")
def expired_token(kube_cluster: Any, admin_api: client.ApiClient, tenant: str) -> str:
    """An expired token of ``reader`` for the right audience (see api_support)."""
    return api_support.expired_token(kube_cluster, admin_api, tenant, "reader")


# -- authentication of every RPC ----------------------------------------------------------------


def test_no_credentials_is_unauthenticated_for_every_rpc(
    token_server: Running, tenant: str, admin_api: client.ApiClient
) -> None:
    network = f"auth-none-{uuid.uuid4().hex[:6]}"
    assert_unauthenticated(token_server.stub, network, TOKEN_OFFER)
    assert namespace_phase(admin_api, network) is None  # create did nothing


@pytest.mark.parametrize("kind", ["garbage", "expired", "wrong-audience"])
def test_bad_tokens_are_unauthenticated_for_every_rpc(
    kind: str, token_server: Running, tenant: str, admin_api: client.ApiClient, request: Any
) -> None:
    if kind == "garbage":
        token = "not-a-token"
    elif kind == "expired":
        token = request.getfixturevalue("expired_token")
    else:
        token = service_account_token(admin_api, tenant, "reader", ("someone-else",))
    with token_channel(token_server.address, token) as channel:
        assert_unauthenticated(stub(channel), tenant, TOKEN_OFFER)


def test_a_good_token_gets_through_and_the_caller_is_logged(
    token_server: Running, tenant: str, admin_api: client.ApiClient, caplog: Any
) -> None:
    token = service_account_token(admin_api, tenant, "reader", (AUDIENCE,))
    caplog.set_level(logging.INFO, logger="container_maker.api.interceptor")
    with token_channel(token_server.address, token) as channel:
        listed = stub(channel).listContainer(pb.ListContainerRequest(network_name=tenant))
    assert list(listed.containers) == []
    (line,) = [r for r in caplog.records if r.getMessage() == "rpc" and hasattr(r, "user")]
    assert (line.user, line.tenant, line.auth) == (  # type: ignore[attr-defined]
        f"system:serviceaccount:{tenant}:reader",
        tenant,
        "kubernetes-token",
    )
    assert token not in caplog.text


def test_health_needs_no_credentials(token_server: Running) -> None:
    health = health_pb2_grpc.HealthStub(token_server.channel)
    answer = health.Check(health_pb2.HealthCheckRequest(), timeout=10)
    assert answer.status == health_pb2.HealthCheckResponse.SERVING


# -- authorization: SubjectAccessReview ---------------------------------------------------------


def identity_of(manager: ContainerManager, token: str) -> Any:
    context = KubeContext(
        api_client=manager.api_client, settings=manager.settings, deadline=time.monotonic() + 30
    )
    credentials = Credentials(metadata={"authorization": (f"Bearer {token}",)})
    identity = manager.hooks.authenticate(
        credentials=credentials, settings=manager.settings, context=context
    )
    return identity, context


def can_i(kube_cluster: Any, verb: str, namespace: str, user: str) -> str:
    result = kube_cluster.kubectl(
        "auth",
        "can-i",
        verb,
        "containers.container-maker.io",
        "-n",
        namespace,
        f"--as={user}",
        check=False,
    )
    assert not result.stderr, result.stderr  # a warning would mean kubectl asked about another
    return str(result.stdout.strip())


@pytest.fixture(scope="module")
def containers_resource(kube_cluster: Any) -> Iterator[None]:
    """deploy/containers-resource.yaml applied (what kubectl auth can-i needs to know the
    resource), and removed afterwards unless it was there before."""
    there = kube_cluster.kubectl("get", "-f", str(CONTAINERS_RESOURCE), check=False).returncode == 0
    kube_cluster.kubectl("apply", "-f", str(CONTAINERS_RESOURCE))
    kube_cluster.kubectl(
        "wait",
        "--for=condition=Established",
        "customresourcedefinition/containers.container-maker.io",
        "--timeout=60s",
    )
    yield
    if not there:
        kube_cluster.kubectl("delete", "-f", str(CONTAINERS_RESOURCE), check=False)


@pytest.mark.usefixtures("containers_resource")
def test_subject_access_review_follows_rbac_and_kubectl_agrees(
    kube_cluster: Any, admin_api: client.ApiClient, tenant: str
) -> None:
    manager = ContainerManager(
        admin_api,
        settings=served_settings(authenticators=("kubernetes-token",), token_audiences=(AUDIENCE,)),
    )
    for account, verb, namespace, allowed in [
        ("reader", "list", tenant, True),
        ("reader", "create", tenant, False),
        ("reader", "list", "default", False),
        ("nobody", "list", tenant, False),
    ]:
        token = service_account_token(admin_api, tenant, account, (AUDIENCE,))
        identity, context = identity_of(manager, token)
        assert identity.verbs is None and identity.tenant == tenant
        access = Access(verb=verb, network_name=namespace, namespace=namespace)
        user = f"system:serviceaccount:{tenant}:{account}"
        assert can_i(kube_cluster, verb, namespace, user) == ("yes" if allowed else "no")
        if allowed:
            manager.hooks.authorize(identity=identity, access=access, context=context)
        else:
            with pytest.raises(Forbidden, match="RBAC does not grant"):
                manager.hooks.authorize(identity=identity, access=access, context=context)


def test_a_token_without_a_role_binding_is_permission_denied(
    token_server: Running, tenant: str, admin_api: client.ApiClient
) -> None:
    token = service_account_token(admin_api, tenant, "nobody", (AUDIENCE,))
    with token_channel(token_server.address, token) as channel:
        error = refusal(
            lambda: stub(channel).listContainer(pb.ListContainerRequest(network_name=tenant))
        )
    assert error.code() is grpc.StatusCode.PERMISSION_DENIED


# -- API keys -----------------------------------------------------------------------------------


def test_api_keys_good_wrong_unknown(key_server: Running, keys: ApiKeys, tenant: str) -> None:
    key = new_key(keys, "frontend", tenant)
    with api_key_channel(key_server.address, key) as channel:
        assert (
            list(
                stub(channel).listContainer(pb.ListContainerRequest(network_name=tenant)).containers
            )
            == []
        )
    wrong = key[:-6] + ("AAAAAA" if not key.endswith("AAAAAA") else "BBBBBB")
    unknown = "cmk_000000000000_" + key.split("_", 2)[2]
    for bad in (wrong, unknown, "sk-live-123"):
        with api_key_channel(key_server.address, bad) as channel:
            assert_unauthenticated(stub(channel), tenant, KEY_OFFER)
    assert_unauthenticated(key_server.stub, tenant, KEY_OFFER)  # no key at all


def test_api_keys_rotate_without_restart(key_server: Running, keys: ApiKeys, tenant: str) -> None:
    old = new_key(keys, "rotating-old", tenant)
    listing = pb.ListContainerRequest(network_name=tenant)
    with api_key_channel(key_server.address, old) as channel:
        stub(channel).listContainer(listing, timeout=30)
    new = keys.add("rotating-new", tenant)
    keys.remove("rotating-old")
    time.sleep(2 * RELOAD_SECONDS)
    with api_key_channel(key_server.address, new) as channel:
        stub(channel).listContainer(listing, timeout=30)
    with api_key_channel(key_server.address, old) as channel:
        error = refusal(lambda: stub(channel).listContainer(listing, timeout=30))
    assert error.code() is grpc.StatusCode.UNAUTHENTICATED


def test_api_key_verbs_are_enforced_by_the_core(
    key_server: Running, keys: ApiKeys, tenant: str, admin_api: client.ApiClient
) -> None:
    key = new_key(keys, "getter", tenant, ("get",))
    settings = keys.settings(served_settings(), api_keys_reload_seconds=RELOAD_SECONDS)
    manager = ContainerManager(admin_api, settings=settings)
    context = KubeContext(
        api_client=admin_api, settings=manager.settings, deadline=time.monotonic() + 30
    )
    identity = manager.hooks.authenticate(
        credentials=Credentials(metadata={"x-api-key": (key,)}),
        settings=manager.settings,
        context=context,
    )
    assert identity is not None and identity.verbs == frozenset({"get"})
    get = Access(verb="get", network_name=tenant, namespace=tenant)
    manager.hooks.authorize(identity=identity, access=get, context=context)
    with pytest.raises(Forbidden, match="may not list"):
        manager.hooks.authorize(
            identity=identity, access=get.model_copy(update={"verb": "list"}), context=context
        )


def test_an_api_key_without_the_verb_is_permission_denied(
    key_server: Running, keys: ApiKeys, tenant: str
) -> None:
    key = new_key(keys, "getter-api", tenant, ("get",))
    with api_key_channel(key_server.address, key) as channel:
        error = refusal(
            lambda: stub(channel).listContainer(pb.ListContainerRequest(network_name=tenant))
        )
    assert error.code() is grpc.StatusCode.PERMISSION_DENIED


# -- mutual TLS ---------------------------------------------------------------------------------


def test_the_client_certificate_is_the_caller(
    mtls_server: Running, pki: TestPki, tenant: str, caplog: Any
) -> None:
    cert, key = pki.client("alice", (tenant,))
    caplog.set_level(logging.INFO, logger="container_maker.api.interceptor")
    with certificate_channel(f"localhost:{mtls_server.port}", pki.ca_cert, cert, key) as channel:
        stub(channel).listContainer(pb.ListContainerRequest(network_name=tenant), timeout=30)
    (line,) = [r for r in caplog.records if r.getMessage() == "rpc" and hasattr(r, "user")]
    assert (line.user, line.tenant, line.auth) == ("alice", tenant, "client-certificate")  # type: ignore[attr-defined]


def test_a_certificate_of_another_ca_is_refused_at_the_handshake(
    mtls_server: Running, pki: TestPki, tenant: str, tmp_path: Path, caplog: Any
) -> None:
    stranger = TestPki(tmp_path / "other")
    cert, key = stranger.client("mallory", ("team-a",))
    caplog.set_level(logging.DEBUG, logger="container_maker.api.interceptor")
    for presented in ((cert, key), (None, None)):
        with certificate_channel(f"localhost:{mtls_server.port}", pki.ca_cert, *presented) as ch:
            error = refusal(
                lambda ch=ch: stub(ch).listContainer(
                    pb.ListContainerRequest(network_name=tenant), timeout=10
                )
            )
        assert error.code() is grpc.StatusCode.UNAVAILABLE, error
    assert not [r for r in caplog.records if r.getMessage() == "rpc"]  # no call got in


# -- safe defaults ------------------------------------------------------------------------------


def test_serving_on_the_network_without_tls_refuses_before_anything() -> None:
    # A kubeconfig that does not exist: the refusal must come before looking for a cluster.
    stderr = refused_serve("--host=0.0.0.0", "--kubeconfig=/nonexistent/kubeconfig")
    assert "refusing to serve plaintext while listening on 0.0.0.0" in stderr
    assert "--insecure-plaintext-on-network" in stderr
    assert "kubeconfig" not in stderr


def test_serving_on_the_network_without_an_authenticator_refuses(pki: TestPki) -> None:
    cert, key = pki.server()
    stderr = refused_serve(
        "--host=0.0.0.0",
        f"--tls-cert={cert}",
        f"--tls-key={key}",
        "--kubeconfig=/nonexistent/kubeconfig",
    )
    assert "refusing to serve without an authenticator" in stderr
    assert "--insecure-anonymous-on-network" in stderr


def test_an_unknown_authenticator_is_a_startup_error() -> None:
    stderr = refused_serve("--authenticator=oidc", "--kubeconfig=/nonexistent/kubeconfig")
    assert "unknown authenticator oidc" in stderr
    assert "api-key, client-certificate, kubernetes-token" in stderr


def test_reflection_is_off_by_default(admin_api: client.ApiClient) -> None:
    with running_server(admin_api) as running:
        reflection = reflection_pb2_grpc.ServerReflectionStub(running.channel)
        answers = reflection.ServerReflectionInfo(
            iter([reflection_pb2.ServerReflectionRequest(list_services="")]), timeout=10
        )
        with pytest.raises(grpc.RpcError) as missing:
            next(iter(answers))
    assert missing.value.code() is grpc.StatusCode.UNIMPLEMENTED


def test_api_key_new_prints_the_key_once_and_its_entry() -> None:
    result = subprocess.run(
        [CONTAINER_MAKER, "api-key", "new", "--name=fe", "--tenant=team-a", "--verb=list"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    lines = result.stdout.splitlines()
    key, entry = lines[1], json.loads(lines[3])
    assert key.startswith("cmk_") and key not in lines[3]
    assert (entry["name"], entry["tenant"], entry["verbs"]) == ("fe", "team-a", ["list"])


def test_a_good_token_opens_a_watch_stream(
    token_server: Running, tenant: str, admin_api: client.ApiClient, caplog: Any
) -> None:
    token = service_account_token(admin_api, tenant, "reader", (AUDIENCE,))
    caplog.set_level(logging.INFO, logger="container_maker.api.interceptor")
    with token_channel(token_server.address, token) as channel:
        stream = stub(channel).watchContainers(
            pb.WatchContainersRequest(network_name=tenant), timeout=30
        )
        first = next(iter(stream))
        stream.cancel()
    assert first.type == pb.CONTAINER_EVENT_TYPE_SYNCED
    # The stream's line comes once it has ended, a moment after the cancel.
    (line,) = eventually(
        lambda: [
            r for r in caplog.records if getattr(r, "method", "").endswith("/watchContainers")
        ],
        lambda found: bool(found),
        timeout=10,
    )
    assert line.user == f"system:serviceaccount:{tenant}:reader"  # type: ignore[attr-defined]
