"""deploy/admission.yaml against the real API server, acting with the server's real token.

``kubectl auth can-i`` and SelfSubjectAccessReviews see RBAC only (test_api_deploy.py checks
that matrix); what the ValidatingAdmissionPolicies decide is checked here by real requests
(server-side dry runs where a write would be admitted), each asserted to be refused by the
named policy, not by RBAC. The server binds itself into a tenant's namespace first, as the
namespace plugin does (:mod:`container_maker_namespace.access`), so RBAC admits what the
policies then judge.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from api_support import (
    ADMISSION_POLICIES,
    POLICY_PARAMETERS,
    ROOT,
    bind_server,
    delete_namespace,
    denied_by,
    namespace_phase,
    restore_policy_parameters,
    service_account_token,
    set_policy_parameters,
    tenant_namespace,
    token_client,
)
from kubernetes import client

from container_maker.errors import PermissionDenied
from container_maker.testing import eventually
from container_maker_snapshot.save import AUTH_FILE, LOCK_DIR, agent_command

DOMAIN = "sandbox.test"
REGISTRY = "registry.test:5000"
ENDPOINT = f"{REGISTRY}=10.9.8.7:5000"
SECRET = "registry-auth"
PARAMETERS = {
    "ingressDomain": DOMAIN,
    "registry": REGISTRY,
    "registryEndpoints": ENDPOINT,
    "registryInsecure": REGISTRY,
    "registrySecret": SECRET,
}
SIDECAR = "cm-snapshot"
RUNTIME_ID = "0123456789abcdef" * 4
NAMESPACES = "container-maker-namespaces"
PREFIX = "container-maker-namespace-prefix"
ROLEBINDINGS = "container-maker-rolebindings"
EXEC = "container-maker-pod-exec"
PODS = "container-maker-pods"
SERVICES = "container-maker-services"


def outcome(action: Callable[[], Any]) -> client.ApiException | None:
    """The API server's refusal of ``action``, None when it was admitted."""
    try:
        action()
    except client.ApiException as e:
        return e
    return None


def refusal(action: Callable[[], Any]) -> client.ApiException:
    refused = outcome(action)
    assert refused is not None, "the request was admitted, a refusal was expected"
    return refused


def refused_by(policy: str) -> Callable[[client.ApiException | None], bool]:
    return lambda refused: refused is not None and denied_by(refused, policy)


@pytest.fixture(scope="module")
def admin(kube_cluster: Any) -> Iterator[client.ApiClient]:
    api = kube_cluster.api_client()
    yield api
    api.close()


@pytest.fixture(scope="module")
def server_api(kube_cluster: Any, admin: client.ApiClient) -> Iterator[client.ApiClient]:
    """The server's token, with deploy/'s RBAC and admission policies applied (parameters as
    in :data:`PARAMETERS`)."""
    # test_api_deploy.py deletes deploy/ at its end without waiting: let that finish first.
    eventually(
        lambda: namespace_phase(admin, "container-maker-system"), lambda p: p != "Terminating", 120
    )
    for manifest in ("namespace.yaml", "rbac.yaml", "admission.yaml"):
        kube_cluster.kubectl("apply", "-f", str(ROOT / "deploy" / manifest))
    set_policy_parameters(admin, **PARAMETERS)
    token = service_account_token(admin, "container-maker-system", "container-maker", 1800)
    api = token_client(admin, token)
    yield api
    api.close()
    restore_policy_parameters(admin)


