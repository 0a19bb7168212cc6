"""The testing kit for plugin authors, registered as a pytest plugin (``pytest11`` entry point).

Fixtures (all function-scoped):

- ``cm_settings``: the :class:`~container_maker.settings.Settings` used by the fixtures below:
  the defaults, with the sandbox domain of ``./dev serve``
  (:data:`~container_maker.settings.LOCAL_INGRESS_DOMAIN`) so that EXPOSED works; override it
  in your conftest to test other configurations.
- ``cm_plugin_manager``: a fresh plugin manager with every installed plugin loaded from entry
  points (as production does), honouring ``cm_settings.blocked_plugins``.
- ``cm_register``: ``cm_register(plugin, name=None)`` registers a plugin (a module or object of
  hook functions) into ``cm_plugin_manager`` for the current test only.
- ``cm_hook_calls``: a list that records every hook call made through ``cm_plugin_manager`` and
  every call the core makes of the resources its plugins registered, as :class:`HookCall`
  (``HookCall("cm_preflight")``, ``HookCall("create", "pod")``), in call order.
- ``kube_api_client``: a ``kubernetes.client.ApiClient`` for the real test cluster.
- ``kube_context``: a :class:`~container_maker.context.KubeContext` on that client, to call a
  plugin's cluster hooks directly.
- ``container_manager``: a :class:`~container_maker.manager.ContainerManager` on the real test
  cluster with ``cm_plugin_manager``.
- ``fresh_namespace_name``: the name of a namespace that does not exist yet (for tests where
  Container Maker creates it); it is deleted after the test if it exists.
- ``tenant_namespace``: the test cluster's fresh ``namespace``, assigned to tenant ``local``
  (the tenant of ``container_manager``'s calls and of anonymous in-process servers) the way an
  operator assigns one (:func:`~container_maker.tenancy.assign_namespace`). Container Maker
  uses only namespaces labelled for the caller's tenant: an admin-made namespace without that
  label is refused.

Calling the API as a tenant (authenticated channels; see the README, Authentication):

- ``cm_pki``: a :class:`TestPki` in a temporary directory: a fresh CA, a serving certificate
  for loopback (``pki.server_tls()`` is the ``TlsConfig`` of a mutual-TLS server trusting the
  CA) and ``pki.client(user, organizations)`` for client certificates (the first organization
  is the tenant); :func:`certificate_channel` opens a channel with one.
- ``cm_api_keys``: an :class:`ApiKeys` file in a temporary directory: ``add(name, tenant,
  verbs)`` returns a new key (its hash goes to the file), ``remove(name)`` revokes it,
  ``settings(base)`` enables the ``api-key`` authenticator on it; :func:`api_key_channel`.
- :func:`service_account_token` mints a ServiceAccount token for an audience (TokenRequest),
  for a server with ``authenticators=("kubernetes-token",)`` and that audience in
  ``token_audiences``; :func:`token_channel`.
- :func:`with_metadata` adds metadata to every call of a channel (what the channels above use).

Helpers:

- :func:`foreign_pod` creates a pod "someone else" made (not labelled as ours).
- :func:`managed_objects` lists what Container Maker left in a namespace, straight from the API.
- :func:`eventually` fetches a value again until it is ready (a test failure after a timeout).
- :func:`container_spec` and :func:`build_context`: a valid spec and the build context a create
  gives a resource's build, with any field replaced (for testing a builder without a cluster).
- :class:`Intercepting`: a plugin running a function around every resource call (a fault or a
  delay at one step); :class:`CallRecorder` records hook and resource calls.
- :class:`~container_maker.memory.MemoryKind` (in :mod:`container_maker.memory`): an in-memory
  resource kind, to test where a plugin's kind goes among the others without a cluster.

The cluster itself comes from the test-cluster plugin (distribution
``container-maker-testcluster``): ``kube_cluster`` (session) and ``namespace`` (a fresh
namespace per test). The fixtures here that need the cluster request ``kube_cluster``.
"""

