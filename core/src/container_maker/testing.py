"""The testing kit for plugin authors, registered as a pytest plugin (``pytest11`` entry point).

Install ``container-maker[testing]`` (it brings pytest) and the fixtures are there.

The cluster:

- ``kube_cluster`` (session): the cluster the tests run against, with ``api_client()`` (a new
  admin client), ``kubeconfig``, ``kubectl(*args)``, ``simulated`` (KWOK nodes) and ``local``.
  A plugin implementing the kit's hook ``pytest_container_maker_cluster(config)`` provides it
  (the workspace's ``container-maker-testcluster`` starts its own cluster, see
  :class:`ClusterHookspecs`); without one, the kit uses the kubeconfig named by
  ``CONTAINER_MAKER_TEST_KUBECONFIG`` (:class:`KubeconfigCluster`: nothing is started), and
  without that the tests needing a cluster are skipped, saying what to set.
- ``namespace`` (function): a fresh namespace on it for the test, made by the admin (no tenant
  label, so Container Maker refuses it: see ``tenant_namespace``), labelled
  :data:`TEST_NAMESPACE_LABEL`, deleted afterwards (:func:`scratch_namespace`).

Fixtures (function-scoped):

- ``cm_settings``: the :class:`~container_maker.settings.Settings` used by the fixtures below:
  the defaults, with the sandbox domain of ``./dev serve``
  (:data:`~container_maker.settings.LOCAL_INGRESS_DOMAIN`) so that EXPOSED works; override it
  in your conftest to test other configurations.
- ``cm_plugin_manager``: a fresh plugin manager with every installed plugin loaded from entry
  points (as production does), honouring ``cm_settings.blocked_plugins``.
- ``cm_register``: ``cm_register(plugin, name=None)`` registers a plugin (a module or object of
  hook functions) into ``cm_plugin_manager`` for the current test only, in place of an
  installed plugin of the same name (or the same object), which is back after the test.
  Managers built before a registration do not see it: use ``cm_manager``.
- ``cm_hook_calls``: a list that records every hook call made through ``cm_plugin_manager`` and
  every call the core makes of the resources its plugins registered, as :class:`HookCall`
  (``HookCall("cm_preflight")``, ``HookCall("create", "pod")``), in call order.
- ``kube_api_client``: a ``kubernetes.client.ApiClient`` for the real test cluster.
- ``kube_context``: a :class:`~container_maker.context.KubeContext` on that client, to call a
  plugin's cluster hooks directly.
- ``container_manager``: a :class:`~container_maker.manager.ContainerManager` on the real test
  cluster with ``cm_plugin_manager``.
- ``cm_manager``: ``cm_manager(*plugins, only=False, blocked=(), settings=None)`` builds a new
  manager on the test cluster from a fresh plugin manager with the installed plugins and
  ``plugins`` (``(name, plugin)`` pairs or plugins; exactly ``plugins`` with ``only``), see
  :func:`plugin_manager_with`; ``cm_hook_calls`` records it too.
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

The API in-process: :func:`serving` (a context manager) serves a manager (or a new one on an
API client) on a free loopback port and yields a :class:`Serving`: ``server``, ``port``,
``address``, ``channel`` and ``stub`` (a ``ContainerMakerAPI`` stub).

Helpers:

- :func:`foreign_pod` creates a pod "someone else" made (not labelled as ours).
- :func:`managed_objects` lists what Container Maker left in a namespace, straight from the API.
- :func:`eventually` fetches a value again until it is ready (a test failure after a timeout).
- :func:`container_spec` and :func:`build_context`: a valid spec and the build context a create
  gives a resource's build, with any field replaced (for testing a builder without a cluster).
- :class:`Intercepting`: a plugin running a function around every resource call (a fault or a
  delay at one step); :class:`CallRecorder` records hook and resource calls.
- :class:`~container_maker.memory.MemoryKind` (in :mod:`container_maker.memory`): an in-memory
  resource kind, to test where a plugin's kind goes among the others without a cluster;
  :func:`plugin_manager_with` builds a plugin manager of exactly the given plugins.
"""

from __future__ import annotations

import contextlib
import datetime
import ipaddress
import json
import os
import shutil
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from pathlib import Path
from types import ModuleType
from typing import Any, Protocol, TypeVar

import grpc
import pluggy
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from kubernetes import client, config