@pytest.fixture(scope="module")
def tenant(admin: client.ApiClient, server_api: client.ApiClient) -> Iterator[str]:
    """A tenant's namespace the server is bound into, with a pod like ours (user container
    ``web`` and the snapshot sidecar), made by the admin. Its Pod Security level is
    privileged so that what the pods policy refuses is not refused by Pod Security first."""
    name = f"adm-{uuid.uuid4().hex[:8]}"
    # Pod Security "privileged": it would refuse most bad pods itself, before the policy.
    tenant_namespace(admin, name, pod_security="privileged")
    bind_server(server_api, name)
    # The namespace's status identity, made with the server's token as the status plugin does
    # (pods naming a missing ServiceAccount never reach the policies).
    client.CoreV1Api(server_api).create_namespaced_service_account(
        name, {"metadata": {"name": "container-maker-status"}}
    )
    eventually(
        lambda: [
            a.metadata.name
            for a in client.CoreV1Api(admin).list_namespaced_service_account(name).items
        ],
        lambda names: "default" in names,
        30,
    )
    client.CoreV1Api(admin).create_namespaced_pod(
        name,
        {
            "metadata": {"name": "web"},
            "spec": {
                "containers": [
                    {"name": "web", "image": "nginx:1.27"},
                    {"name": SIDECAR, "image": "snapshot-agent:test"},
                ]
            },
        },
    )
    yield name
    delete_namespace(admin, name)


@pytest.fixture(scope="module")
def enforced(server_api: client.ApiClient, tenant: str) -> None:
    """Wait until the API server enforces each policy (they apply a moment after they are
    written): one request each policy refuses."""
    core = client.CoreV1Api(server_api)
    probes = {
        NAMESPACES: lambda: core.create_namespace(
            {"metadata": {"name": "probe-unlabelled"}}, dry_run="All"
        ),
        PODS: lambda: core.create_namespaced_pod(tenant, pod(hostNetwork=True), dry_run="All"),
        SERVICES: lambda: core.create_namespaced_service(
            tenant, service(externalIPs=["1.2.3.4"]), dry_run="All"
        ),
        ROLEBINDINGS: lambda: client.RbacAuthorizationV1Api(
            server_api
        ).create_namespaced_role_binding(
            tenant,
            binding(
                "container-maker-namespaced",
                subject={"kind": "ServiceAccount", "name": "default", "namespace": tenant},
            ),
            dry_run="All",
        ),
        EXEC: lambda: exec_post(server_api, tenant, "web", ["/bin/sh"]),
    }
    for policy, probe in probes.items():
        eventually(lambda probe=probe: outcome(probe), refused_by(policy), 90)


# -- request bodies ------------------------------------------------------------------------------


def pod(account: str = "container-maker-status", **spec: Any) -> dict[str, Any]:
    """A pod shaped like ours, with ``spec`` entries on top."""
    container = {
        "name": "web",
        "image": "nginx:1.27",
        "securityContext": {"allowPrivilegeEscalation": False, "privileged": False},
    }
    body: dict[str, Any] = {
        "containers": [container],
        "volumes": [{"name": "cm-snapshot", "emptyDir": {}}],
        "automountServiceAccountToken": False,
        "serviceAccountName": account,
    }
    body.update(spec)
    return {"metadata": {"name": "probe"}, "spec": body}


def service(**spec: Any) -> dict[str, Any]:
    return {
        "metadata": {"name": "probe"},
        "spec": {"type": "ClusterIP", "ports": [{"port": 80}], **spec},
    }


def binding(
    role: str, name: str = "container-maker", subject: dict[str, str] | None = None
) -> dict[str, Any]:
    return {
        "metadata": {"name": name},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": role},
        "subjects": [
            subject
            or {
                "kind": "ServiceAccount",
                "name": "container-maker",
                "namespace": "container-maker-system",
            }
        ],
    }


def exec_post(
    api: client.ApiClient, namespace: str, container: str, command: list[str], **flags: str
) -> Any:
    """A pods/exec CONNECT as a plain POST: admission judges it before the API server tries
    to reach the kubelet (which then refuses a request that is not a stream upgrade)."""
    query = [("container", container), ("stdout", "true"), ("stderr", "true")]
    query += [("command", word) for word in command] + list(flags.items())
    method, url, headers, body, post = api.param_serialize(
        "POST",
        f"/api/v1/namespaces/{namespace}/pods/web/exec",
        query_params=query,
        auth_settings=["BearerToken"],
    )
    response = api.call_api(method, url, headers, body, post)
    response.read()
    if not 200 <= response.status <= 299:
        raise client.ApiException(http_resp=response)
    return response


