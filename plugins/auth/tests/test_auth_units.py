"""The caller plugins' pure parts: key format and hashing, key files and rotation, tenants,
certificates, the cache, and the safe-serving checks (no cluster)."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from argon2 import PasswordHasher
from kubernetes import client

from container_maker.api.authentication import (
    check_authenticators,
    check_exposure,
    is_loopback,
    parse_certificate,
)
from container_maker.auth import LOCAL_IDENTITY, VERBS, Access, Credentials
from container_maker.context import KubeContext
from container_maker.errors import Forbidden, InvalidConfiguration, Unauthenticated
from container_maker.plugins import Hooks, create_plugin_manager
from container_maker.settings import Settings
from container_maker.testing import ApiKeys, TestPki
from container_maker_auth import access_review, api_keys
from container_maker_auth.cache import ExpiringCache, digest
from container_maker_auth.client_certificate import certificate_identity
from container_maker_auth.settings import AuthSettings
from container_maker_auth.tenants import certificate_tenant, is_label_value, token_tenant


def context(settings: Settings) -> KubeContext:
    # A file of keys needs no cluster: the client is never used.
    return KubeContext(
        api_client=client.ApiClient(), settings=settings, deadline=time.monotonic() + 30
    )


def key_call(key: str) -> Credentials:
    return Credentials(metadata={"x-api-key": (key,)})


def test_a_key_carries_its_public_id_and_only_its_hash_is_stored() -> None:
    key, entry = api_keys.new_api_key("frontend", "team-a", ("list", "get"))
    assert key.startswith("cmk_") and api_keys.key_id(key) == entry["id"]
    assert key not in json.dumps(entry)
    assert entry["hash"].startswith("$argon2id$")
    assert PasswordHasher().verify(entry["hash"], key)
    assert entry["verbs"] == ["list", "get"]
    for bad in ("", "cmk_", "cmk_short_secret", key.replace("cmk_", "xyz_"), key + "!"):
        assert api_keys.key_id(bad) is None


def test_a_key_for_a_bad_tenant_or_verb_is_refused() -> None:
    with pytest.raises(ValueError, match="tenant"):
        api_keys.new_api_key("frontend", "not a label", VERBS)
    with pytest.raises(ValueError, match="verbs"):
        api_keys.new_api_key("frontend", "team-a", ("exec",))


def test_keys_file_good_wrong_unknown_and_rotation(tmp_path: Path) -> None:
    keys = ApiKeys(tmp_path / "keys.json")
    settings = keys.settings(Settings(), api_keys_reload_seconds=0.2)
    ctx = context(settings)
    first = keys.add("first", "team-a", ("list",))
    identity = api_keys.cm_authenticate(key_call(first), settings, ctx)
    assert identity is not None
    assert (identity.user, identity.tenant, identity.method) == ("first", "team-a", "api-key")
    assert identity.verbs == frozenset({"list"})
    wrong_secret = first[:-4] + ("AAAA" if not first.endswith("AAAA") else "BBBB")
    with pytest.raises(Unauthenticated, match="not accepted"):
        api_keys.cm_authenticate(key_call(wrong_secret), settings, ctx)
    unknown_id = "cmk_000000000000_" + first.split("_", 2)[2]
    with pytest.raises(Unauthenticated, match="not accepted"):
        api_keys.cm_authenticate(key_call(unknown_id), settings, ctx)
    with pytest.raises(Unauthenticated, match="form"):
        api_keys.cm_authenticate(key_call("hunter2"), settings, ctx)
    # Rotation: a new key works and the removed one fails, once the file has been re-read.
    second = keys.add("second", "team-a")
    keys.remove("first")
    time.sleep(0.3)
    assert api_keys.cm_authenticate(key_call(second), settings, ctx) is not None
    with pytest.raises(Unauthenticated):
        api_keys.cm_authenticate(key_call(first), settings, ctx)


def test_a_broken_keys_file_accepts_nobody(tmp_path: Path) -> None:
    keys = ApiKeys(tmp_path / "keys.json")
    settings = keys.settings(Settings(), api_keys_reload_seconds=0.1)
    key = keys.add("k", "team-a")
    assert api_keys.cm_authenticate(key_call(key), settings, context(settings)) is not None
    keys.path.write_text("[{not json")
    time.sleep(0.2)
    with pytest.raises(Unauthenticated):
        api_keys.cm_authenticate(key_call(key), settings, context(settings))


def test_plugins_act_only_when_enabled(tmp_path: Path) -> None:
    keys = ApiKeys(tmp_path / "keys.json")
    key = keys.add("k", "team-a")
    assert api_keys.cm_authenticate(key_call(key), Settings(), context(Settings())) is None
    assert api_keys.cm_accepted_credentials(Settings()) is None


@pytest.mark.parametrize(
    ("user", "groups", "tenant"),
    [
        ("system:serviceaccount:team-a:frontend", (), "team-a"),
        ("system:serviceaccount:team-a:frontend", ("container-maker:tenant:blue",), "blue"),
        ("alice", ("developers",), "alice"),
        ("alice@example.com", ("container-maker:tenant:red", "x"), "red"),
    ],
)
def test_token_tenant(user: str, groups: tuple[str, ...], tenant: str) -> None:
    assert token_tenant(user, groups, "container-maker:tenant:") == tenant


@pytest.mark.parametrize(
    ("user", "groups", "reason"),
    [
        ("https://issuer#alice", (), "no tenant: put it in one group"),
        ("alice", ("container-maker:tenant:a", "container-maker:tenant:b"), "several"),
        ("alice", ("container-maker:tenant:-bad-",), "valid tenant"),
    ],
)
def test_token_without_one_tenant_is_forbidden(
    user: str, groups: tuple[str, ...], reason: str
) -> None:
    with pytest.raises(Forbidden, match=reason):
        token_tenant(user, groups, "container-maker:tenant:")


def test_label_values_and_certificate_tenant() -> None:
    assert is_label_value("a") and is_label_value("team-a.b_c") and not is_label_value("a" * 64)
    assert not is_label_value("") and not is_label_value("-a")
    assert certificate_tenant("alice", ("team-a", "ops")) == "team-a"
    assert certificate_tenant("alice", ("Team A",)) == "alice"
    with pytest.raises(Forbidden, match="first organization"):
        certificate_tenant("alice smith", ())


def test_certificate_parsing_and_identity(tmp_path: Path) -> None:
    pki = TestPki(tmp_path)
    cert, _ = pki.client("alice", ("team-a", "ops"))
    parsed = parse_certificate(cert.read_bytes())
    assert (parsed.common_name, parsed.organizations) == ("alice", ("team-a", "ops"))
    identity = certificate_identity(parsed)
    assert (identity.user, identity.groups, identity.tenant) == (
        "alice",
        ("team-a", "ops"),
        "team-a",
    )
    assert identity.verbs == frozenset(VERBS)
    no_cn, _ = pki.client("", (), dns_names=("robot.example.com",))
    robot = certificate_identity(parse_certificate(no_cn.read_bytes()))
    assert (robot.user, robot.tenant) == ("robot.example.com", "robot.example.com")


def test_cache_expires_and_is_bounded() -> None:
    now = [0.0]
    cache: ExpiringCache[str, int] = ExpiringCache(size=2, ttl=10, clock=lambda: now[0])
    cache.put("a", 1)
    cache.put("b", 2)
    cache.put("c", 3)
    assert cache.get("a") is None and cache.get("b") == 2
    now[0] = 10.0
    assert cache.get("b") is None
    assert digest("ab", "c") != digest("a", "bc")


def test_unknown_authenticator_names_the_known_ones() -> None:
    hooks = Hooks(create_plugin_manager())
    with pytest.raises(InvalidConfiguration) as refused:
        check_authenticators(hooks, Settings(authenticators=("oidc",)), client_ca=False)
    assert "api-key, client-certificate, kubernetes-token" in refused.value.message
    with pytest.raises(InvalidConfiguration, match="--tls-client-ca"):
        check_authenticators(
            hooks, Settings(authenticators=("client-certificate",)), client_ca=False
        )
    check_authenticators(hooks, Settings(authenticators=("kubernetes-token",)), client_ca=False)


def test_api_key_settings_need_one_source() -> None:
    """Checked by the plugins' shared settings model, which sees the core's authenticators."""
    with pytest.raises(InvalidConfiguration, match="exactly one"):
        Settings(authenticators=("api-key",)).of(AuthSettings)
    with pytest.raises(InvalidConfiguration, match="exactly one"):
        Settings(authenticators=("api-key",), api_keys_file="/k", api_keys_secret="a/b").of(
            AuthSettings
        )
    Settings(api_keys_file="/k").of(AuthSettings)  # not enabled: not needed either
    with pytest.raises(InvalidConfiguration, match="namespace/name"):
        Settings(api_keys_secret="keys").of(AuthSettings)
    given = Settings.from_env(
        {
            "CONTAINER_MAKER_AUTHENTICATORS": "kubernetes-token, api-key",
            "CONTAINER_MAKER_API_KEYS_FILE": "/k.json",
            "CONTAINER_MAKER_TOKEN_AUDIENCES": "container-maker, other",
        },
        models=[AuthSettings],
    )
    assert given.authenticators == ("kubernetes-token", "api-key")
    auth = given.of(AuthSettings)
    assert (auth.api_keys_file, auth.token_audiences) == ("/k.json", ("container-maker", "other"))


def test_the_auth_plugins_share_one_settings_model() -> None:
    models = Hooks(create_plugin_manager()).settings_models()
    assert {models[name] for name in ("kubernetes-token", "api-key", "subject-access-review")} == {
        AuthSettings
    }
    assert "client-certificate" not in models  # it has no settings of its own


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("127.0.0.1", True),
        ("127.3.4.5", True),
        ("[::1]", True),
        ("localhost", True),
        ("0.0.0.0", False),
        ("::", False),
        ("", False),
        ("10.0.0.1", False),
        ("example.com", False),
    ],
)
def test_loopback(host: str, loopback: bool) -> None:
    assert is_loopback(host) is loopback


def test_exposure_needs_tls_and_an_authenticator_beyond_loopback() -> None:
    check_exposure("127.0.0.1", tls=False, authenticated=False)
    with pytest.raises(InvalidConfiguration, match="plaintext"):
        check_exposure("0.0.0.0", tls=False, authenticated=True)
    with pytest.raises(InvalidConfiguration, match="without an authenticator"):
        check_exposure("0.0.0.0", tls=True, authenticated=False)
    check_exposure("0.0.0.0", tls=False, authenticated=True, insecure_plaintext_on_network=True)
    check_exposure("0.0.0.0", tls=True, authenticated=False, insecure_anonymous_on_network=True)


def test_cm_authorize_has_no_say_about_identities_granted_verbs() -> None:
    # API keys, certificates and the local identity carry their verbs; only Kubernetes
    # identities are reviewed (tests/api/test_api_auth.py, against the cluster).
    access = Access(verb="list", network_name="team-a", namespace="team-a")
    assert access_review.cm_authorize(LOCAL_IDENTITY, access, context(Settings())) is None
