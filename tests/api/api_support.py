"""Helpers for the API tests: an in-process server on the real cluster, and a client stub.

Every test talks to the server through a real gRPC channel on loopback; nothing calls the
servicer directly.
"""

from __future__ import annotations

import base64
import json
import queue
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import grpc
import pluggy
import pytest
import yaml
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from kubernetes import client
from kubernetes.stream import stream
from snapshot_support import agent_image
from status_agent_support import status_agent_image

from container_maker._proto import types_pb2 as pb
from container_maker.context import KubeContext
from container_maker.identity import (
    ID_KEY,
    MANAGED_BY_KEY,
    MANAGED_BY_VALUE,
    TENANT_KEY,
    label_selector,
)
from container_maker.settings import LOCAL_INGRESS_DOMAIN, Settings
from container_maker.testing import Serving, eventually, serving

# Re-exported for the API tests, which import their helpers from this module.
from container_maker.testing import managed_objects as managed_objects
from container_maker.testing import service_account_token as audience_token
from container_maker_namespace.access import ensure_access
from container_maker_testcluster import images
from container_maker_testcluster.pytest_plugin import TestCluster

LEVELS = {
    "INTERNAL": pb.EXPOSURE_LEVEL_INTERNAL,
    "CLUSTER_LOCAL": pb.EXPOSURE_LEVEL_CLUSTER_LOCAL,
    "CLUSTER_EXTERNAL": pb.EXPOSURE_LEVEL_CLUSTER_EXTERNAL,
    "EXPOSED": pb.EXPOSURE_LEVEL_EXPOSED,
}
ROOT = Path(__file__).resolve().parents[2]
TOP_KIND = {"INTERNAL": "pod", "CLUSTER_LOCAL": "service", "CLUSTER_EXTERNAL": "service"}


Running = Serving
"""A started in-process server and a channel to it (the kit's :class:`Serving`)."""


def served_settings(**values: Any) -> Settings:
    """Settings as ``./dev serve`` makes them (the local sandbox domain), with ``values``."""
    return Settings(**{"ingress_domain": LOCAL_INGRESS_DOMAIN, **values})


@contextmanager
def running_server(
    api_client: client.ApiClient,
    *,
    settings: Settings | None = None,
    plugin_manager: pluggy.PluginManager | None = None,
    **options: Any,
) -> Iterator[Running]:
    """Serve a manager on ``api_client`` on a free loopback port for the block's duration
    (the kit's :func:`serving`), with the settings of ``./dev serve`` unless ``settings``
    are given."""
    with serving(
        api_client,
        settings=settings or served_settings(),
        plugin_manager=plugin_manager,
        **options,
    ) as running:
        yield running


def create_request(
    network: str, name: str = "web", level: str = "INTERNAL", **changes: Any
) -> pb.CreateContainerRequest:
    values: dict[str, Any] = {
        "image_name": "nginx:1.27",
        "container_name": name,
        "network_name": network,
        "exposure_level": LEVELS[level],
        "publish_information": [pb.PublishInformation(publish_port=80, target_port=8080)],
        "environment_variables": {"MODE": "test"},
    }
    values.update(changes)
    return pb.CreateContainerRequest(**values)


def rpc_error(call: Any, request: Any, **kwargs: Any) -> grpc.RpcError:
    """The error ``call(request)`` fails with (the test fails if it succeeds)."""
    try:
        call(request, **kwargs)
    except grpc.RpcError as error:
        return error
    raise AssertionError(f"{request!r} succeeded, an error was expected")


def namespace_phase(api: client.ApiClient, name: str) -> str | None:
    """ "Active", "Terminating", or None when the namespace does not exist."""
    try:
        return str(client.CoreV1Api(api).read_namespace(name).status.phase)
    except client.ApiException as e:
        if e.status == 404:
            return None
        raise


def new_network_name(prefix: str = "api") -> str:
    """A namespace name that does not exist yet (Container Maker will create it)."""
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def delete_namespace(api: client.ApiClient, name: str) -> None:
    try:
        client.CoreV1Api(api).delete_namespace(name, propagation_policy="Background")
    except client.ApiException as e:
        if e.status != 404:
            raise


def token_client(admin_api: client.ApiClient, token: str) -> client.ApiClient:
    """A client for the same API server authenticating with ``token`` only (no admin
    certificate or token is carried over)."""
    admin = admin_api.configuration
    configuration = client.Configuration(host=admin.host)
    configuration.ssl_ca_cert = admin.ssl_ca_cert
    configuration.verify_ssl = admin.verify_ssl
    configuration.api_key = {"BearerToken": token}
    configuration.api_key_prefix = {"BearerToken": "Bearer"}
    return client.ApiClient(configuration)