def save_command(namespace: str, **changes: Any) -> list[str]:
    """The agent's command as saveContainer builds it, for a container in ``namespace``."""
    values: dict[str, Any] = {
        "container_id": RUNTIME_ID,
        "base": "docker.io/library/nginx@sha256:" + "ab" * 32,
        "target": f"{REGISTRY}/{namespace}/web:0a1b2c3d-20250101T000000Z-abcd1234",
        "size_limit": 1073741824,
        "lock_dir": LOCK_DIR,
        "endpoints": {REGISTRY: ENDPOINT.split("=", 1)[1]},
        "insecure": (REGISTRY,),
        "annotations": {
            "io.container-maker.container-id": str(uuid.uuid4()),
            "io.container-maker.container-name": "web",
            "io.container-maker.namespace": namespace,
            "io.container-maker.pod": "web",
            "io.container-maker.tag": "0a1b2c3d-20250101T000000Z-abcd1234",
            "io.container-maker.saved-at": "2025-01-01T00:00:00Z",
        },
        "timeout": 118.7,
    }
    values.update(changes)
    return agent_command(**values)


# -- namespaces ----------------------------------------------------------------------------------


@pytest.mark.usefixtures("enforced")
def test_namespace_create_needs_our_labels(server_api: client.ApiClient) -> None:
    core = client.CoreV1Api(server_api)
    ours = {
        "app.kubernetes.io/managed-by": "container-maker",
        "container-maker.io/tenant": "tenant-a",
        "pod-security.kubernetes.io/enforce": "baseline",
    }
    core.create_namespace({"metadata": {"name": "probe-ours", "labels": ours}}, dry_run="All")
    for missing in ours:
        labels = {k: v for k, v in ours.items() if k != missing}
        denied = refusal(
            lambda labels=labels: core.create_namespace(
                {"metadata": {"name": "probe-ours", "labels": labels}}, dry_run="All"
            )
        )
        assert denied_by(denied, NAMESPACES), (missing, denied.body)
    privileged = {**ours, "pod-security.kubernetes.io/enforce": "privileged"}
    denied = refusal(
        lambda: core.create_namespace(
            {"metadata": {"name": "probe-ours", "labels": privileged}}, dry_run="All"
        )
    )
    assert denied_by(denied, NAMESPACES)


@pytest.mark.usefixtures("enforced")
def test_namespace_prefix_when_configured(
    admin: client.ApiClient, server_api: client.ApiClient
) -> None:
    core = client.CoreV1Api(server_api)
    labels = {
        "app.kubernetes.io/managed-by": "container-maker",
        "container-maker.io/tenant": "tenant-a",
        "pod-security.kubernetes.io/enforce": "baseline",
    }
    set_policy_parameters(admin, namespacePrefix="cm-")
    try:
        denied = eventually(
            lambda: outcome(
                lambda: core.create_namespace(
                    {"metadata": {"name": "probe-ours", "labels": labels}}, dry_run="All"
                )
            ),
            refused_by(PREFIX),
            30,
        )
        assert denied is not None and "prefix cm-" in denied.body
        core.create_namespace({"metadata": {"name": "cm-probe", "labels": labels}}, dry_run="All")
    finally:
        set_policy_parameters(admin, namespacePrefix="")


@pytest.mark.usefixtures("enforced")
def test_namespace_delete_only_of_ours(
    admin: client.ApiClient, server_api: client.ApiClient, tenant: str
) -> None:
    other = f"other-{uuid.uuid4().hex[:8]}"
    client.CoreV1Api(admin).create_namespace({"metadata": {"name": other}})
    try:
        core = client.CoreV1Api(server_api)
        for name in (other, "kube-node-lease", "container-maker-system"):
            denied = refusal(lambda name=name: core.delete_namespace(name, dry_run="All"))
            assert denied_by(denied, NAMESPACES), (name, denied.body)
        # The API server keeps "default" anyway (before any policy).
        assert refusal(lambda: core.delete_namespace("default", dry_run="All")).status == 403
        core.delete_namespace(tenant, dry_run="All")  # ours: admitted
    finally:
        delete_namespace(admin, other)