from ._proto import service_pb2_grpc
from .api.server import ApiServer, TlsConfig, create_server
from .auth import LOCAL_IDENTITY, VERBS
from .context import BuildContext, KubeContext
from .identity import ID_KEY, label_selector, new_container_id
from .manager import ContainerManager
from .markers import NAME, hookimpl
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


def plugin_manager_with(
    *plugins: object, only: bool = False, blocked: Sequence[str] = ()
) -> pluggy.PluginManager:
    """A fresh plugin manager with the installed plugins (none with ``only``) and ``plugins``.

    Each of ``plugins`` is a ``(name, plugin)`` pair or a plugin: an object with a ``name``
    attribute (a :class:`~container_maker.memory.MemoryKind` is named after its kind) is
    registered under it, an installed plugin's module under its entry-point name, anything else
    under pluggy's default name. A given plugin takes the place of an installed one of the same
    name (or of the same object under another name), so that a distribution's tests may pass
    the plugin it installs. ``blocked`` names are not loaded (the essential ones cannot be
    blocked); a given plugin with a blocked name, or two with one name, is a ValueError.
    """
    named = [_named(p) for p in plugins]
    names = [name for name, _ in named]
    twice = sorted({name for name in names if names.count(name) > 1})
    if twice:
        raise ValueError(f"two plugins given with the name(s) {twice}")
    pm = create_plugin_manager(blocked=blocked, load_entrypoints=not only)
    for name, plugin in named:
        _register(pm, name, plugin)
    pm.check_pending()
    return pm


def _named(plugin: object) -> tuple[str, object]:
    if isinstance(plugin, tuple) and len(plugin) == 2 and isinstance(plugin[0], str):
        return plugin[0], plugin[1]
    name = getattr(plugin, "name", None)
    if isinstance(name, str) and name:
        return name, plugin
    if isinstance(plugin, ModuleType):
        for entry_point in entry_points(group=NAME):
            if entry_point.attr is None and entry_point.module == plugin.__name__:
                return entry_point.name, plugin
    return getattr(plugin, "__name__", None) or str(id(plugin)), plugin


def _register(pm: pluggy.PluginManager, name: str, plugin: object) -> list[tuple[str, object]]:
    """Register ``plugin`` as ``name`` in place of what holds that name or that object; the
    (name, plugin) pairs it displaced."""
    if pm.is_blocked(name):
        raise ValueError(f"plugin {name!r} is blocked: it cannot be registered")
    current = pm.get_plugin(name)
    if current is plugin:
        return []
    displaced: list[tuple[str, object]] = []
    if current is not None:
        pm.unregister(name=name)
        displaced.append((name, current))
    if pm.is_registered(plugin):
        displaced.append((str(pm.get_name(plugin)), plugin))
        pm.unregister(plugin)
    pm.register(plugin, name=name)
    return displaced


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
    """Register plugins for the current test; they are unregistered afterwards, and the
    installed plugins they displaced (same name, or the same object) are registered again."""
    registered: list[tuple[object, list[tuple[str, object]]]] = []

    def register(plugin: object, name: str | None = None) -> object:
        named = _named(plugin if name is None else (name, plugin))
        displaced = _register(cm_plugin_manager, *named)
        cm_plugin_manager.check_pending()
        registered.append((named[1], displaced))
        return named[1]

    yield register
    for plugin, displaced in reversed(registered):
        if cm_plugin_manager.is_registered(plugin):
            cm_plugin_manager.unregister(plugin)
        for name, original in displaced:
            if not cm_plugin_manager.is_registered(original):
                cm_plugin_manager.register(original, name=name)


@pytest.fixture
def cm_hook_calls(cm_call_recorder: CallRecorder) -> list[HookCall]:
    """Every hook call made through ``cm_plugin_manager`` and every call of its registered
    resources, from the start of the test on, in order (whatever order the fixtures were
    set up in: a manager built before this fixture is recorded too)."""
    cm_call_recorder.calls.clear()
    return cm_call_recorder.calls


# -- the cluster ----------------------------------------------------------------------------

KUBECONFIG_ENV = "CONTAINER_MAKER_TEST_KUBECONFIG"
"""The environment variable naming the kubeconfig of the cluster the kit's fixtures use when no
plugin provides one (``pytest_container_maker_cluster``)."""

