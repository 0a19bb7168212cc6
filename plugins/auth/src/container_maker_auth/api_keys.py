"""Plugin ``api-key``: ``x-api-key: cmk_<id>_<secret>``, each key bound to a tenant and verbs.

For front ends that are not Kubernetes clients. The operator keeps the keys' Argon2id hashes
(never the keys) in a JSON file (``--api-keys-file``) or in a Secret (``--api-keys-secret
namespace/name``, data key ``api-keys.json``, read through the API): a list of entries
``{"name", "id", "tenant", "hash", "verbs"?}`` (verbs: a subset of
:data:`~container_maker.auth.VERBS`, all by default). ``container-maker api-key new`` makes a
key and its entry (:func:`new_api_key`).

The key carries its entry's public ``id``, so a call verifies one hash, not all of them.
Argon2id is slow on purpose, so a key that verified is remembered (by its SHA-256, never the
key) until the keys change. The file or Secret is read again at most every
``api_keys_reload_seconds``: a new entry works, a removed one is refused, without a
restart. Keys that cannot be read or parsed accept nobody (fail closed; the error is logged).
"""

from __future__ import annotations

import base64
import json
import logging
import re
import secrets
import threading
import time
from pathlib import Path
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from kubernetes import client
from pydantic import Field, ValidationError

from container_maker.sdk import (
    VERBS,
    ContainerMakerError,
    Credentials,
    Identity,
    KubeContext,
    Model,
    Settings,
    Unauthenticated,
    Verb,
    api_errors,
    hookimpl,
)

from .cache import ExpiringCache, digest
from .settings import AuthSettings

NAME = "api-key"
METADATA_KEY = "x-api-key"
SECRET_DATA_KEY = "api-keys.json"
KEY_PREFIX = "cmk_"
_KEY = re.compile(r"^cmk_(?P<id>[a-z0-9]{12})_(?P<secret>[A-Za-z0-9_-]{32,128})$")
_REFUSED = "the API key was not accepted (unknown, revoked or wrong)"
log = logging.getLogger(__name__)
_hasher = PasswordHasher()  # argon2id with the library's (RFC 9106) parameters


class ApiKeyEntry(Model):
    """One stored key: who it is (``name``), its public ``id``, its tenant, the Argon2id
    ``hash`` of the whole key, and the verbs it grants."""

    name: str = Field(min_length=1, max_length=253)
    id: str = Field(pattern=r"^[a-z0-9]{12}$")
    tenant: str = Field(pattern=r"^[A-Za-z0-9]([A-Za-z0-9._-]{0,61}[A-Za-z0-9])?$")
    hash: str = Field(pattern=r"^\$argon2id\$")
    verbs: tuple[Verb, ...] = VERBS


def key_id(key: str) -> str | None:
    """The public id of a key of our format, else None."""
    match = _KEY.match(key)
    return match["id"] if match else None


def new_api_key(
    name: str, tenant: str, verbs: tuple[str, ...] = VERBS
) -> tuple[str, dict[str, Any]]:
    """A new key and the entry (with its hash) that the operator adds to the keys.

    ValueError (naming the field) when the name, tenant or verbs are not acceptable."""
    key = f"{KEY_PREFIX}{secrets.token_hex(6)}_{secrets.token_urlsafe(32)}"
    identifier = key_id(key)
    assert identifier is not None
    entry = ApiKeyEntry.model_validate(
        {
            "name": name,
            "id": identifier,
            "tenant": tenant,
            "hash": _hasher.hash(key),
            "verbs": tuple(verbs),
        }
    )
    return key, entry.model_dump(mode="json")


def parse_entries(text: str) -> dict[str, ApiKeyEntry]:
    """The entries of a keys document (a JSON list) by id; ValueError saying what is wrong."""
    try:
        data = json.loads(text)
    except ValueError as e:
        raise ValueError(f"not JSON: {e}") from e
    if not isinstance(data, list):
        raise ValueError("not a JSON list of key entries")
    entries: dict[str, ApiKeyEntry] = {}
    for index, item in enumerate(data):
        try:
            # JSON mode: the strict model takes JSON lists for its tuples there.
            entry = ApiKeyEntry.model_validate_json(json.dumps(item))
        except ValidationError as e:
            raise ValueError(f"entry {index}: {e}") from e
        if entry.id in entries:
            raise ValueError(f"entry {index}: id {entry.id} is used twice")
        entries[entry.id] = entry
    return entries