# -- role bindings -------------------------------------------------------------------------------


@pytest.mark.usefixtures("enforced")
def test_role_bindings_only_the_two_for_the_right_subjects(
    admin: client.ApiClient, server_api: client.ApiClient, tenant: str
) -> None:
    rbac = client.RbacAuthorizationV1Api(server_api)
    status = {"kind": "ServiceAccount", "name": "container-maker-status", "namespace": tenant}
    # What the server and the status plugin make: admitted.
    rbac.create_namespaced_role_binding(
        tenant,
        binding("container-maker-status-reporter", "container-maker-status", status),
        dry_run="All",
    )
    wrong = {
        "cluster-admin": binding("cluster-admin"),
        "admin": binding("admin"),
        "namespaced for another subject": binding(
            "container-maker-namespaced",
            subject={"kind": "ServiceAccount", "name": "default", "namespace": tenant},
        ),
        "namespaced for a user": binding(
            "container-maker-namespaced",
            subject={"kind": "User", "name": "mallory", "apiGroup": "rbac.authorization.k8s.io"},
        ),
        "status reporter for the server": binding(
            "container-maker-status-reporter", "container-maker-status"
        ),
        "status reporter for another namespace's identity": binding(
            "container-maker-status-reporter",
            "container-maker-status",
            {**status, "namespace": "kube-system"},
        ),
    }
    for what, body in wrong.items():
        denied = refusal(
            lambda body=body: rbac.create_namespaced_role_binding(tenant, body, dry_run="All")
        )
        # A role the server does not hold and may not bind is refused by RBAC's escalation
        # check before any policy; the policy refuses the rest.
        assert denied.status == 403, what
        if what not in ("cluster-admin", "admin"):
            assert denied_by(denied, ROLEBINDINGS), (what, denied.body)
    # Two subjects, one of them right.
    two = binding("container-maker-namespaced")
    two["subjects"].append({"kind": "ServiceAccount", "name": "default", "namespace": tenant})
    assert denied_by(
        refusal(lambda: rbac.create_namespaced_role_binding(tenant, two, dry_run="All")),
        ROLEBINDINGS,
    )


@pytest.mark.usefixtures("enforced")
def test_role_binding_only_in_a_tenants_namespace(
    admin: client.ApiClient, server_api: client.ApiClient
) -> None:
    other = f"other-{uuid.uuid4().hex[:8]}"
    client.CoreV1Api(admin).create_namespace({"metadata": {"name": other}})
    try:
        rbac = client.RbacAuthorizationV1Api(server_api)
        for namespace in (other, "kube-system", "default"):
            denied = refusal(
                lambda namespace=namespace: rbac.create_namespaced_role_binding(
                    namespace, binding("container-maker-namespaced"), dry_run="All"
                )
            )
            assert denied_by(denied, ROLEBINDINGS), (namespace, denied.body)
        # So the server cannot bind itself there, and has no rights there.
        with pytest.raises(PermissionDenied):
            bind_server(server_api, other)
    finally:
        delete_namespace(admin, other)


# -- pods ----------------------------------------------------------------------------------------


@pytest.mark.usefixtures("enforced")
def test_pods_like_ours_are_admitted(server_api: client.ApiClient, tenant: str) -> None:
    core = client.CoreV1Api(server_api)
    token = {
        "name": "cm-status-token",
        "projected": {
            "sources": [
                {"serviceAccountToken": {"path": "token", "expirationSeconds": 3600}},
                {
                    "configMap": {
                        "name": "kube-root-ca.crt",
                        "items": [{"key": "ca.crt", "path": "ca.crt"}],
                    }
                },
            ]
        },
    }
    secret = {"name": "auth", "secret": {"secretName": SECRET, "optional": True}}
    volumes = [{"name": "cm-snapshot", "emptyDir": {}}, token, secret]
    core.create_namespaced_pod(tenant, pod(volumes=volumes), dry_run="All")


