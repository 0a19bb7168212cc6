"""Plugin ``subject-access-review``: Kubernetes decides what Kubernetes identities may do.

For every identity of the ``kubernetes-token`` authenticator, each operation is a
SubjectAccessReview of its user, groups, uid and extra on the virtual resource
``containers.container-maker.io`` (``auth.API_GROUP``), with the operation's verb and the
Kubernetes namespace of the network. A tenant's rights are therefore ordinary (Cluster)Roles
and RoleBindings, and ``kubectl auth can-i create containers.container-maker.io -n <namespace>
--as <user>`` answers for it. Decisions are kept ``auth_cache_seconds``.
"""

from __future__ import annotations

import json
from typing import Any

from kubernetes import client

from container_maker.sdk import (
    API_GROUP,
    RESOURCE,
    Access,
    Decision,
    Identity,
    KubeContext,
    api_errors,
    hookimpl,
)

from .cache import ExpiringCache, digest
from .settings import AuthSettings

NAME = "subject-access-review"
KUBERNETES_TOKEN = "kubernetes-token"
_decisions: ExpiringCache[str, Decision] = ExpiringCache(size=4096)


@hookimpl
def cm_settings_model() -> type[AuthSettings]:
    return AuthSettings


@hookimpl
def cm_authorize(identity: Identity, access: Access, context: KubeContext) -> Decision | None:
    if identity.method != KUBERNETES_TOKEN:
        return None
    spec: dict[str, Any] = {
        "user": identity.user,
        "groups": list(identity.groups),
        "extra": {k: list(v) for k, v in identity.extra.items()},
        "resourceAttributes": {
            "group": API_GROUP,
            "resource": RESOURCE,
            "verb": access.verb,
            "namespace": access.namespace,
        },
    }
    if identity.uid:
        spec["uid"] = identity.uid
    key = digest(str(context.api_client.configuration.host), json.dumps(spec, sort_keys=True))
    cached = _decisions.get(key, ttl=context.settings.of(AuthSettings).auth_cache_seconds)
    if cached is not None:
        return cached
    body: Any = {
        "apiVersion": "authorization.k8s.io/v1",
        "kind": "SubjectAccessReview",
        "spec": spec,
    }
    with api_errors("asking Kubernetes whether the caller may do this (SubjectAccessReview)"):
        answer = client.AuthorizationV1Api(context.api_client).create_subject_access_review(
            body, _request_timeout=context.request_timeout(10)
        )
    status = answer.status
    if status is not None and status.allowed:
        decision = Decision(allowed=True, reason=status.reason or "")
    else:
        decision = Decision(
            allowed=False,
            reason=(
                f"Kubernetes RBAC does not grant {access.verb} on {RESOURCE}.{API_GROUP} in "
                f"namespace {access.namespace}; an administrator can bind a Role that does "
                "(see the README, Authentication)"
            ),
        )
    _decisions.put(key, decision)
    return decision