from __future__ import annotations

import datetime
import ipaddress
import json
import time
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import grpc
import pluggy
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from kubernetes import client

from .api.server import TlsConfig
from .auth import LOCAL_IDENTITY, VERBS
from .context import BuildContext, KubeContext
from .identity import ID_KEY, label_selector, new_container_id
from .manager import ContainerManager
from .markers import hookimpl
from .models import ContainerSpec, ExposureLevel, PublishInformation
from .plugins import create_plugin_manager
from .resources import Interceptor, ResourceRegistry
from .settings import LOCAL_INGRESS_DOMAIN, Settings
from .tenancy import assign_namespace
from .validation import validate_spec

T = TypeVar("T")

# Every object Container Maker made, whichever container it belongs to.
_MANAGED = label_selector()


def foreign_pod(
    api_client: client.ApiClient,
    namespace: str,
    name: str,
    labels: dict[str, str] | None = None,
    timeout: float = 60.0,
) -> Any:
    """Create a pod that Container Maker did not make; return the ``V1Pod``.

    Retries while the namespace's default ServiceAccount does not exist yet (a new namespace).
    """
    core = client.CoreV1Api(api_client)
    # The client sends dicts as they are; its signatures name only its V1 classes.
    body: Any = {
        "metadata": {"name": name, "labels": labels or {}},
        "spec": {"containers": [{"name": "main", "image": "busybox:1.36"}]},
    }
    deadline = time.monotonic() + timeout
    while True:
        try:
            return core.create_namespaced_pod(namespace, body)
        except client.ApiException as e:
            if (
                e.status != 403
                or "serviceaccount" not in str(e.body)
                or (time.monotonic() > deadline)
            ):
                raise
            time.sleep(0.2)


def _name(obj: Any) -> str:
    # Objects read from the API always carry metadata; the client's types allow None.
    assert obj.metadata is not None
    return str(obj.metadata.name)


def managed_objects(
    api_client: client.ApiClient,
    namespace: str,
    selector: str = _MANAGED,
    resources: ResourceRegistry | None = None,
) -> list[str]:
    """The containers' objects in ``namespace`` matching ``selector`` (by default: every
    object Container Maker made): pods, Services, Ingresses, the status kind's Leases, its
    NetworkPolicy, and any ServiceAccount, Role or RoleBinding of a container (there should be
    none), as sorted "kind/name" strings, read with raw API calls. With ``resources`` (a
    manager's registry), the objects of every other registered kind with a client too, as
    "<its kind>/name" (a third party's kind: what it leaves behind shows).

    Objects of the namespace itself (its default-deny NetworkPolicy, ResourceQuota and
    LimitRange, its status ServiceAccount and RoleBinding), which carry no container id and go
    with the namespace, are not listed."""
    core = client.CoreV1Api(api_client)
    networking = client.NetworkingV1Api(api_client)
    rbac = client.RbacAuthorizationV1Api(api_client)
    coordination = client.CoordinationV1Api(api_client)
    listings: dict[str, Callable[..., Any]] = {
        "pod": core.list_namespaced_pod,
        "service": core.list_namespaced_service,
        "ingress": networking.list_namespaced_ingress,
        "serviceaccount": core.list_namespaced_service_account,
        "role": rbac.list_namespaced_role,
        "rolebinding": rbac.list_namespaced_role_binding,
        "lease": coordination.list_namespaced_lease,
        "networkpolicy": networking.list_namespaced_network_policy,
    }
    found = [
        f"{kind}/{_name(obj)}"
        for kind, list_kind in listings.items()
        for obj in list_kind(namespace, label_selector=f"{selector},{ID_KEY}").items
    ]
    covered = {call.__name__ for call in listings.values()}
    for resource in resources.container_kinds() if resources is not None else ():
        calls = resource.client
        method = getattr(calls.list, "__name__", "") if calls is not None else ""
        if calls is None or method in covered:
            continue
        covered.add(method)
        listed = calls.list(
            calls.api(api_client),
            namespace,
            label_selector=f"{selector},{ID_KEY}",
            _request_timeout=30.0,
        )
        found += [f"{resource.kind}/{_name(obj)}" for obj in listed.items]
    return sorted(found)