class KeyStore:
    """The keys of one source (a file or a Secret), read again when due and changed."""

    def __init__(self, source: str) -> None:
        self.source = source
        self._lock = threading.Lock()
        self._checked = float("-inf")
        self._fingerprint: str | None = None
        self._entries: dict[str, ApiKeyEntry] = {}
        # digest of a key that verified -> its entry; emptied whenever the keys change.
        self.verified: ExpiringCache[str, ApiKeyEntry] = ExpiringCache(size=1024)

    def entry(
        self, identifier: str, settings: Settings, context: KubeContext
    ) -> ApiKeyEntry | None:
        with self._lock:
            now = time.monotonic()
            if now - self._checked >= settings.of(AuthSettings).api_keys_reload_seconds:
                self._checked = now
                self._reload(settings, context)
            return self._entries.get(identifier)

    def _reload(self, settings: Settings, context: KubeContext) -> None:
        try:
            text = _read(settings, context)
        except (OSError, ContainerMakerError, ValueError) as e:
            self._replace(None, {}, f"cannot read the API keys of {self.source}: {e}")
            return
        fingerprint = digest(text)
        if fingerprint == self._fingerprint:
            return
        try:
            entries = parse_entries(text)
        except ValueError as e:
            self._replace(None, {}, f"the API keys of {self.source} are not valid: {e}")
            return
        self._replace(fingerprint, entries, None)
        log.info("API keys loaded", extra={"source": self.source, "keys": len(entries)})

    def _replace(
        self, fingerprint: str | None, entries: dict[str, ApiKeyEntry], error: str | None
    ) -> None:
        if error is not None:
            log.error("%s; no API key is accepted until that is fixed", error)
        self._fingerprint = fingerprint
        self._entries = entries
        self.verified.clear()


def _read(settings: Settings, context: KubeContext) -> str:
    auth = settings.of(AuthSettings)
    if auth.api_keys_file is not None:
        return Path(auth.api_keys_file).read_text(encoding="utf-8")
    assert auth.api_keys_secret is not None  # the settings require one of the two
    namespace, _, name = auth.api_keys_secret.partition("/")
    with api_errors(f"reading the API keys Secret {auth.api_keys_secret}"):
        secret = client.CoreV1Api(context.api_client).read_namespaced_secret(
            name, namespace, _request_timeout=context.request_timeout(10)
        )
    encoded = (secret.data or {}).get(SECRET_DATA_KEY)
    if encoded is None:
        raise ValueError(f"the Secret has no data key {SECRET_DATA_KEY}")
    return base64.b64decode(encoded).decode("utf-8")


_stores: dict[str, KeyStore] = {}
_stores_lock = threading.Lock()


def store_for(settings: Settings, context: KubeContext) -> KeyStore:
    """The one store of the configured source (per cluster, for a Secret)."""
    auth = settings.of(AuthSettings)
    if auth.api_keys_file is not None:
        source = f"file {Path(auth.api_keys_file).resolve()}"
    else:
        source = f"Secret {auth.api_keys_secret} at {context.api_client.configuration.host}"
    with _stores_lock:
        return _stores.setdefault(source, KeyStore(source))


@hookimpl
def cm_settings_model() -> type[AuthSettings]:
    return AuthSettings


@hookimpl
def cm_accepted_credentials(settings: Settings) -> str | None:
    if NAME not in settings.authenticators:
        return None
    return f"an API key (metadata {METADATA_KEY}: {KEY_PREFIX}<id>_<secret>)"


@hookimpl
def cm_authenticate(
    credentials: Credentials, settings: Settings, context: KubeContext
) -> Identity | None:
    if NAME not in settings.authenticators:
        return None
    values = credentials.metadata.get(METADATA_KEY, ())
    if not values:
        return None
    key = values[0].strip()
    identifier = key_id(key)
    if identifier is None or len(values) > 1:
        raise Unauthenticated(
            f"the API key is not of the form {KEY_PREFIX}<id>_<secret> (one {METADATA_KEY})"
        )
    store = store_for(settings, context)
    entry = store.entry(identifier, settings, context)
    if entry is None:
        raise Unauthenticated(_REFUSED)
    fingerprint = digest(key)
    if store.verified.get(fingerprint) != entry:
        try:
            _hasher.verify(entry.hash, key)
        except (VerificationError, InvalidHashError):
            raise Unauthenticated(_REFUSED) from None
        store.verified.put(fingerprint, entry)
    return Identity(
        user=entry.name,
        tenant=entry.tenant,
        method=NAME,
        verbs=frozenset(entry.verbs),
    )