BAD_PODS: dict[str, dict[str, Any]] = {
    "hostNetwork": {"hostNetwork": True},
    "hostPID": {"hostPID": True},
    "hostIPC": {"hostIPC": True},
    "hostPath": {"volumes": [{"name": "root", "hostPath": {"path": "/"}}]},
    "another Secret": {"volumes": [{"name": "s", "secret": {"secretName": "other"}}]},
    "a ConfigMap": {"volumes": [{"name": "c", "configMap": {"name": "other"}}]},
    "a token for another audience": {
        "volumes": [
            {
                "name": "t",
                "projected": {
                    "sources": [
                        {"serviceAccountToken": {"path": "t", "audience": "container-maker"}}
                    ]
                },
            }
        ]
    },
    "automounted token": {"automountServiceAccountToken": True},
    "nodeName": {"nodeName": "some-node"},
    "tolerations": {"tolerations": [{"operator": "Exists"}]},
}


@pytest.mark.parametrize("what", sorted(BAD_PODS))
@pytest.mark.usefixtures("enforced")
def test_pods_are_refused(server_api: client.ApiClient, tenant: str, what: str) -> None:
    core = client.CoreV1Api(server_api)
    denied = refusal(
        lambda: core.create_namespaced_pod(tenant, pod(**BAD_PODS[what]), dry_run="All")
    )
    assert denied_by(denied, PODS), denied.body


BAD_CONTAINERS: dict[str, dict[str, Any]] = {
    "privileged": {"securityContext": {"privileged": True, "allowPrivilegeEscalation": True}},
    "privilege escalation": {"securityContext": {"allowPrivilegeEscalation": True}},
    "added capability": {
        "securityContext": {
            "allowPrivilegeEscalation": False,
            "capabilities": {"add": ["NET_ADMIN"]},
        }
    },
    "hostPort": {"ports": [{"containerPort": 80, "hostPort": 80}]},
}


@pytest.mark.parametrize("what", sorted(BAD_CONTAINERS))
@pytest.mark.usefixtures("enforced")
def test_containers_are_refused(server_api: client.ApiClient, tenant: str, what: str) -> None:
    body = pod()
    body["spec"]["containers"][0].update(BAD_CONTAINERS[what])
    # In an init container as well as in a container.
    init = pod()
    init["spec"]["initContainers"] = [{**init["spec"]["containers"][0], "name": "init"}]
    init["spec"]["initContainers"][0].update(BAD_CONTAINERS[what])
    core = client.CoreV1Api(server_api)
    for manifest in (body, init):
        denied = refusal(
            lambda manifest=manifest: core.create_namespaced_pod(tenant, manifest, dry_run="All")
        )
        if what == "privileged" and denied.status == 422:
            # The test cluster's API server refuses privileged containers itself
            # (--allow-privileged=false), before admission.
            assert "disallowed by cluster policy" in denied.body
            continue
        assert denied_by(denied, PODS), denied.body


@pytest.mark.usefixtures("enforced")
def test_pods_run_as_the_status_identity(
    admin: client.ApiClient, server_api: client.ApiClient, tenant: str
) -> None:
    core = client.CoreV1Api(server_api)
    # Another ServiceAccount of the namespace (made by someone else, with whatever rights).
    client.CoreV1Api(admin).create_namespaced_service_account(
        tenant, {"metadata": {"name": "intruder"}}
    )
    for account in ("intruder",):
        denied = refusal(
            lambda account=account: core.create_namespaced_pod(tenant, pod(account), dry_run="All")
        )
        assert denied_by(denied, PODS), denied.body
    # The status plugin blocked: "default" without any token is the one exception.
    core.create_namespaced_pod(tenant, pod("default"), dry_run="All")
    token = {"name": "t", "projected": {"sources": [{"serviceAccountToken": {"path": "t"}}]}}
    denied = refusal(
        lambda: core.create_namespaced_pod(tenant, pod("default", volumes=[token]), dry_run="All")
    )
    assert denied_by(denied, PODS), denied.body