def service_account_token(
    admin_api: client.ApiClient,
    namespace: str,
    name: str,
    seconds: int = 3600,
    *,
    bound_pod: str = "",
) -> str:
    """A fresh token of ServiceAccount ``namespace/name`` (TokenRequest API); with
    ``bound_pod``, bound to that pod (by name and uid) as the kubelet binds a projected token,
    so the API server adds the pod's name and uid to the user's extra."""
    spec: dict[str, Any] = {"expirationSeconds": seconds}
    if bound_pod:
        pod = client.CoreV1Api(admin_api).read_namespaced_pod(bound_pod, namespace)
        spec["boundObjectRef"] = {
            "apiVersion": "v1",
            "kind": "Pod",
            "name": bound_pod,
            "uid": pod.metadata.uid,
        }
    response = client.CoreV1Api(admin_api).create_namespaced_service_account_token(
        name, namespace, {"spec": spec}
    )
    return str(response.status.token)


def deployed_server_client(cluster: TestCluster, admin: client.ApiClient) -> client.ApiClient:
    """A client with the deployed server's credentials only: ``deploy/namespace.yaml``,
    ``deploy/rbac.yaml`` and ``deploy/status-reporter.yaml`` (the role the server binds each
    namespace's status identity to) applied to ``cluster``, then a fresh token (30 min) of the
    ServiceAccount they make for the server. The caller closes it."""
    for manifest in ("namespace.yaml", "rbac.yaml", "status-reporter.yaml"):
        cluster.kubectl("apply", "-f", str(ROOT / "deploy" / manifest))
    token = service_account_token(admin, "container-maker-system", "container-maker", 1800)
    return token_client(admin, token)


def sidecar_settings(node_registry: str, **values: Any) -> Settings:
    """Settings with ``values`` whose sidecar images (the status and snapshot agents built from
    this checkout) are pushed to ``node_registry``, the real node's."""
    return Settings(
        status_image=images.push(status_agent_image(), node_registry),
        snapshot_image=images.push(agent_image(), node_registry),
        **values,
    )


def exec_in_pod(
    api: client.ApiClient, namespace: str, pod: str, container: str, *command: str
) -> str:
    """Run ``command`` in one container of a pod with ``api``'s credentials; its output.

    On a client of its own: ``stream`` swaps the request function of the client it is given
    while the exec runs, which must not touch calls other threads make on ``api``."""
    own = client.ApiClient(api.configuration)
    try:
        output: str = stream(
            client.CoreV1Api(own).connect_get_namespaced_pod_exec,
            pod,
            namespace,
            container=container,
            command=list(command),
            stderr=True,
            stdin=False,
            stdout=True,
            tty=False,
        )
        return output
    finally:
        own.close()


class Watcher:
    """A watchContainers call read by a thread into a queue of (arrival time, event)."""

    def __init__(
        self,
        stub: Any,
        namespace: str,
        container_id: str = "",
        metadata: tuple[tuple[str, str], ...] = (),
    ) -> None:
        self.call = stub.watchContainers(
            pb.WatchContainersRequest(network_name=namespace, container_id=container_id),
            metadata=metadata,
        )
        self.events: queue.Queue[tuple[float, Any]] = queue.Queue()
        self.ended = threading.Event()
        self.error: grpc.RpcError | None = None
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        try:
            for event in self.call:
                self.events.put((time.monotonic(), event))
        except grpc.RpcError as error:
            self.error = error
        finally:
            self.ended.set()

    def until(self, predicate: Any, timeout: float = 60) -> tuple[float, Any]:
        """The first event accepted by ``predicate`` (earlier ones are dropped)."""
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            assert remaining > 0, "the expected event never arrived"
            try:
                arrived, event = self.events.get(timeout=remaining)
            except queue.Empty:
                continue
            if predicate(event):
                return arrived, event

    def synced(self) -> None:
        self.until(lambda e: e.type == pb.CONTAINER_EVENT_TYPE_SYNCED, timeout=30)

    def container(self, accept: Any, timeout: float = 60) -> Any:
        """The container of the first change (not SYNCED) whose container ``accept`` takes."""
        _, event = self.until(
            lambda e: e.type != pb.CONTAINER_EVENT_TYPE_SYNCED and accept(e.container), timeout
        )
        return event.container


