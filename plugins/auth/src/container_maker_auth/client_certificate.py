"""Plugin ``client-certificate``: the caller is the client certificate of mutual TLS.

The TLS layer has verified the certificate against ``--tls-client-ca`` (a certificate of
another CA never gets past the handshake); the API layer hands its parsed fields over in
:class:`~container_maker.auth.PeerCertificate`. The user is the subject's common name (or the
first subject alternative name when there is none), the groups its organizations (O), and the
tenant the first organization (else the common name). Every verb is granted; tenancy confines
it to the tenant's namespaces.
"""

from __future__ import annotations

from container_maker.sdk import (
    VERBS,
    Credentials,
    Identity,
    KubeContext,
    PeerCertificate,
    Settings,
    Unauthenticated,
    hookimpl,
)

from .tenants import certificate_tenant

NAME = "client-certificate"


@hookimpl
def cm_accepted_credentials(settings: Settings) -> str | None:
    if NAME not in settings.authenticators:
        return None
    return "a client certificate of the server's client CA (mutual TLS)"


@hookimpl
def cm_authenticate(
    credentials: Credentials, settings: Settings, context: KubeContext
) -> Identity | None:
    if NAME not in settings.authenticators or credentials.certificate is None:
        return None
    return certificate_identity(credentials.certificate)


def certificate_identity(certificate: PeerCertificate) -> Identity:
    """The identity a verified client certificate stands for (pure)."""
    alternatives = (*certificate.dns_names, *certificate.emails, *certificate.uris)
    user = certificate.common_name or (alternatives[0] if alternatives else "")
    if not user:
        raise Unauthenticated("the client certificate names nobody (no common name, no SAN)")
    return Identity(
        user=user,
        groups=certificate.organizations,
        tenant=certificate_tenant(user, certificate.organizations),
        method=NAME,
        verbs=frozenset(VERBS),
    )