# -- services and ingresses ---------------------------------------------------------------------


@pytest.mark.usefixtures("enforced")
def test_services(server_api: client.ApiClient, tenant: str) -> None:
    core = client.CoreV1Api(server_api)
    core.create_namespaced_service(tenant, service(), dry_run="All")
    core.create_namespaced_service(
        tenant,
        service(type="LoadBalancer", allocateLoadBalancerNodePorts=False),
        dry_run="All",
    )
    bad = {
        "externalIPs": service(externalIPs=["10.0.0.1"]),
        "NodePort": service(type="NodePort"),
        "ExternalName": {
            "metadata": {"name": "probe"},
            "spec": {"type": "ExternalName", "externalName": "example.com"},
        },
        "node ports": service(type="LoadBalancer", allocateLoadBalancerNodePorts=True),
        "explicit nodePort": service(
            type="LoadBalancer",
            allocateLoadBalancerNodePorts=False,
            ports=[{"port": 80, "nodePort": 30080}],
        ),
    }
    for what, body in bad.items():
        denied = refusal(
            lambda body=body: core.create_namespaced_service(tenant, body, dry_run="All")
        )
        assert denied_by(denied, SERVICES), (what, denied.body)


def ingress(*hosts: str, **extra: Any) -> dict[str, Any]:
    backend = {"service": {"name": "web", "port": {"number": 80}}}
    rules = [
        {"host": h, "http": {"paths": [{"path": "/", "pathType": "Prefix", "backend": backend}]}}
        for h in hosts
    ]
    meta = {"name": "probe", **extra.pop("metadata", {})}
    return {"metadata": meta, "spec": {"rules": rules, **extra}}


@pytest.mark.usefixtures("enforced")
def test_ingresses(server_api: client.ApiClient, tenant: str) -> None:
    net = client.NetworkingV1Api(server_api)
    good = f"80-web-{tenant}-abcdefghijklm.{DOMAIN}"
    net.create_namespaced_ingress(
        tenant,
        ingress(good, metadata={"annotations": {"container-maker.io/spec-hash": "x"}}),
        dry_run="All",
    )
    bad = {
        "host outside the domain": ingress(good, "login.example.com"),
        "the domain's look-alike": ingress(f"x.evil{DOMAIN}"),
        "no host": ingress(""),
        "tls host outside": ingress(good, tls=[{"hosts": ["bank.example.com"]}]),
        "default backend": ingress(
            good, defaultBackend={"service": {"name": "web", "port": {"number": 80}}}
        ),
        "controller annotation": ingress(
            good,
            metadata={"annotations": {"nginx.ingress.kubernetes.io/server-snippet": "x"}},
        ),
    }
    for what, body in bad.items():
        denied = refusal(
            lambda body=body: net.create_namespaced_ingress(tenant, body, dry_run="All")
        )
        assert denied_by(denied, SERVICES), (what, denied.body)


# -- pods/exec -----------------------------------------------------------------------------------


def exec_refusal(api: client.ApiClient, namespace: str, container: str, command: list[str]) -> Any:
    return refusal(lambda: exec_post(api, namespace, container, command))


@pytest.mark.usefixtures("enforced")
def test_exec_of_the_exact_agent_command_is_admitted(
    server_api: client.ApiClient, tenant: str
) -> None:
    """CONNECT pods/exec is judged by a ValidatingAdmissionPolicy on this release (its object
    is the PodExecOptions): the exact command passes the policy, and what refuses it then is
    the simulated node (no kubelet to stream from), not the policy."""
    error = exec_refusal(server_api, tenant, SIDECAR, save_command(tenant))
    assert not denied_by(error, EXEC), error.body
    assert error.status != 403, error.body