STATUS_LEASE_POLICY = ROOT / "deploy" / "status-lease-policy.yaml"
STATUS_LEASE_POLICY_NAME = "container-maker-status-lease"
STATUS_REPORTER = ROOT / "deploy" / "status-reporter.yaml"
STATUS_ACCOUNT = "container-maker-status"


def denied_by_policy(error: client.ApiException) -> bool:
    """True when the API server refused a request because of the status Lease policy (a 403
    naming it), not because of RBAC (a 403 that says the user cannot do the verb)."""
    return error.status == 403 and f"ValidatingAdmissionPolicy '{STATUS_LEASE_POLICY_NAME}'" in (
        error.body or ""
    )


def install_status_reporter(api_client: client.ApiClient) -> None:
    """Make the ClusterRole of ``deploy/status-reporter.yaml`` unless it exists: a server run
    without deploy/ binds each namespace's status identity to it but never makes it, and
    without it a real status sidecar may patch nothing (for scripts without kubectl)."""
    (role,) = yaml.safe_load_all(STATUS_REPORTER.read_text())
    try:
        client.RbacAuthorizationV1Api(api_client).create_cluster_role(role)
    except client.ApiException as e:
        if e.status != 409:
            raise


def kubectl_has(cluster: Any, manifest: Path, count: int) -> bool:
    """Whether all ``count`` objects of ``manifest`` exist on ``cluster`` (whoever made them)."""
    result = cluster.kubectl(
        "get", "-f", str(manifest), "--ignore-not-found", "-o", "name", check=False
    )
    return len(result.stdout.split()) == count


class StatusLeasePolicy:
    """``deploy/status-lease-policy.yaml`` on a test cluster, with ``deploy/status-reporter.yaml``
    (the status identity's ClusterRole, which a server run without deploy/ does not make), and
    a probe of the policy's enforcement.

    The API server enforces a policy a moment after it is written, so installing or unbinding
    it waits until a real request says so: the probe is a status identity of its own (the
    ServiceAccount ``container-maker-status`` of a namespace of its own, bound to the
    ClusterRole like a server binds it) with a token bound to no pod, whose server-side dry run
    of a patch of a Lease is refused by the policy (no pod claim) exactly while it is enforced.
    """

    def __init__(self, cluster: Any) -> None:
        self.cluster = cluster
        self.admin: client.ApiClient = cluster.api_client()
        self.namespace = f"status-policy-probe-{uuid.uuid4().hex[:6]}"
        self.lease = "probe-status"
        self.reporter_was_installed = kubectl_has(cluster, STATUS_REPORTER, 1)
        cluster.kubectl("apply", "-f", str(STATUS_REPORTER))
        core = client.CoreV1Api(self.admin)
        core.create_namespace({"metadata": {"name": self.namespace}})
        eventually(
            lambda: self._service_account(core), lambda made: made, timeout=30
        )  # a new namespace may refuse objects for a moment
        client.RbacAuthorizationV1Api(self.admin).create_namespaced_role_binding(
            self.namespace,
            {
                "metadata": {"name": STATUS_ACCOUNT},
                "roleRef": {
                    "apiGroup": "rbac.authorization.k8s.io",
                    "kind": "ClusterRole",
                    "name": "container-maker-status-reporter",
                },
                "subjects": [
                    {"kind": "ServiceAccount", "name": STATUS_ACCOUNT, "namespace": self.namespace}
                ],
            },
        )
        client.CoordinationV1Api(self.admin).create_namespaced_lease(
            self.namespace,
            {
                "metadata": {
                    "name": self.lease,
                    "labels": {MANAGED_BY_KEY: MANAGED_BY_VALUE, ID_KEY: "probe"},
                },
                "spec": {},
            },
        )
        token = service_account_token(self.admin, self.namespace, STATUS_ACCOUNT, 3600)
        self.token_api = token_client(self.admin, token)
        self.was_installed = self.installed()

    def _service_account(self, core: client.CoreV1Api) -> bool:
        try:
            core.create_namespaced_service_account(
                self.namespace, {"metadata": {"name": STATUS_ACCOUNT}}
            )
        except client.ApiException as e:
            if e.status == 409:
                return True
            if e.status in (403, 404):
                return False
            raise
        return True

    def installed(self) -> bool:
        """Whether the policy and its binding exist (whoever made them)."""
        return kubectl_has(self.cluster, STATUS_LEASE_POLICY, 2)

    def enforced(self) -> bool:
        """Whether the API server refuses the probe's patch because of the policy now."""
        renew = {"spec": {"holderIdentity": "probe"}}
        try:
            client.CoordinationV1Api(self.token_api).patch_namespaced_lease(
                self.lease, self.namespace, renew, dry_run="All"
            )
        except client.ApiException as e:
            if denied_by_policy(e):
                return True
            raise
        return False

    def install(self) -> None:
        """Apply the policy and its binding from deploy/ and wait until they are enforced."""
        self.cluster.kubectl("apply", "-f", str(STATUS_LEASE_POLICY))
        eventually(self.enforced, lambda on: on, timeout=30)
        # The API server type-checked every expression against the Lease schema: a field it
        # does not know would be a warning here (and an error at admission).
        admission = client.AdmissionregistrationV1Api(self.admin)
        policy = eventually(
            lambda: admission.read_validating_admission_policy(STATUS_LEASE_POLICY_NAME),
            lambda p: (
                p.status is not None
                and p.status.observed_generation == p.metadata.generation
                and p.status.type_checking is not None
            ),
            timeout=30,
        )
        assert not policy.status.type_checking.expression_warnings, policy.status

    def unbind(self) -> None:
        """Delete the binding only (the policy stays) and wait until nothing is enforced."""
        self.cluster.kubectl(
            "delete",
            "validatingadmissionpolicybinding",
            STATUS_LEASE_POLICY_NAME,
            "--ignore-not-found",
        )
        eventually(self.enforced, lambda on: not on, timeout=30)

    def close(self) -> None:
        """Leave the cluster as it was found (the policy removed if this probe installed it)."""
        for manifest, was_installed in (
            (STATUS_LEASE_POLICY, self.was_installed),
            (STATUS_REPORTER, self.reporter_was_installed),
        ):
            if not was_installed:
                self.cluster.kubectl(
                    "delete", "-f", str(manifest), "--ignore-not-found", check=False
                )
        self.token_api.close()
        delete_namespace(self.admin, self.namespace)
        self.admin.close()


