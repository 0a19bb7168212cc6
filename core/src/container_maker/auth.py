"""Who is calling: the models that authenticators and authorizers exchange with the core.

An authenticator plugin (``cm_authenticate``) turns a call's :class:`Credentials` (its metadata
and what TLS says about the peer) into an :class:`Identity`. Every operation of the manager then
names the :class:`Access` it needs, and the identity is authorized for it (``cm_authorize``) and
confined to its tenant's namespaces (the tenant label, see :mod:`container_maker.identity`).

Credentials travel only in call metadata and in TLS, never in request messages.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from .models import Model

Verb = Literal["create", "get", "list", "delete", "save", "watch"]
VERBS: tuple[Verb, ...] = ("create", "get", "list", "delete", "save", "watch")
"""The verbs of the virtual ``containers`` resource, one per operation."""

API_GROUP = "container-maker.io"
"""The API group of the virtual resource ``containers`` that SubjectAccessReviews ask about
(``kubectl auth can-i create containers.container-maker.io -n <namespace>``)."""
RESOURCE = "containers"

ANONYMOUS = "anonymous"
"""The ``method`` of the one identity given to calls without credentials, which a server
accepts only when no authenticator is configured and it listens on loopback only."""


class PeerCertificate(Model):
    """The client certificate of a mutual TLS call, as the TLS layer verified it."""

    common_name: str = ""
    organizations: tuple[str, ...] = ()
    dns_names: tuple[str, ...] = ()
    uris: tuple[str, ...] = ()
    emails: tuple[str, ...] = ()
    pem: str = ""


class Credentials(Model):
    """What a call carries that may say who the caller is.

    - ``metadata``: the call's metadata, keys lower case, every value of each key (binary
      ``-bin`` keys are left out).
    - ``peer``: gRPC's peer string (``ipv4:127.0.0.1:5555``).
    - ``certificate``: the verified client certificate of a mutual TLS call, else None.
    - ``method``: the full gRPC method name (``/containermaker.ContainerMakerAPI/getContainer``).
    """

    metadata: dict[str, tuple[str, ...]] = Field(default_factory=dict)
    peer: str = ""
    certificate: PeerCertificate | None = None
    method: str = ""

    def bearer_token(self) -> str | None:
        """The token of an ``authorization: Bearer <token>`` header, if there is one."""
        for value in self.metadata.get("authorization", ()):
            scheme, _, token = value.partition(" ")
            if scheme.lower() == "bearer" and token.strip():
                return token.strip()
        return None


class Identity(Model):
    """An authenticated caller.

    - ``user``: a stable name (``system:serviceaccount:team-a:frontend``, an API key's name,
      a certificate's common name, ``local``).
    - ``groups``: its groups (Kubernetes groups for tokens; a certificate's organizations).
    - ``tenant``: the tenant whose namespaces it may use; a label value (at most 63 characters
      of ``[A-Za-z0-9._-]``, starting and ending alphanumeric).
    - ``method``: which authenticator vouched for it (``kubernetes-token``,
      ``client-certificate``, ``api-key``, :data:`ANONYMOUS`).
    - ``verbs``: the verbs it was granted when it was authenticated (an API key's scopes); None
      when the authorizers decide (``cm_authorize``: a SubjectAccessReview for Kubernetes
      identities).
    - ``extra``: what else the authenticator learned (a token's extra claims), for authorizers.
    """

    user: str
    groups: tuple[str, ...] = ()
    tenant: str = Field(pattern=r"^[A-Za-z0-9]([A-Za-z0-9._-]{0,61}[A-Za-z0-9])?$")
    method: str
    verbs: frozenset[str] | None = None
    extra: dict[str, tuple[str, ...]] = Field(default_factory=dict)
    uid: str = ""

    def describe(self) -> str:
        """The identity in a log line or message: ``user (tenant t, via method)``."""
        return f"{self.user} (tenant {self.tenant}, via {self.method})"


LOCAL_IDENTITY = Identity(user="local", tenant="local", method=ANONYMOUS, verbs=frozenset(VERBS))
"""The identity of calls without credentials on a loopback-only server with no authenticator
(``./dev serve``, in-process test servers) and of direct uses of the manager: tenant ``local``,
confined like any other tenant."""


class Access(Model):
    """What an operation needs: ``verb`` on containers in a namespace.

    ``network_name`` is the caller's name for it, ``namespace`` the Kubernetes namespace it maps
    to (the operator's prefix in front, none by default). ``container_id`` is set for the
    operations on one container.
    """

    verb: Verb
    network_name: str
    namespace: str
    container_id: str = ""


class Decision(Model):
    """An authorizer's answer for one identity and access: allowed or not, and why."""

    allowed: bool
    reason: str = ""