TEST_NAMESPACE_LABEL = "container-maker.io/test-namespace"
"""The label (value ``"true"``) of every namespace the ``namespace`` fixture makes: what a test
made, whatever cluster it ran on."""


class ClusterHookspecs:
    """The pytest hook the kit declares (added in ``pytest_addhooks``)."""

    @pytest.hookspec(firstresult=True)
    def pytest_container_maker_cluster(
        self, config: pytest.Config
    ) -> contextlib.AbstractContextManager[Any] | None:
        """Called once per test session, when a test first needs the ``kube_cluster``
        fixture, to provide the cluster.

        :param config: the pytest config.
        :returns: a context manager entered for the session; what it yields is
            ``kube_cluster``: an object with ``api_client()`` (a new admin
            ``kubernetes.client.ApiClient``), ``kubeconfig`` (a path), ``kubectl(*args, check=True,
            input=None)``, ``simulated`` (whether the nodes are simulated) and ``local`` (the
            provider's own handle, or None). It is exited at the end of the session.

        Stops at the first non-None result. Without one, the kit uses the kubeconfig named by
        :data:`KUBECONFIG_ENV` (see :class:`KubeconfigCluster`), or skips the tests that need
        a cluster. The test-cluster plugin (``container-maker-testcluster``) implements it with
        the cluster it starts.
        """


def pytest_addhooks(pluginmanager: pytest.PytestPluginManager) -> None:
    pluginmanager.add_hookspecs(ClusterHookspecs)


@dataclass(frozen=True)
class KubeconfigCluster:
    """A cluster reached through a kubeconfig: what ``kube_cluster`` is when no plugin provides
    one and :data:`KUBECONFIG_ENV` names a kubeconfig. Nothing is started or stopped."""

    kubeconfig: Path
    kubectl_path: str | None = None
    simulated: bool = False
    local: Any = None  # a provider's own handle on a cluster it started (None here)

    def api_client(self) -> client.ApiClient:
        """A new API client for the cluster (the kubeconfig's current context)."""
        api: client.ApiClient = config.new_client_from_config(  # type: ignore[no-untyped-call]
            config_file=str(self.kubeconfig)
        )
        return api

    def kubectl(
        self, *args: str, check: bool = True, input: str | None = None
    ) -> subprocess.CompletedProcess[str]:
        """Run kubectl against the cluster: ``kubectl_path``, else the one on PATH (the test is
        skipped without one)."""
        kubectl = self.kubectl_path or shutil.which("kubectl")
        if kubectl is None:
            pytest.skip("this test runs kubectl, and no kubectl is on PATH")
        return subprocess.run(
            [kubectl, f"--kubeconfig={self.kubeconfig}", *args],
            capture_output=True,
            text=True,
            # What a command in a pod prints need not be text (a server's binary greeting).
            errors="replace",
            check=check,
            input=input,
            timeout=120,
        )


@contextlib.contextmanager
def _kubeconfig_cluster() -> Iterator[KubeconfigCluster]:
    path = os.environ.get(KUBECONFIG_ENV)
    if not path:
        pytest.skip(
            f"no cluster: set {KUBECONFIG_ENV} to a kubeconfig (kind, k3d, a real cluster) or "
            "install a plugin providing one (container-maker-testcluster starts its own)"
        )
    kubeconfig = Path(path)
    if not kubeconfig.is_file():
        pytest.fail(f"{KUBECONFIG_ENV}={path} is not a file")
    yield KubeconfigCluster(kubeconfig)


@contextlib.contextmanager
def scratch_namespace(cluster: Any, test_name: str) -> Iterator[str]:
    """A new namespace on ``cluster`` (anything with ``api_client()``) named after
    ``test_name`` and labelled :data:`TEST_NAMESPACE_LABEL`, made by the admin without a
    tenant label; deleted (in the background) when the block ends."""
    api = cluster.api_client()
    core = client.CoreV1Api(api)
    stem = "".join(c if c.isalnum() else "-" for c in test_name.lower())[:40].strip("-")
    name = f"t-{stem}-{uuid.uuid4().hex[:6]}"
    try:
        core.create_namespace(
            client.V1Namespace(
                metadata=client.V1ObjectMeta(name=name, labels={TEST_NAMESPACE_LABEL: "true"})
            )
        )
        yield name
        try:
            core.delete_namespace(name, propagation_policy="Background")
        except client.ApiException as exc:
            if exc.status != 404:
                raise
    finally:
        api.close()