# -- the server's own least privilege (deploy/rbac.yaml, deploy/admission.yaml) ----------------

SERVER_ACCOUNT = "container-maker-system/container-maker"
SERVER_USER = "system:serviceaccount:container-maker-system:container-maker"
ADMISSION_POLICIES = ROOT / "deploy" / "admission.yaml"
POLICY_PARAMETERS = "container-maker-policy"


def set_policy_parameters(admin: client.ApiClient, **data: str) -> None:
    """Set entries of the policies' parameter ConfigMap (deploy/admission.yaml), as an
    operator keeps it in step with the server's flags."""
    client.CoreV1Api(admin).patch_namespaced_config_map(
        POLICY_PARAMETERS, "container-maker-system", {"data": data}
    )


# Left in place by tests that apply deploy/: the namespace, and the admission policies with
# their parameters (the API server can keep finding no parameters after they were deleted and
# made again, see the README; they match the server's own ServiceAccount only).
KEPT_MANIFESTS = ("namespace.yaml", "admission.yaml")
# deploy/ but the Deployment and its namespace's Service and NetworkPolicies: what a test needs
# around a server it runs in-process under the deployed ServiceAccount's token.
SERVERLESS_MANIFESTS = (
    "namespace.yaml",
    "rbac.yaml",
    "status-reporter.yaml",
    "status-lease-policy.yaml",
    "admission.yaml",
    "containers-resource.yaml",
)
CONTAINERS_RESOURCE = ROOT / "deploy" / "containers-resource.yaml"


def apply_deployed(cluster: TestCluster, manifests: tuple[str, ...] = SERVERLESS_MANIFESTS) -> None:
    """Apply the files ``manifests`` of deploy/, in order."""
    for name in manifests:
        cluster.kubectl("apply", "-f", str(ROOT / "deploy" / name))


def remove_deployed(cluster: TestCluster, manifests: list[str]) -> None:
    """Delete the files ``manifests`` of deploy/ but :data:`KEPT_MANIFESTS`, then wait until
    the resource definition of containers-resource.yaml is gone: one still being deleted
    cannot be applied again (by the next module that needs it)."""
    files = [f"--filename={ROOT / 'deploy' / name}" for name in manifests]
    files = [f for f in files if not f.endswith(KEPT_MANIFESTS)]
    cluster.kubectl("delete", *files, "--wait=false", "--ignore-not-found")
    cluster.kubectl(
        "wait", "--for=delete", f"--filename={CONTAINERS_RESOURCE}", "--timeout=60s", check=False
    )


