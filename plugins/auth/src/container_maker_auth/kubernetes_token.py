"""Plugin ``kubernetes-token``: a bearer token, checked by the API server with a TokenReview.

The token is reviewed for ``token_audiences`` when set (ServiceAccount tokens bound to
the audience the operator names), else for the API server's own audiences (whatever the API
server accepts itself: ServiceAccount tokens, OIDC, webhook tokens). Answers, accepting or not,
are kept ``auth_cache_seconds`` (keyed by a digest of the token, never the token).
The identity's rights are not decided here (``verbs`` None): ``cm_authorize`` does that (the
``subject-access-review`` plugin).
"""

from __future__ import annotations

import logging
import time
from typing import Any

from kubernetes import client

from container_maker.sdk import (
    Credentials,
    Identity,
    KubeContext,
    Settings,
    Unauthenticated,
    api_errors,
    hookimpl,
)

from .cache import ExpiringCache, digest
from .settings import AuthSettings
from .tenants import token_tenant

NAME = "kubernetes-token"
log = logging.getLogger(__name__)

# A review's answer: the reviewed user (username, uid, groups, extra), or None when refused.
Review = dict[str, Any] | None
_REFUSED: dict[str, Any] = {}  # what the cache holds for a refused token (None means "absent")
_reviews: ExpiringCache[str, dict[str, Any]] = ExpiringCache(size=4096)


@hookimpl
def cm_settings_model() -> type[AuthSettings]:
    return AuthSettings


@hookimpl
def cm_accepted_credentials(settings: Settings) -> str | None:
    if NAME not in settings.authenticators:
        return None
    audiences = settings.of(AuthSettings).token_audiences
    audience = f", audience {' or '.join(audiences)}" if audiences else ""
    return f"a Kubernetes bearer token (metadata authorization: Bearer <token>{audience})"


@hookimpl
def cm_authenticate(
    credentials: Credentials, settings: Settings, context: KubeContext
) -> Identity | None:
    if NAME not in settings.authenticators:
        return None
    token = credentials.bearer_token()
    if token is None:
        return None
    user = review(token, settings, context)
    if user is None:
        raise Unauthenticated(
            "the bearer token was not accepted (invalid, expired, revoked or for another audience)"
        )
    name = str(user.get("username") or "")
    groups = tuple(str(g) for g in user.get("groups") or ())
    return Identity(
        user=name,
        groups=groups,
        uid=str(user.get("uid") or ""),
        extra={
            str(k): tuple(str(x) for x in v or ()) for k, v in (user.get("extra") or {}).items()
        },
        tenant=token_tenant(name, groups, settings.of(AuthSettings).tenant_group_prefix),
        method=NAME,
        verbs=None,
    )


def review(token: str, settings: Settings, context: KubeContext) -> Review:
    """The user the API server says ``token`` is (a TokenReview, or its cached answer), or
    None when it does not accept it."""
    auth = settings.of(AuthSettings)
    key = digest(
        str(context.api_client.configuration.host), *auth.token_audiences, "\0token", token
    )
    cached = _reviews.get(key, ttl=auth.auth_cache_seconds)
    if cached is not None:
        return cached or None
    spec: dict[str, Any] = {"token": token}
    if auth.token_audiences:
        spec["audiences"] = list(auth.token_audiences)
    body: Any = {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenReview", "spec": spec}
    started = time.monotonic()
    with api_errors("reviewing a caller's bearer token (TokenReview)"):
        answer = client.AuthenticationV1Api(context.api_client).create_token_review(
            body, _request_timeout=context.request_timeout(10)
        )
    status = answer.status
    user = status.user if status is not None else None
    if status is not None and status.authenticated and user is not None and user.username:
        result: dict[str, Any] = {
            "username": user.username,
            "uid": user.uid,
            "groups": list(user.groups or ()),
            "extra": dict(user.extra or {}),
        }
    else:
        result = _REFUSED
        # The API server's reason never contains the token; it stays in the server's log.
        log.info(
            "bearer token refused",
            extra={"reason": (status.error if status else "") or "not authenticated"},
        )
    log.debug("token review", extra={"duration_ms": round((time.monotonic() - started) * 1000, 1)})
    _reviews.put(key, result)
    return result or None
