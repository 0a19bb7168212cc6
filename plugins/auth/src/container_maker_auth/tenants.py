"""How a caller's tenant is derived from what its credentials say (pure functions)."""

from __future__ import annotations

import re
from collections.abc import Sequence

from container_maker.sdk import Forbidden

_LABEL_VALUE = re.compile(r"^[A-Za-z0-9]([A-Za-z0-9._-]{0,61}[A-Za-z0-9])?$")
SERVICE_ACCOUNT_PREFIX = "system:serviceaccount:"


def is_label_value(text: str) -> bool:
    """Whether ``text`` can be a tenant (a Kubernetes label value, not empty)."""
    return bool(_LABEL_VALUE.match(text))


def token_tenant(user: str, groups: Sequence[str], group_prefix: str) -> str:
    """The tenant of a Kubernetes identity.

    In order: the one group ``<group_prefix><tenant>`` it is in; for a ServiceAccount
    (``system:serviceaccount:<namespace>:<name>``) its namespace; the user name when it is a
    label value. Otherwise (or in several tenant groups) :class:`Forbidden`, saying how to give
    it a tenant.
    """
    tenants = sorted({g[len(group_prefix) :] for g in groups if g.startswith(group_prefix)})
    if len(tenants) > 1:
        raise Forbidden(
            f"{user} is in several tenant groups ({', '.join(group_prefix + t for t in tenants)}); "
            "a caller must be in at most one"
        )
    if tenants:
        if not is_label_value(tenants[0]):
            raise Forbidden(
                f"{user}'s tenant group {group_prefix}{tenants[0]} does not name a valid tenant "
                "(a label value: at most 63 letters, digits, '.', '_' or '-')"
            )
        return tenants[0]
    if user.startswith(SERVICE_ACCOUNT_PREFIX):
        namespace, _, name = user[len(SERVICE_ACCOUNT_PREFIX) :].partition(":")
        if namespace and name and is_label_value(namespace):
            return namespace
    if is_label_value(user):
        return user
    raise Forbidden(
        f"{user} has no tenant: put it in one group {group_prefix}<tenant> (for OIDC users, a "
        "groups claim), or call as a ServiceAccount (its namespace is its tenant)"
    )


def certificate_tenant(common_name: str, organizations: Sequence[str]) -> str:
    """The tenant of a client certificate: its first organization (O) when that is a label
    value, else its common name (CN); :class:`Forbidden` when neither is."""
    if organizations and is_label_value(organizations[0]):
        return organizations[0]
    if is_label_value(common_name):
        return common_name
    raise Forbidden(
        f"the client certificate of {common_name or 'no common name'} names no tenant: issue it "
        "with the tenant as its first organization (O), a label value"
    )