def restore_policy_parameters(admin: client.ApiClient) -> None:
    """Set the policies' parameters back to those deploy/admission.yaml ships. Tests leave
    the policies and their ConfigMap in place (see test_api_deploy.py's server_namespace)."""
    shipped = yaml.safe_load_all(ADMISSION_POLICIES.read_text())
    set_policy_parameters(admin, **next(d for d in shipped if d["kind"] == "ConfigMap")["data"])


def denied_by(error: client.ApiException, policy: str) -> bool:
    """True when ``error`` is the refusal of the ValidatingAdmissionPolicy ``policy``."""
    return error.status == 403 and f"ValidatingAdmissionPolicy '{policy}'" in (error.body or "")


def tenant_namespace(
    admin: client.ApiClient, name: str, tenant: str = "tenant-a", pod_security: str = "baseline"
) -> None:
    """Create namespace ``name`` as Container Maker's for ``tenant`` (as an admin)."""
    labels = {
        MANAGED_BY_KEY: MANAGED_BY_VALUE,
        TENANT_KEY: tenant,
        "pod-security.kubernetes.io/enforce": pod_security,
    }
    client.CoreV1Api(admin).create_namespace({"metadata": {"name": name, "labels": labels}})


def allowed(
    api: client.ApiClient,
    verb: str,
    group: str,
    resource: str,
    sub: str,
    ns: str,
    name: str = "",
) -> bool:
    """Whether ``api``'s own credentials may do the verb (a SelfSubjectAccessReview: RBAC
    only, admission policies are not asked)."""
    review: Any = {
        "spec": {
            "resourceAttributes": {
                "verb": verb,
                "group": group,
                "resource": resource,
                "subresource": sub,
                "namespace": ns,
                "name": name,
            }
        }
    }
    result = client.AuthorizationV1Api(api).create_self_subject_access_review(review)
    return bool(result.status.allowed)


def bind_server(server_api: client.ApiClient, namespace: str) -> None:
    """The server's own RoleBinding in ``namespace``, made with ``server_api`` (its token) as
    the namespace plugin makes it, once it is in force."""
    context = KubeContext(
        api_client=server_api,
        settings=Settings(server_service_account=SERVER_ACCOUNT),
        deadline=time.monotonic() + 30,
    )
    ensure_access(namespace, context)


# -- callers: every RPC, refused credentials -----------------------------------------------------

AUDIENCE = "container-maker"
TOKEN_OFFER = "this server accepts a Kubernetes bearer token"


def every_rpc(api: Any, network: str, container_id: str = "") -> dict[str, Callable[[], Any]]:
    """One call of each RPC of the API on ``network`` (the calls that name a container name
    ``container_id``, by default one that never existed)."""
    some_id = container_id or str(uuid.uuid4())
    return {
        "create": lambda: api.createContainer(create_request(network), timeout=30),
        "get": lambda: api.getContainer(
            pb.GetContainerRequest(container_id=some_id, network_name=network), timeout=30
        ),
        "list": lambda: api.listContainer(
            pb.ListContainerRequest(network_name=network), timeout=30
        ),
        "delete": lambda: api.deleteContainer(
            pb.DeleteContainerRequest(container_id=some_id, network_name=network), timeout=30
        ),
        "save": lambda: api.saveContainer(
            pb.SaveContainerRequest(container_id=some_id, network_name=network), timeout=30
        ),
        "watch": lambda: next(
            iter(api.watchContainers(pb.WatchContainersRequest(network_name=network), timeout=30))
        ),
    }


def refusal(call: Callable[[], Any]) -> grpc.RpcError:
    """The error ``call()`` fails with (the test fails if it succeeds)."""
    try:
        call()
    except grpc.RpcError as error:
        return error
    raise AssertionError("the call succeeded")


