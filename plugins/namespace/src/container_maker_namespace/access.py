"""The server's own rights in a namespace it uses: the RoleBinding ``container-maker``.

``deploy/rbac.yaml`` gives the server cluster-wide only what cannot wait for a namespace to
exist (namespaces, read of the watched kinds, ``rolebindings`` create and ``bind`` on two
ClusterRoles). Everything it writes inside a namespace (pods, Services, Ingresses, quotas,
NetworkPolicies, ServiceAccounts, Leases, pods/exec) is in the ClusterRole
:data:`NAMESPACED_ROLE`, which it binds to its own ServiceAccount
(``settings.server_service_account``) in each namespace, right after the namespace exists and
before anything else is made there. A ValidatingAdmissionPolicy (``deploy/admission.yaml``)
admits only that binding (or the status reporter's), and only in a tenant's namespace.

RBAC is enforced from each API server's cache of the RBAC objects, so the requests right after
a new binding may be refused (403) for a moment. :func:`ensure_access` therefore asks the API
server (a SelfSubjectAccessReview, which every authenticated user may make) until the binding
is in force, for at most :data:`PROPAGATION_TIMEOUT` seconds. When the binding is in force
already (every create but a namespace's first) that one question is the only call.
"""

from __future__ import annotations

from typing import Any

from kubernetes import client

from container_maker.sdk import (
    AlreadyExists,
    KubeContext,
    Manifest,
    PermissionDenied,
    api_errors,
    managed_labels,
    request_body,
    wait_until,
)

BINDING_NAME = "container-maker"
NAMESPACED_ROLE = "container-maker-namespaced"
RBAC_GROUP = "rbac.authorization.k8s.io"
PROPAGATION_TIMEOUT = 10.0
"""Seconds a new RoleBinding may take to be enforced (well under one on a healthy cluster)."""


def build_binding(namespace: str, service_account: str) -> dict[str, Any]:
    """The RoleBinding of :data:`NAMESPACED_ROLE` to ``service_account`` ("ns/name")."""
    account_namespace, _, account_name = service_account.partition("/")
    return {
        "apiVersion": f"{RBAC_GROUP}/v1",
        "kind": "RoleBinding",
        "metadata": {"name": BINDING_NAME, "namespace": namespace, "labels": managed_labels()},
        "roleRef": {"apiGroup": RBAC_GROUP, "kind": "ClusterRole", "name": NAMESPACED_ROLE},
        "subjects": [
            {"kind": "ServiceAccount", "name": account_name, "namespace": account_namespace}
        ],
    }


def _in_force(namespace: str, context: KubeContext) -> bool:
    """Whether the server may create pods in ``namespace`` now (the role's first right)."""
    review: Any = {
        "spec": {
            "resourceAttributes": {"verb": "create", "resource": "pods", "namespace": namespace}
        }
    }
    api = client.AuthorizationV1Api(context.api_client)
    with api_errors(f"reviewing the server's access to namespace {namespace}"):
        answer = api.create_self_subject_access_review(
            review, _request_timeout=context.request_timeout()
        )
    return bool(answer.status and answer.status.allowed)


def ensure_access(namespace: str, context: KubeContext) -> None:
    """Bind the server into ``namespace`` when ``settings.server_service_account`` is set (an
    existing binding is kept), and return once the binding is enforced.

    Raises PermissionDenied when it is not enforced within :data:`PROPAGATION_TIMEOUT`
    (a binding of that name that someone else made for another subject, say).
    """
    account = context.settings.server_service_account
    if account is None or _in_force(namespace, context):
        return
    rbac = client.RbacAuthorizationV1Api(context.api_client)
    try:
        with api_errors(f"creating rolebinding {BINDING_NAME} in {namespace}"):
            rbac.create_namespaced_role_binding(
                namespace,
                request_body(Manifest(kind="rolebinding", body=build_binding(namespace, account))),
                _request_timeout=context.request_timeout(),
            )
    except AlreadyExists:
        pass  # a concurrent create made it, or it is not in force yet
    if not wait_until(
        lambda: _in_force(namespace, context),
        context,
        f"rolebinding {BINDING_NAME} in {namespace} to be enforced",
        interval=0.05,
        timeout=PROPAGATION_TIMEOUT,
    ):
        raise PermissionDenied(
            f"the RoleBinding {BINDING_NAME} in namespace {namespace} does not give "
            f"{account} the ClusterRole {NAMESPACED_ROLE} within {PROPAGATION_TIMEOUT:g}s: "
            "check that deploy/rbac.yaml is applied and that the binding names that role "
            "and that ServiceAccount"
        )