@pytest.mark.usefixtures("enforced")
def test_exec_is_refused_outside_the_agent_command(
    server_api: client.ApiClient, tenant: str
) -> None:
    good = save_command(tenant)
    bad: dict[str, tuple[str, list[str]]] = {
        "the user container": ("web", good),
        "a shell in the sidecar": (SIDECAR, ["/bin/sh", "-c", "cat " + AUTH_FILE]),
        "the agent's idle": (SIDECAR, ["/snapshot-agent", "idle"]),
        "a target outside the registry": (
            SIDECAR,
            save_command(tenant, target=f"evil.example.com/{tenant}/web:x"),
        ),
        "a target in another namespace": (
            SIDECAR,
            save_command(tenant, target=f"{REGISTRY}/victim/web:x"),
        ),
        "an unknown endpoint": (
            SIDECAR,
            save_command(tenant, endpoints={REGISTRY: "203.0.113.9:5000"}),
        ),
        "another plain-HTTP registry": (
            SIDECAR,
            save_command(tenant, insecure=(REGISTRY, "evil.example.com")),
        ),
        "another auth file": (
            SIDECAR,
            [a.replace(AUTH_FILE, "/etc/shadow") for a in good],
        ),
        "another lock dir": (SIDECAR, save_command(tenant, lock_dir="/tmp")),
        "the --proc flag": (SIDECAR, [*good, "--proc=/host/proc"]),
        "a flag's value as its own word": (SIDECAR, [*good, "--target", "evil.example.com/x:y"]),
        "two targets": (SIDECAR, [*good, f"--target={REGISTRY}/{tenant}/other:x"]),
        "an unknown annotation": (
            SIDECAR,
            save_command(tenant, annotations={"io.container-maker.other": "x"}),
        ),
        "a missing annotation": (SIDECAR, [a for a in good if "saved-at" not in a]),
        "a bad container id": (SIDECAR, save_command(tenant, container_id="../../1")),
    }
    for what, (container, command) in bad.items():
        denied = exec_refusal(server_api, tenant, container, command)
        assert denied_by(denied, EXEC), (what, denied.body)
    # stdin and a terminal are refused too.
    for flag in ("stdin", "tty"):
        denied = refusal(
            lambda flag=flag: exec_post(server_api, tenant, SIDECAR, good, **{flag: "true"})
        )
        assert denied_by(denied, EXEC), (flag, denied.body)


@pytest.mark.usefixtures("enforced")
def test_exec_only_in_a_tenants_namespace(
    admin: client.ApiClient, server_api: client.ApiClient
) -> None:
    """Where the server has no RoleBinding, RBAC refuses already (kube-system); the policy
    refuses too in a namespace whose binding someone else made without the tenant label."""
    denied = exec_refusal(server_api, "kube-system", SIDECAR, save_command("kube-system"))
    assert denied.status == 403 and not denied_by(denied, EXEC), denied.body
    other = f"other-{uuid.uuid4().hex[:8]}"
    core = client.CoreV1Api(admin)
    core.create_namespace({"metadata": {"name": other}})
    try:
        client.RbacAuthorizationV1Api(admin).create_namespaced_role_binding(
            other, binding("container-maker-namespaced")
        )
        eventually(
            lambda: outcome(lambda: exec_post(server_api, other, SIDECAR, save_command(other))),
            refused_by(EXEC),
            30,
        )
    finally:
        delete_namespace(admin, other)


def test_parameters_are_documented() -> None:
    """Every parameter the policies read is in the shipped ConfigMap and its comment."""
    text = ADMISSION_POLICIES.read_text()
    for key in (*PARAMETERS, "namespacePrefix", "allowNodePorts", "loadBalancerNodePorts"):
        assert f"params.data.?{key}" in text, key
        assert f"#   {key}" in text, key
        assert f"  {key}: " in text, key
    assert POLICY_PARAMETERS in text