def container_spec(**values: Any) -> ContainerSpec:
    """A valid :class:`~container_maker.models.ContainerSpec`: ``nginx:1.27`` named ``web`` in
    network ``net``, INTERNAL, port 80 to 8080; ``values`` replace any field."""
    fields: dict[str, Any] = {
        "image_name": "nginx:1.27",
        "container_name": "web",
        "network_name": "net",
        "exposure_level": int(ExposureLevel.INTERNAL),
        "publish_information": (PublishInformation(publish_port=80, target_port=8080),),
    }
    return ContainerSpec(**{**fields, **values})


def build_context(
    spec: ContainerSpec | None = None, settings: Settings | None = None, **values: Any
) -> BuildContext:
    """The :class:`~container_maker.context.BuildContext` a create gives a resource's build
    for ``spec`` (default :func:`container_spec`): a new container id, tenant ``local``, the
    resources the settings resolve for it (validated as a create validates them); ``values``
    replace any field (``owner``, ``pod_extras``)."""
    spec = spec or container_spec()
    settings = settings or Settings.model_validate({"ingress_domain": LOCAL_INGRESS_DOMAIN})
    fields: dict[str, Any] = {
        "container_id": new_container_id(),
        "tenant": LOCAL_IDENTITY.tenant,
        "resources": validate_spec(spec, settings),
        "settings": settings,
    }
    return BuildContext(**{**fields, **values})


def eventually(fetch: Callable[[], T], ready: Callable[[T], bool], timeout: float = 60.0) -> T:
    """Call ``fetch()`` every half second until ``ready`` accepts its value; return that value.

    The test fails with "never ready: <value>" once ``timeout`` seconds have passed.
    """
    deadline = time.monotonic() + timeout
    while True:
        value = fetch()
        if ready(value):
            return value
        assert time.monotonic() < deadline, f"never ready: {value}"
        time.sleep(0.5)


@dataclass(frozen=True)
class HookCall:
    """One recorded call: a hook's name, or a call the core made of a registered resource
    (``build``, ``create``, ``get``, ``delete``) with its kind."""

    hook: str
    kind: str | None = None


class Intercepting:
    """A plugin that runs ``around(call, kind, proceed)`` around every call the core makes of
    a resource (see :data:`~container_maker.resources.Interceptor`), in the managers built
    with it: to inject a fault or a delay at one step of a create. Subclasses override
    :meth:`around`; or pass the function."""

    def __init__(self, around: Interceptor | None = None) -> None:
        self._given = around

    def around(self, call: str, kind: str, proceed: Callable[[], Any]) -> Any:
        return proceed() if self._given is None else self._given(call, kind, proceed)

    @hookimpl
    def cm_register_resources(self, registry: ResourceRegistry) -> None:
        registry.intercept(self.around)


@dataclass
class CallRecorder:
    """Records every hook call of the plugin managers it is attached to and every call of the
    resources they register, as :class:`HookCall`, in call order.

    Attach it before a manager is built from the plugin manager: the registry is found when
    ``cm_register_resources`` is called (those calls themselves, made while a manager is
    built, are not recorded).
    """

    calls: list[HookCall] = field(default_factory=list)
    _registries: list[object] = field(default_factory=list)

    def attach(self, pm: pluggy.PluginManager) -> Callable[[], None]:
        """Record ``pm``'s hook calls from now on; returns the function that stops it."""

        def before(
            hook_name: str, hook_impls: Sequence[pluggy.HookImpl], kwargs: Mapping[str, Any]
        ) -> None:
            if hook_name == "cm_register_resources":
                self.watch(kwargs["registry"])
            else:
                self.calls.append(HookCall(hook_name))

        def after(outcome: Any, hook_name: str, hook_impls: Any, kwargs: Any) -> None:
            pass

        return pm.add_hookcall_monitoring(before, after)

    def watch(self, registry: ResourceRegistry) -> None:
        """Record the calls of ``registry``'s resources (once per registry)."""
        if any(r is registry for r in self._registries):
            return
        self._registries.append(registry)
        registry.intercept(self._record)

    def _record(self, call: str, kind: str, proceed: Callable[[], T]) -> T:
        if call != "describe":  # pure, and no part of the order
            self.calls.append(HookCall(call, kind))
        return proceed()