def assert_unauthenticated(api: Any, network: str, offer: str) -> None:
    """Every RPC on ``network`` through ``api`` is UNAUTHENTICATED, offering ``offer``."""
    for name, call in every_rpc(api, network).items():
        error = refusal(call)
        assert error.code() is grpc.StatusCode.UNAUTHENTICATED, (name, error)
        assert offer in (error.details() or ""), (name, error.details())


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def resigned(token: str, key: rsa.RSAPrivateKey, **claims: Any) -> str:
    """``token`` with ``claims`` changed, signed again (RS256) with ``key``."""
    header, payload, _ = token.split(".")
    body = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    body.update(claims)
    signing_input = f"{header}.{_b64(json.dumps(body).encode())}"
    signature = key.sign(signing_input.encode(), padding.PKCS1v15(), hashes.SHA256())
    return f"{signing_input}.{_b64(signature)}"


def reviewed(admin_api: client.ApiClient, token: str, audience: str = AUDIENCE) -> bool:
    """Whether the API server accepts ``token`` for ``audience`` (a TokenReview)."""
    body: Any = {"spec": {"token": token, "audiences": [audience]}}
    status = client.AuthenticationV1Api(admin_api).create_token_review(body).status
    return bool(status and status.authenticated)


def expired_token(
    cluster: TestCluster, admin_api: client.ApiClient, namespace: str, account: str
) -> str:
    """A token of ServiceAccount ``namespace/account`` for :data:`AUDIENCE` whose ``exp`` is
    past, signed with the cluster's service-account key; the API server refuses it, and
    accepts the same claims signed the same way but not expired (so the expiry is the only
    reason). Skips the test on a cluster not started here (its key is unknown)."""
    if cluster.local is None:
        pytest.skip("an expired token is signed with the key of a cluster started here")
    key = serialization.load_pem_private_key(
        cluster.local.pki.sa_private_key.read_bytes(), password=None
    )
    assert isinstance(key, rsa.RSAPrivateKey)
    token = audience_token(admin_api, namespace, account, (AUDIENCE,), seconds=600)
    now = int(time.time())
    assert reviewed(admin_api, resigned(token, key))
    expired = resigned(token, key, iat=now - 3600, nbf=now - 3600, exp=now - 600)
    assert not reviewed(admin_api, expired)
    return expired


# -- tenants' objects, seen by an admin ----------------------------------------------------------


def versions(admin: client.ApiClient, namespace: str) -> dict[str, str]:
    """kind/name -> resourceVersion of the namespace and of everything of ours in it."""
    core = client.CoreV1Api(admin)
    rbac = client.RbacAuthorizationV1Api(admin)
    listings: dict[str, Callable[..., Any]] = {
        "pod": core.list_namespaced_pod,
        "service": core.list_namespaced_service,
        "serviceaccount": core.list_namespaced_service_account,
        "role": rbac.list_namespaced_role,
        "rolebinding": rbac.list_namespaced_role_binding,
        "lease": client.CoordinationV1Api(admin).list_namespaced_lease,
        "networkpolicy": client.NetworkingV1Api(admin).list_namespaced_network_policy,
        "resourcequota": core.list_namespaced_resource_quota,
    }
    found = {
        f"{kind}/{obj.metadata.name}": obj.metadata.resource_version
        for kind, listing in listings.items()
        for obj in listing(namespace, label_selector=label_selector()).items
    }
    found["namespace"] = core.read_namespace(namespace).metadata.resource_version
    return found


def tenants_namespaces(admin: client.ApiClient, *tenants: str) -> set[str]:
    """The namespaces labelled for one of ``tenants`` (for any tenant when none is named)."""
    core = client.CoreV1Api(admin)
    selector = f"{TENANT_KEY} in ({','.join(tenants)})" if tenants else TENANT_KEY
    return {ns.metadata.name for ns in core.list_namespace(label_selector=selector).items}


def managed_outside(admin: client.ApiClient, allowed: set[str]) -> list[str]:
    """kind/namespace/name of the objects of ours (pods, Services, ServiceAccounts, Leases,
    RoleBindings), listed across all namespaces, that are in no namespace of ``allowed``."""
    core = client.CoreV1Api(admin)
    listings: dict[str, Callable[..., Any]] = {
        "pod": core.list_pod_for_all_namespaces,
        "service": core.list_service_for_all_namespaces,
        "serviceaccount": core.list_service_account_for_all_namespaces,
        "lease": client.CoordinationV1Api(admin).list_lease_for_all_namespaces,
        "rolebinding": client.RbacAuthorizationV1Api(admin).list_role_binding_for_all_namespaces,
    }
    return [
        f"{kind}/{obj.metadata.namespace}/{obj.metadata.name}"
        for kind, listing in listings.items()
        for obj in listing(label_selector=label_selector()).items
        if obj.metadata.namespace not in allowed
    ]