@pytest.fixture(scope="session")
def kube_cluster(pytestconfig: pytest.Config) -> Iterator[Any]:
    """The cluster of the test session (see ``pytest_container_maker_cluster``)."""
    provided = pytestconfig.hook.pytest_container_maker_cluster(config=pytestconfig)
    with provided if provided is not None else _kubeconfig_cluster() as cluster:
        yield cluster


@pytest.fixture
def namespace(kube_cluster: Any, request: pytest.FixtureRequest) -> Iterator[str]:
    """A fresh namespace for the test (see :func:`scratch_namespace`), deleted afterwards."""
    with scratch_namespace(kube_cluster, request.node.name) as name:
        yield name


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


class ManagerFactory(Protocol):
    """``cm_manager``'s signature (see :func:`plugin_manager_with`)."""

    def __call__(
        self,
        *plugins: object,
        only: bool = False,
        blocked: Sequence[str] = (),
        settings: Settings | None = None,
    ) -> ContainerManager: ...


@pytest.fixture
def cm_manager(
    kube_api_client: client.ApiClient, cm_settings: Settings, cm_call_recorder: CallRecorder
) -> ManagerFactory:
    """``cm_manager(*plugins, only=False, blocked=(), settings=None)``: a new container
    manager on the real test cluster, on a fresh plugin manager with the installed plugins and
    ``plugins`` (exactly ``plugins`` with ``only``), see :func:`plugin_manager_with`;
    ``settings`` default to ``cm_settings``, whose blocked plugins are blocked too.
    ``cm_hook_calls`` records its calls."""

    def make(
        *plugins: object,
        only: bool = False,
        blocked: Sequence[str] = (),
        settings: Settings | None = None,
    ) -> ContainerManager:
        settings = settings or cm_settings
        pm = plugin_manager_with(*plugins, only=only, blocked=(*settings.blocked_plugins, *blocked))
        cm_call_recorder.attach(pm)
        return ContainerManager(kube_api_client, settings=settings, plugin_manager=pm)

    return make


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


# -- the API in-process ------------------------------------------------------------------------


@dataclass
class Serving:
    """A started in-process API server (see :func:`serving`) and a channel to it."""

    server: ApiServer
    port: int
    channel: grpc.Channel

    @property
    def address(self) -> str:
        """``127.0.0.1:<port>``."""
        return f"127.0.0.1:{self.port}"

    @property
    def stub(self) -> Any:
        """A ``containermaker.ContainerMakerAPI`` stub on the channel."""
        return service_pb2_grpc.ContainerMakerAPIStub(self.channel)


@contextlib.contextmanager
def serving(
    target: ContainerManager | client.ApiClient,
    *,
    settings: Settings | None = None,
    plugin_manager: pluggy.PluginManager | None = None,
    tls: TlsConfig | None = None,
    channel: grpc.Channel | None = None,
    **options: Any,
) -> Iterator[Serving]:
    """Serve the API on a free loopback port for the block's duration: of ``target``, a
    container manager (``cm_manager(...)``, ``container_manager``), or a new manager on an API
    client with ``settings`` (default: those of ``cm_settings``) and ``plugin_manager``
    (default: the installed plugins).

    ``options`` go to :func:`~container_maker.api.create_server` (``reflection``,
    ``interceptors``, ...); the health server gets a free port too (``health_port=0``) unless
    given. The channel (plaintext, unless ``channel`` is given) is closed and the server
    stopped when the block ends.
    """
    if isinstance(target, ContainerManager):
        if settings is not None or plugin_manager is not None:
            raise ValueError("a manager brings its own settings and plugin manager")
        manager = target
    else:
        manager = ContainerManager(
            target,
            settings=settings or Settings.model_validate({"ingress_domain": LOCAL_INGRESS_DOMAIN}),
            plugin_manager=plugin_manager,
        )
    options.setdefault("health_port", 0)
    server, port = create_server("127.0.0.1:0", manager, tls=tls, **options)
    server.start()
    channel = channel or grpc.insecure_channel(f"127.0.0.1:{port}")
    try:
        yield Serving(server, port, channel)
    finally:
        channel.close()
        server.stop(0)


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