@pytest.fixture
def cm_settings() -> Settings:
    """Settings for the kit's fixtures (defaults and the local sandbox domain, as
    ``./dev serve``; override in a conftest)."""
    return Settings.model_validate({"ingress_domain": LOCAL_INGRESS_DOMAIN})


@pytest.fixture
def cm_call_recorder() -> CallRecorder:
    """The recorder ``cm_plugin_manager`` is attached to (see ``cm_hook_calls``)."""
    return CallRecorder()


@pytest.fixture
def cm_plugin_manager(
    cm_settings: Settings, cm_call_recorder: CallRecorder
) -> pluggy.PluginManager:
    """A fresh plugin manager with the installed plugins loaded from entry points."""
    pm = create_plugin_manager(blocked=cm_settings.blocked_plugins)
    cm_call_recorder.attach(pm)
    return pm


@pytest.fixture
def cm_register(
    cm_plugin_manager: pluggy.PluginManager,
) -> Iterator[Callable[..., object]]:
    """Register plugins for the current test; they are unregistered afterwards."""
    registered: list[object] = []

    def register(plugin: object, name: str | None = None) -> object:
        cm_plugin_manager.register(plugin, name=name)
        cm_plugin_manager.check_pending()
        registered.append(plugin)
        return plugin

    yield register
    for plugin in reversed(registered):
        if cm_plugin_manager.is_registered(plugin):
            cm_plugin_manager.unregister(plugin)


@pytest.fixture
def cm_hook_calls(cm_call_recorder: CallRecorder) -> list[HookCall]:
    """Every hook call made through ``cm_plugin_manager`` and every call of its registered
    resources, from the start of the test on, in order (whatever order the fixtures were
    set up in: a manager built before this fixture is recorded too)."""
    cm_call_recorder.calls.clear()
    return cm_call_recorder.calls


@pytest.fixture
def kube_api_client(kube_cluster: Any) -> Iterator[client.ApiClient]:
    """An API client for the real test cluster (closed after the test)."""
    api_client: client.ApiClient = kube_cluster.api_client()
    yield api_client
    api_client.close()  # type: ignore[no-untyped-call]  # the client leaves close() unannotated


@pytest.fixture
def tenant_namespace(namespace: str, kube_api_client: client.ApiClient) -> str:
    """The test's fresh namespace, assigned to tenant ``local`` (see the module)."""
    assign_namespace(kube_api_client, namespace, LOCAL_IDENTITY.tenant)
    return namespace


@pytest.fixture
def kube_context(kube_api_client: client.ApiClient, cm_settings: Settings) -> KubeContext:
    """A context for calling a plugin's cluster hooks directly (deadline: the operation
    timeout of the settings, from the start of the test)."""
    return KubeContext(
        api_client=kube_api_client,
        settings=cm_settings,
        deadline=time.monotonic() + cm_settings.operation_timeout,
    )


@pytest.fixture
def container_manager(
    kube_api_client: client.ApiClient,
    cm_settings: Settings,
    cm_plugin_manager: pluggy.PluginManager,
) -> ContainerManager:
    """A container manager on the real test cluster."""
    return ContainerManager(kube_api_client, settings=cm_settings, plugin_manager=cm_plugin_manager)


