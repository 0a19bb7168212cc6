"""Who is calling: the API layer's side of authentication, and the safe-serving checks.

For every call of the ContainerMakerAPI service (health and reflection are not asked),
:class:`CallAuthenticator` gathers the call's :class:`~container_maker.auth.Credentials` (its
metadata, its peer and the verified client certificate of mutual TLS, parsed here) and asks the
authenticator plugins (``cm_authenticate``) who it is. No identity, or credentials a plugin
refuses: UNAUTHENTICATED, with a message that names the kinds of credentials the server accepts
(``cm_accepted_credentials``) and nothing else about it. Without any authenticator configured,
calls are the anonymous :data:`~container_maker.auth.LOCAL_IDENTITY`, which
:func:`check_exposure` allows only on a loopback address unless the operator insists.
"""

from __future__ import annotations

import ipaddress
import time
from collections.abc import Iterable, Mapping
from typing import Any

import grpc
from cryptography import x509
from cryptography.x509.oid import NameOID

from container_maker._proto import service_pb2
from container_maker.auth import LOCAL_IDENTITY, Credentials, Identity, PeerCertificate
from container_maker.context import KubeContext
from container_maker.errors import InvalidConfiguration, Unauthenticated
from container_maker.manager import ContainerManager
from container_maker.plugins import Hooks
from container_maker.settings import Settings

SERVICE_NAME: str = service_pb2.DESCRIPTOR.services_by_name["ContainerMakerAPI"].full_name
API_METHOD_PREFIX = f"/{SERVICE_NAME}/"
# A TokenReview or a Secret read, not an operation: authentication must not eat the call's time.
AUTHENTICATION_SECONDS = 10.0
CLIENT_CERTIFICATE = "client-certificate"


def is_loopback(host: str) -> bool:
    """Whether ``host`` (of "host:port", IPv6 in brackets or not) is a loopback address.

    ``localhost`` counts; an empty host, a wildcard (0.0.0.0, ::) or any other name does not
    (a name may resolve to anything)."""
    host = host.strip().removeprefix("[").removesuffix("]")
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def split_host(address: str) -> str:
    """The host of "host:port" ("[v6]:port")."""
    host, sep, _ = address.rpartition(":")
    return host if sep else address


def check_exposure(
    host: str,
    *,
    tls: bool,
    authenticated: bool,
    insecure_plaintext_on_network: bool = False,
    insecure_anonymous_on_network: bool = False,
) -> None:
    """Refuse (InvalidConfiguration) to serve beyond loopback without TLS or without an
    authenticator, unless the operator said so with the flag of an unmistakable name."""
    if is_loopback(host):
        return
    where = f"listening on {host or 'every address'} (not loopback)"
    if not tls and not insecure_plaintext_on_network:
        raise InvalidConfiguration(
            f"refusing to serve plaintext while {where}: anyone on the network could read and "
            "forge calls. Give --tls-cert and --tls-key (see the README, Authentication), "
            "listen on 127.0.0.1, or pass --insecure-plaintext-on-network if something in front "
            "provides TLS"
        )
    if not authenticated and not insecure_anonymous_on_network:
        raise InvalidConfiguration(
            f"refusing to serve without an authenticator while {where}: every caller would be "
            "anonymous. Give --authenticator kubernetes-token, client-certificate or api-key "
            "(see the README, Authentication), listen on 127.0.0.1, or pass "
            "--insecure-anonymous-on-network"
        )


def check_authenticators(hooks: Hooks, settings: Settings, *, client_ca: bool) -> None:
    """Every name in ``settings.authenticators`` must be an installed authenticator plugin."""
    known = hooks.authenticator_names()
    unknown = [name for name in settings.authenticators if name not in known]
    if unknown:
        raise InvalidConfiguration(
            f"unknown authenticator {', '.join(unknown)}; the installed ones are "
            f"{', '.join(known) or 'none (install container-maker-auth)'}"
        )
    if CLIENT_CERTIFICATE in settings.authenticators and not client_ca:
        raise InvalidConfiguration(
            "the client-certificate authenticator needs mutual TLS: give --tls-client-ca (and "
            "--tls-cert, --tls-key)"
        )


def peer_certificate(auth_context: Mapping[str, Any]) -> PeerCertificate | None:
    """The verified client certificate of a call (gRPC's ``x509_pem_cert``, a list of PEM
    bytes), parsed; None without mutual TLS. gRPC verified it against the client CA at the
    handshake."""
    pems = list(auth_context.get("x509_pem_cert", ()))
    if not pems:
        return None
    return parse_certificate(pems[0])


def parse_certificate(pem: bytes) -> PeerCertificate:
    """A PEM certificate's subject common name, organizations and alternative names."""
    certificate = x509.load_pem_x509_certificate(pem)
    subject = certificate.subject

    def values(oid: x509.ObjectIdentifier) -> tuple[str, ...]:
        return tuple(str(a.value) for a in subject.get_attributes_for_oid(oid))

    try:
        names = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        names = x509.SubjectAlternativeName([])
    common = values(NameOID.COMMON_NAME)
    return PeerCertificate(
        common_name=common[0] if common else "",
        organizations=values(NameOID.ORGANIZATION_NAME),
        dns_names=tuple(names.get_values_for_type(x509.DNSName)),
        uris=tuple(names.get_values_for_type(x509.UniformResourceIdentifier)),
        emails=tuple(names.get_values_for_type(x509.RFC822Name)),
        pem=pem.decode("ascii"),
    )


def call_metadata(metadata: Iterable[tuple[str, str | bytes]] | None) -> dict[str, tuple[str, ...]]:
    """A call's text metadata by lower-case key, every value of each (``-bin`` keys left out)."""
    collected: dict[str, list[str]] = {}
    for key, value in metadata or ():
        if key.endswith("-bin") or not isinstance(value, str):
            continue
        collected.setdefault(key.lower(), []).append(value)
    return {key: tuple(values) for key, values in collected.items()}


class CallAuthenticator:
    """Says who each call of the API is (see the module); one per server."""

    def __init__(self, manager: ContainerManager) -> None:
        self.hooks = manager.hooks
        self.settings = manager.settings
        self.api_client = manager.api_client
        self.accepted = self.hooks.accepted_credentials(settings=self.settings)

    @property
    def anonymous(self) -> bool:
        """Whether calls without credentials are accepted (no authenticator configured)."""
        return not self.accepted

    def offer(self) -> str:
        """What the server accepts, for UNAUTHENTICATED messages."""
        return "this server accepts " + "; or ".join(self.accepted)

    def identify(
        self,
        method: str,
        metadata: Iterable[tuple[str, str | bytes]] | None,
        context: grpc.ServicerContext,
    ) -> Identity:
        """The caller of a call, or :class:`Unauthenticated`."""
        if self.anonymous:
            return LOCAL_IDENTITY
        credentials = Credentials(
            metadata=call_metadata(metadata),
            peer=context.peer(),
            certificate=peer_certificate(context.auth_context()),
            method=method,
        )
        kube = KubeContext(
            api_client=self.api_client,
            settings=self.settings,
            deadline=time.monotonic() + AUTHENTICATION_SECONDS,
        )
        try:
            identity = self.hooks.authenticate(
                credentials=credentials, settings=self.settings, context=kube
            )
        except Unauthenticated as refused:
            raise Unauthenticated(f"{refused.message}; {self.offer()}") from None
        if identity is None:
            raise Unauthenticated(f"the call carries no credentials; {self.offer()}")
        return identity