@pytest.fixture
def fresh_namespace_name(
    kube_api_client: client.ApiClient, request: pytest.FixtureRequest
) -> Iterator[str]:
    """A namespace name nobody uses yet; whatever exists under it is deleted after the test."""
    stem = "".join(c if c.isalnum() else "-" for c in request.node.name.lower())[:40].strip("-")
    name = f"cm-{stem}-{uuid.uuid4().hex[:6]}"
    yield name
    core = client.CoreV1Api(kube_api_client)
    try:
        core.delete_namespace(name, propagation_policy="Background")
    except client.ApiException as e:
        if e.status != 404:
            raise


# -- calling the API as a tenant ----------------------------------------------------------------


class _Metadata(grpc.UnaryUnaryClientInterceptor, grpc.UnaryStreamClientInterceptor):
    def __init__(self, metadata: tuple[tuple[str, str], ...]) -> None:
        self.metadata = metadata

    def _details(self, details: Any) -> Any:
        return details._replace(metadata=(*(details.metadata or ()), *self.metadata))

    def intercept_unary_unary(self, continuation: Any, details: Any, request: Any) -> Any:
        return continuation(self._details(details), request)

    def intercept_unary_stream(self, continuation: Any, details: Any, request: Any) -> Any:
        return continuation(self._details(details), request)


def with_metadata(channel: grpc.Channel, *metadata: tuple[str, str]) -> grpc.Channel:
    """``channel`` sending ``metadata`` with every unary and server-streaming call."""
    return grpc.intercept_channel(channel, _Metadata(tuple(metadata)))


def token_channel(address: str, token: str) -> grpc.Channel:
    """A plaintext channel (a loopback test server) sending ``authorization: Bearer``."""
    return with_metadata(grpc.insecure_channel(address), ("authorization", f"Bearer {token}"))


def api_key_channel(address: str, key: str) -> grpc.Channel:
    """A plaintext channel (a loopback test server) sending ``x-api-key``."""
    return with_metadata(grpc.insecure_channel(address), ("x-api-key", key))


def service_account_token(
    api_client: client.ApiClient,
    namespace: str,
    name: str,
    audiences: Sequence[str] = (),
    seconds: int = 3600,
) -> str:
    """A fresh token of ServiceAccount ``namespace/name`` bound to ``audiences`` (the API
    server's own when empty), from the TokenRequest API; the account must exist."""
    spec: dict[str, Any] = {"expirationSeconds": seconds}
    if audiences:
        spec["audiences"] = list(audiences)
    body: Any = {"spec": spec}
    response = client.CoreV1Api(api_client).create_namespaced_service_account_token(
        name, namespace, body
    )
    assert response.status is not None
    return str(response.status.token)


def _pem_key(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


@dataclass
class TestPki:
    """A CA of its own in ``directory``, and certificates it signs (see ``cm_pki``)."""

    __test__ = False  # not a test class, despite the name

    directory: Path
    ca_cert: Path = field(init=False)
    _ca_key: ec.EllipticCurvePrivateKey = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        self._ca_key = ec.generate_private_key(ec.SECP256R1())
        name = x509.Name(
            [x509.NameAttribute(NameOID.COMMON_NAME, f"test-ca-{uuid.uuid4().hex[:6]}")]
        )
        now = datetime.datetime.now(datetime.UTC)
        ca = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(self._ca_key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(self._ca_key, hashes.SHA256())
        )
        self._ca = ca
        self.ca_cert = self.directory / "ca.crt"
        self.ca_cert.write_bytes(ca.public_bytes(serialization.Encoding.PEM))

    def _issue(
        self, name: str, subject: x509.Name, extensions: Sequence[x509.ExtensionType]
    ) -> tuple[Path, Path]:
        key = ec.generate_private_key(ec.SECP256R1())
        now = datetime.datetime.now(datetime.UTC)
        builder = (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(self._ca.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
        )
        for extension in extensions:
            builder = builder.add_extension(extension, critical=False)
        cert = builder.sign(self._ca_key, hashes.SHA256())
        cert_path, key_path = self.directory / f"{name}.crt", self.directory / f"{name}.key"
        cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        key_path.touch(mode=0o600)
        key_path.write_bytes(_pem_key(key))
        return cert_path, key_path

    def client(
        self, user: str, organizations: Sequence[str] = (), dns_names: Sequence[str] = ()
    ) -> tuple[Path, Path]:
        """A client certificate (and its key) for ``user`` (CN) in ``organizations`` (O, the
        first is the tenant of the ``client-certificate`` authenticator)."""
        subject = [x509.NameAttribute(NameOID.ORGANIZATION_NAME, o) for o in organizations]
        if user:
            subject.append(x509.NameAttribute(NameOID.COMMON_NAME, user))
        extensions: list[x509.ExtensionType] = [
            x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH])
        ]
        if dns_names:
            extensions.append(x509.SubjectAlternativeName([x509.DNSName(n) for n in dns_names]))
        return self._issue(f"client-{uuid.uuid4().hex[:8]}", x509.Name(subject), extensions)

    def server(self) -> tuple[Path, Path]:
        """A serving certificate for 127.0.0.1, ::1 and localhost."""
        names: list[x509.GeneralName] = [x509.DNSName("localhost")]
        names += [x509.IPAddress(ipaddress.ip_address(a)) for a in ("127.0.0.1", "::1")]
        subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
        return self._issue(
            "server",
            subject,
            [
                x509.SubjectAlternativeName(names),
                x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]),
            ],
        )

    def server_tls(self) -> TlsConfig:
        """TLS of a test server on loopback requiring client certificates of this CA."""
        cert, key = self.server()
        return TlsConfig(cert=cert, key=key, client_ca=self.ca_cert)


def certificate_channel(
    address: str, server_ca: Path, cert: Path | None = None, key: Path | None = None
) -> grpc.Channel:
    """A TLS channel trusting ``server_ca``, presenting the client certificate ``cert`` (none
    when None)."""
    credentials = grpc.ssl_channel_credentials(
        root_certificates=server_ca.read_bytes(),
        private_key=key.read_bytes() if key else None,
        certificate_chain=cert.read_bytes() if cert else None,
    )
    return grpc.secure_channel(address, credentials)


@dataclass
class ApiKeys:
    """A keys file of the ``api-key`` authenticator (see ``cm_api_keys``)."""

    path: Path
    entries: dict[str, dict[str, Any]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._write()

    def _write(self) -> None:
        # Written whole and renamed, as an operator's tooling would: never half a file.
        staging = self.path.with_suffix(".tmp")
        staging.write_text(json.dumps(list(self.entries.values())))
        staging.replace(self.path)

    def add(self, name: str, tenant: str, verbs: Sequence[str] = VERBS) -> str:
        """A new key for ``name`` in ``tenant`` granting ``verbs``; its entry is written."""
        plugin = create_plugin_manager().get_plugin("api-key")
        issue = getattr(plugin, "new_api_key", None)
        assert callable(issue), "the api-key plugin (container-maker-auth) is not installed"
        key, entry = issue(name, tenant, tuple(verbs))
        self.entries[name] = entry
        self._write()
        return str(key)

    def remove(self, name: str) -> None:
        """Revoke ``name``'s key (its entry leaves the file)."""
        del self.entries[name]
        self._write()

    def settings(self, base: Settings, **values: Any) -> Settings:
        """``base`` with the ``api-key`` authenticator reading this file."""
        return base.model_copy(
            update={"authenticators": ("api-key",), "api_keys_file": self.path, **values}
        )


@pytest.fixture
def cm_pki(tmp_path: Path) -> TestPki:
    """A fresh CA with loopback serving and client certificates (see :class:`TestPki`)."""
    return TestPki(tmp_path / "pki")


@pytest.fixture
def cm_api_keys(tmp_path: Path) -> ApiKeys:
    """An empty API keys file (see :class:`ApiKeys`)."""
    return ApiKeys(tmp_path / "api-keys.json")
