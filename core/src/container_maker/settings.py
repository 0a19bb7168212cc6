"""The service's configuration, as one frozen model with documented defaults.

Plugins read it from the context they are handed; nothing reads the environment behind the
core's back. :meth:`Settings.from_env` is the one place environment variables are read.
"""

from __future__ import annotations

import ipaddress
import os
import re
from collections.abc import Iterable, Mapping
from decimal import Decimal
from typing import Any, Literal, TypeVar, get_args, get_origin

from pydantic import (
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic.fields import FieldInfo

from .errors import InvalidConfiguration
from .models import ContainerResources, Model
from .quantity import parse_quantity

ENV_PREFIX = "CONTAINER_MAKER_"

DEFAULT_RESOURCES = ContainerResources(
    cpu_request="100m",
    cpu_limit="1",
    memory_request="256Mi",
    memory_limit="1Gi",
    ephemeral_request="512Mi",
    ephemeral_limit="1Gi",
    snapshot_size_limit="2Gi",
)
"""Per-container defaults of design.md section 1; every value is overridable per request."""

DEFAULT_SIDECAR_RESOURCES = ContainerResources(
    cpu_request="10m",
    cpu_limit="200m",
    memory_request="32Mi",
    memory_limit="128Mi",
    ephemeral_request="16Mi",
    ephemeral_limit="256Mi",
)
"""Each sidecar's own small requests (a pod must not cost three times what was asked)."""

LOCAL_INGRESS_DOMAIN = "containers.localhost"
"""The sandbox domain of the test cluster's ``serve`` (``./dev serve``) and of the test kit:
under ``.localhost`` (RFC 6761), which resolvers answer with the loopback address or not at all,
never an outside address."""

_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")
_NAMESPACE_PREFIX = re.compile(r"^[a-z0-9][-a-z0-9]{0,61}$")

DEFAULT_MAX_CONTAINERS_PER_TENANT = 100
"""Containers one tenant may have by default: five namespaces at the default quota's 20 pods."""

RETIRED_INGRESS_HOST = (
    "ingress_host (--ingress-host, CONTAINER_MAKER_INGRESS_HOST) is no longer supported: it put "
    "every EXPOSED container on one host, one browser origin shared by all tenants. EXPOSED "
    "containers now get a host per container and port under --ingress-domain "
    "(CONTAINER_MAKER_INGRESS_DOMAIN), such as 80-web-demo-<hash>.<domain>; point a wildcard DNS "
    "record *.<domain> at the ingress controller, set the domain and unset ingress_host"
)
"""Why a configured ``ingress_host`` stops the server instead of being used (see the README)."""

DEFAULT_MAX_RESOURCES = ContainerResources(
    cpu_request="4",
    cpu_limit="4",
    memory_request="8Gi",
    memory_limit="8Gi",
    ephemeral_request="10Gi",
    ephemeral_limit="10Gi",
    snapshot_size_limit="10Gi",
)
"""The most one user container may ask for (each field of ``resource_requirements``)."""

DEFAULT_MIN_RESOURCES = ContainerResources(
    cpu_request="10m",
    memory_request="16Mi",
    ephemeral_request="16Mi",
)
"""The least a user container may request: a request of "0" would let the scheduler pack
pods onto a node without bound. Empty fields have no minimum."""

QUOTA_NAME = "container-maker"
"""Name of the ResourceQuota and of the LimitRange in every namespace Container Maker creates."""

DEFAULT_NAMESPACE_QUOTA: dict[str, str] = {
    "count/pods": "20",
    "requests.cpu": "8",
    "limits.cpu": "32",
    "requests.memory": "16Gi",
    "limits.memory": "32Gi",
    "requests.ephemeral-storage": "20Gi",
    "limits.ephemeral-storage": "40Gi",
    "services": "20",
    "services.loadbalancers": "5",
    "count/ingresses.networking.k8s.io": "20",
}
"""The ``spec.hard`` of each created namespace's ResourceQuota. 20 containers at the default
resources fit (with their two sidecars each: 28 CPU and 25 GiB of memory limits, 30 GiB of
ephemeral storage limits). ``services.nodeports`` is added from the node port settings unless
given (see :meth:`Settings.quota_hard`)."""

DEFAULT_HEALTH_PORT = 50053
"""The health server's port (``health_port``), next to the API's 50052."""

SETTINGS_BOOLEANS = {"1": True, "true": True, "yes": True, "0": False, "false": False, "no": False}


def key_values(text: str, what: str) -> dict[str, str]:
    """``"a=1,b=2"`` as a dict (spaces around items ignored); ValueError naming ``what``
    when an item has no "="."""
    pairs: dict[str, str] = {}
    for item in text.split(","):
        item = item.strip()
        if not item:
            continue
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ValueError(f"{what}: {item!r} is not name=value")
        pairs[key.strip()] = value.strip()
    return pairs


def merged_resources(base: ContainerResources, text: str, what: str) -> ContainerResources:
    """``base`` with the fields named in ``text`` ("cpu_limit=8,memory_limit=16Gi") replaced;
    an empty value removes that bound."""
    pairs = key_values(text, what)
    unknown = sorted(set(pairs) - set(ContainerResources.model_fields))
    if unknown:
        raise ValueError(
            f"{what}: unknown fields {unknown}; expected some of "
            + ", ".join(ContainerResources.model_fields)
        )
    return base.model_copy(update=pairs)


def merged_quota(base: Mapping[str, str], text: str, what: str) -> dict[str, str]:
    """``base`` with the quota entries of ``text`` ("count/pods=50,services=10") set; an empty
    value removes that entry."""
    merged = dict(base)
    for key, value in key_values(text, what).items():
        if value:
            merged[key] = value
        else:
            merged.pop(key, None)
    return merged


def boolean(text: str, what: str) -> bool:
    """ "true"/"false" (also 1/0, yes/no, any case) as a bool."""
    try:
        return SETTINGS_BOOLEANS[text.strip().lower()]
    except KeyError:
        raise ValueError(f"{what}: {text!r} is not true or false") from None


def names_once(value: tuple[str, ...]) -> tuple[str, ...]:
    """``value`` when it names each thing once and names no empty one; else ValueError (a
    validator's check of a list setting)."""
    if any(not name.strip() for name in value):
        raise ValueError("an empty name")
    repeated = sorted({name for name in value if value.count(name) > 1})
    if repeated:
        raise ValueError(f"{repeated} given more than once")
    return value


def split_names(*values: str) -> tuple[str, ...]:
    """Names from comma-separated values (``"a,b", "c"`` -> ``("a", "b", "c")``)."""
    return tuple(n.strip() for v in values for n in v.split(",") if n.strip())


# An allowed registry: host[:port] (a DNS name or [IPv6]) and an optional path prefix.
_REGISTRY_ENTRY = re.compile(
    r"^(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)*"
    r"|\[[0-9a-fA-F:]+\])(?::[0-9]+)?(?:/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*$"
)


class PluginSettings(Model):
    """Base of a plugin's own settings (``cm_settings_model`` returns the subclass).

    Each field is one setting: its name is the key in :class:`Settings`
    (``Settings(ingress_domain=...)``), ``CONTAINER_MAKER_<NAME>`` its environment variable and
    ``--<name-with-dashes>`` its ``serve`` option, listed under the plugin's own heading in ``serve
    --help`` with the field's ``description`` as its help (a description is required). Names are
    global: start them with the plugin's name. Field types a setting can have: ``str``, ``int``,
    ``float``, ``bool``, a ``Literal`` of words, ``tuple[str, ...]`` (comma separated or a repeated
    option), each optionally ``| None`` (an empty value means None); or any type, given as one text
    (``json_schema_extra={"text": True}``) that a ``mode="before"`` validator of the model parses
    (JSON, say). Validators of the model check the values when the server starts; they find the
    core's settings in their validation context (``info.context["settings"]``). Several plugins of
    one distribution may return the same model (they share its settings).
    """


P = TypeVar("P", bound=PluginSettings)


def env_name(field: str) -> str:
    """The environment variable of a setting named ``field``."""
    return ENV_PREFIX + field.upper()


def option_name(field: str, info: FieldInfo | None = None) -> str:
    """The ``serve`` option of a setting named ``field``: ``--<field-with-dashes>``, or the
    ``flag`` its field declares (``Field(json_schema_extra={"flag": "token-audience"})``, for
    a repeatable option named in the singular)."""
    extra = info.json_schema_extra if info is not None else None
    flag = extra.get("flag") if isinstance(extra, dict) else None
    return "--" + (flag if isinstance(flag, str) else field.replace("_", "-"))


def setting_type(annotation: Any, info: FieldInfo | None = None) -> tuple[type, bool]:
    """The base type of a plugin setting's annotation and whether it may be None; TypeError
    for a type a setting cannot have. A field declaring ``json_schema_extra={"text": True}``
    is given as one text (``str``) of any type: its model's validator parses it."""
    extra = info.json_schema_extra if info is not None else None
    if isinstance(extra, dict) and extra.get("text") is True:
        return str, False
    optional = False
    args = get_args(annotation)
    if type(None) in args:
        optional = True
        rest = [a for a in args if a is not type(None)]
        if len(rest) != 1:
            raise TypeError(f"{annotation} is not a setting type")
        annotation = rest[0]
    if get_origin(annotation) is tuple and get_args(annotation) == (str, ...):
        return tuple, optional
    if get_origin(annotation) is Literal and all(isinstance(a, str) for a in get_args(annotation)):
        return str, optional  # one of the given words
    if annotation in (str, int, float, bool):
        return annotation, optional
    raise TypeError(f"{annotation} is not a setting type")


def plugin_settings(model: type[P], values: Mapping[str, Any], core: Settings | None = None) -> P:
    """``model`` from ``values``; strings (from the environment or a command line) are
    converted to each field's type first. InvalidConfiguration naming the field for a bad
    value. The model's validators find the core's settings ``core`` in their validation
    context (``info.context["settings"]``), for checks that depend on them."""
    converted = {name: _setting_value(model, name, value) for name, value in values.items()}
    try:
        return model.model_validate(converted, context={"settings": core or Settings()})
    except ValidationError as error:
        problems = "; ".join(
            f"{'.'.join(str(part) for part in e['loc']) or 'settings'}: {e['msg']}"
            for e in error.errors()
        )
        raise InvalidConfiguration(f"bad settings of {model.__name__}: {problems}") from error


def _setting_value(model: type[PluginSettings], name: str, value: Any) -> Any:
    info = model.model_fields[name]
    base, optional = setting_type(info.annotation, info)
    if isinstance(value, os.PathLike):
        value = os.fspath(value)  # a file setting given as a Path
    if isinstance(value, list):
        return tuple(value)
    if not isinstance(value, str):
        return value
    text = value.strip() if base is not str else value
    if optional and not text.strip():
        return None
    try:
        if base is tuple:
            return split_names(text)
        if base is bool:
            return boolean(text, env_name(name))
        return base(text)
    except ValueError as error:
        raise InvalidConfiguration(
            f"bad settings of {model.__name__}: {name} ({option_name(name)}, "
            f"{env_name(name)}): {value!r} is not a {base.__name__}"
        ) from error


class Settings(Model):
    """Configuration of the container manager and its plugins.

    The fields below are the core's (and, for now, those of the built-in plugins that do not
    declare a model of their own yet). A plugin that declares its settings
    (``cm_settings_model``: a :class:`PluginSettings` subclass) has them carried here as extra
    values by field name (``Settings(ingress_domain="sandbox.example.net")``, the environment
    variable ``CONTAINER_MAKER_INGRESS_DOMAIN``, the serve option ``--ingress-domain``) and
    reads them, validated by its model, with :meth:`of`.

    - ``blocked_plugins``: plugin names not to load (never "namespace" or "pod").
    - ``ingress_host`` is retired: giving it is an error (:data:`RETIRED_INGRESS_HOST`).
    - ``registry``: the OCI registry (``host[:port][/path]``) that ``saveContainer`` pushes
      saved images to (None: saving is not configured). The agent speaks HTTPS, except to a
      registry named in ``registry_insecure``; for loopback, RFC 1918 and ``.local`` names its
      registry library falls back to plain HTTP by itself, but then only anonymously.
    - ``registry_endpoints``: registry name -> ``host:port`` at which pods reach that registry
      when it differs from its name (a node-local test registry reached through a relay);
      applies to ``registry`` and to the registries of saved containers' images.
    - ``registry_insecure``: registry names (``host[:port]``, as in references) that may be
      spoken to over plain HTTP with credentials. Credentials never go over plain HTTP to any
      other registry: such a save is FAILED_PRECONDITION before anything is sent.
    - ``snapshot_mount_path``: where the shared snapshot volume is mounted in the user's
      container (the snapshot sidecar keeps its lock in a volume of its own).
    - ``image_registries``: the registries ``image_name`` may come from, each
      ``host[:port][/path prefix]`` (``docker.io`` covers short names such as ``nginx:1.27``,
      which mean ``docker.io/library/nginx``). Empty: any registry. When set, the registry of
      ``registry`` is allowed too, so saved images can be created again.
    - ``default_resources`` / ``sidecar_resources``: see the constants above.
    - ``node_port_min`` / ``node_port_max``: the cluster's NodePort range.
    - ``operation_timeout``: seconds an operation may take (create, delete) unless the caller
      gives its own deadline.
    - ``delete_wait_timeout``: seconds delete waits for objects to disappear before leaving the
      rest to Kubernetes (the garbage collector and the kubelet).
    - ``watch_read_timeout``: seconds the watch hub waits for a byte from a watch before it
      takes the connection for dead and watches again from the last resourceVersion (a
      frozen or restarted API server; in a quiet cluster it just renews the watch).
    - ``watch_server_timeout``: seconds after which the API server ends each watch request
      (``timeoutSeconds``); the hub then watches again from where it was.

    Limits and quotas (what one request, and one namespace, may cost):

    - ``max_ports``: most entries of ``publish_information`` (each becomes a Service port).
    - ``max_environment_bytes``: most bytes of environment (names plus values, UTF-8) per
      container; ``max_environment_value_bytes``: most bytes of one value. Both land in the
      Pod object in etcd, whose objects are limited to 1.5 MiB and its database to 2 GiB.
    - ``max_resources`` / ``min_resources``: per field of ``resource_requirements``, the most
      and the least a user container may ask for ("" in a field: no bound). The defaults must
      lie between them.
    - ``allow_node_ports``: whether callers may choose a ``node_port`` (off: a request naming
      one is refused; ports of the shared NodePort range are the operator's to hand out).
    - ``load_balancer_node_ports``: whether LoadBalancer Services get a node port per port
      (``allocateLoadBalancerNodePorts``). Off by default, so that containers cannot use up
      the cluster-wide NodePort range; turn it on for load balancer implementations that send
      traffic to node ports (some cloud load balancers), which otherwise never get ready.
    - ``namespace_quota``: the ResourceQuota's ``hard`` of every namespace Container Maker
      creates (named ``container-maker``, like its LimitRange, which is derived from the
      resource settings and the sidecars' resources so that our own pods always fit).

    Tenancy (see :mod:`container_maker.tenancy`):

    - ``namespace_prefix``: put in front of every caller's ``network_name`` to make the
      Kubernetes namespace (``cm-`` maps network ``demo`` to namespace ``cm-demo``); "" (the
      default): the namespace is the network. Lowercase letters, digits and '-', starting with
      a letter or digit, at most 62 characters, not ``kube-``. Responses always name the
      network, without the prefix.
    - ``server_namespace``: the server's own namespace, never used for containers (like
      ``kube-*`` and ``default``).
    - ``max_containers_per_tenant``: most containers one tenant may have, across all its
      namespaces (default 100: five full namespaces at the default quota of 20 pods); past it
      a create is RESOURCE_EXHAUSTED.

    Limits of the API per caller, and its health port (:mod:`container_maker.api.limits`):

    - ``max_creates_per_second``: createContainer calls each tenant may make per second, in
      bursts of up to ``max_create_burst`` (a token bucket per tenant; every call counts, even
      one that is then refused). Past it: RESOURCE_EXHAUSTED with the time to wait. 0: no limit.
    - ``max_watches_per_caller``: watchContainers streams one caller (its user, as named by its
      authenticator) may hold open at once; 0: no limit of its own. The server's limit of all
      streams (from its threads) holds as well.
    - ``watch_queue_size``: events a watch stream may have waiting for its client (beyond the
      current state it starts with). A client that falls that far behind is cut off: its stream
      ends with RESOURCE_EXHAUSTED, and it lists again and watches again.
    - ``health_port``: the port of the server's second, small gRPC server that answers only
      ``grpc.health.v1.Health/Check`` (the kubelet's probes), on threads of its own, so that
      slow calls on the API's port never delay a probe; 0: any free port. Same host as the API.

    Callers (authentication; see :mod:`container_maker.auth` and the ``container-maker-auth``
    plugins):

    - ``authenticators``: the authenticator plugins that may vouch for callers, by name
      (``kubernetes-token``, ``client-certificate``, ``api-key``, or a third party's); a name
      no installed plugin answers to stops the server. Empty: calls carry no credentials, which
      the server accepts only on loopback (as :data:`~container_maker.auth.LOCAL_IDENTITY`).
    - ``reflection``: serve gRPC server reflection (what grpcurl needs without a ``.proto``).

    The server's own access:

    - ``server_service_account``: ``namespace/name`` of the ServiceAccount the server runs as
      (``container-maker-system/container-maker`` in ``deploy/``). When set, the server binds
      it to the ClusterRole ``container-maker-namespaced`` by a RoleBinding ``container-maker``
      in each namespace it creates containers in (the namespace plugin's ``access`` module):
      its cluster-wide role holds no namespaced writes. None (the default): nothing is bound,
      for a server whose credentials have those rights already (an admin, ``./dev serve``).
    """

    # Values of the plugins' own settings, by field name (read through of()).
    model_config = ConfigDict(strict=True, frozen=True, extra="allow")

    blocked_plugins: tuple[str, ...] = ()
    registry: str | None = None
    registry_endpoints: dict[str, str] = Field(default_factory=dict)
    registry_insecure: tuple[str, ...] = ()
    image_registries: tuple[str, ...] = ()
    snapshot_mount_path: str = "/var/lib/container-maker/snapshot"
    default_resources: ContainerResources = DEFAULT_RESOURCES
    sidecar_resources: ContainerResources = DEFAULT_SIDECAR_RESOURCES
    node_port_min: int = 30000
    node_port_max: int = 32767
    operation_timeout: float = Field(default=120.0, gt=0)
    delete_wait_timeout: float = Field(default=60.0, ge=0)
    watch_read_timeout: float = Field(default=60.0, gt=0)
    watch_server_timeout: int = Field(default=300, gt=0)
    # Limits and quotas
    max_ports: int = Field(default=16, ge=1)
    max_environment_bytes: int = Field(default=32 * 1024, ge=0)
    max_environment_value_bytes: int = Field(default=8 * 1024, ge=0)
    max_resources: ContainerResources = DEFAULT_MAX_RESOURCES
    min_resources: ContainerResources = DEFAULT_MIN_RESOURCES
    allow_node_ports: bool = False
    load_balancer_node_ports: bool = False
    namespace_quota: dict[str, str] = Field(default_factory=lambda: dict(DEFAULT_NAMESPACE_QUOTA))
    # Limits of the API per caller, and the health port
    max_creates_per_second: float = Field(default=5.0, ge=0, allow_inf_nan=False)
    max_create_burst: int = Field(default=20, ge=1)
    max_watches_per_caller: int = Field(default=8, ge=0)
    watch_queue_size: int = Field(default=4096, ge=1)
    health_port: int = Field(default=DEFAULT_HEALTH_PORT, ge=0, le=65535)
    # Tenancy
    namespace_prefix: str = ""
    server_namespace: str = "container-maker-system"
    max_containers_per_tenant: int = Field(default=DEFAULT_MAX_CONTAINERS_PER_TENANT, ge=1)

    @field_validator("namespace_prefix")
    @classmethod
    def _prefix_starts_a_dns_label(cls, value: str) -> str:
        if value and not _NAMESPACE_PREFIX.match(value):
            raise ValueError(
                f"{value!r} is not the start of a namespace name: lowercase letters, digits and "
                "'-', starting with a letter or digit, at most 62 characters (such as cm-)"
            )
        if value.startswith("kube-"):
            raise ValueError(f"{value!r} starts with kube-, which Kubernetes reserves")
        return value

    @field_validator("server_namespace")
    @classmethod
    def _server_namespace_is_a_name(cls, value: str) -> str:
        if not _DNS_LABEL.match(value):
            raise ValueError(f"{value!r} is not a namespace name (a lowercase DNS label)")
        return value

    @model_validator(mode="before")
    @classmethod
    def _refuse_ingress_host(cls, data: Any) -> Any:
        # An operator upgrading with the old one-host setting must hear about it at startup:
        # using it as before would keep the shared origin, and using it as the domain would
        # move every container to hosts that its DNS record and certificate do not cover.
        if isinstance(data, Mapping) and "ingress_host" in data:
            if data["ingress_host"] not in (None, ""):
                raise ValueError(RETIRED_INGRESS_HOST)
            data = {k: v for k, v in data.items() if k != "ingress_host"}
        return data

    @field_validator("image_registries")
    @classmethod
    def _registries_are_hosts(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for entry in value:
            if not _REGISTRY_ENTRY.match(entry):
                raise ValueError(
                    f"{entry!r} is not a registry: host[:port][/path prefix], like "
                    "registry.example.com, 10.0.0.5:5000 or docker.io/library"
                )
        return value

    # The server's own access
    server_service_account: str | None = None

    @field_validator("server_service_account")
    @classmethod
    def _service_account(cls, value: str | None) -> str | None:
        if value is None:
            return None
        namespace, _, name = value.partition("/")
        if (
            not _DNS_LABEL.match(namespace)
            or not name
            or len(name) > 253
            or not all(_DNS_LABEL.match(part) for part in name.split("."))
        ):
            raise ValueError(
                f"{value!r} is not a ServiceAccount as namespace/name "
                "(e.g. container-maker-system/container-maker)"
            )
        return value

    # Callers: authentication
    authenticators: tuple[str, ...] = ()
    reflection: bool = False

    @field_validator("authenticators")
    @classmethod
    def _names_once(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        return names_once(value)

    @model_validator(mode="after")
    def _resource_bounds_hold(self) -> Settings:
        def value(group: str, field: str, text: str) -> Decimal | None:
            if not text:
                return None
            try:
                return parse_quantity(text)
            except ValueError as e:
                raise ValueError(f"{group}.{field}: {e}") from e

        for field in ContainerResources.model_fields:
            low = value("min_resources", field, getattr(self.min_resources, field))
            high = value("max_resources", field, getattr(self.max_resources, field))
            default = value("default_resources", field, getattr(self.default_resources, field))
            if low is not None and high is not None and low > high:
                raise ValueError(f"min_resources.{field} is more than max_resources.{field}")
            if default is not None and (
                (low is not None and default < low) or (high is not None and default > high)
            ):
                raise ValueError(
                    f"default_resources.{field} ({getattr(self.default_resources, field)}) is "
                    f"outside min_resources and max_resources"
                )
        for request, limit in (
            ("cpu_request", "cpu_limit"),
            ("memory_request", "memory_limit"),
            ("ephemeral_request", "ephemeral_limit"),
        ):
            high_request = value("max_resources", request, getattr(self.max_resources, request))
            high_limit = value("max_resources", limit, getattr(self.max_resources, limit))
            # A request given alone raises its limit to match (resolve_resources); it must not
            # get past the limit's maximum that way.
            if high_request is not None and high_limit is not None and high_request > high_limit:
                raise ValueError(f"max_resources.{request} must not exceed max_resources.{limit}")
        for name, text in self.namespace_quota.items():
            value("namespace_quota", name, text)
        return self

    def of(self, model: type[P]) -> P:
        """The settings of the plugin whose model is ``model``: the values given for its fields
        (strings from the environment or the command line converted to the fields' types),
        defaults for the rest. Raises InvalidConfiguration naming the plugin's model and the
        field when a value is bad (a manager checks every loaded plugin's when it starts)."""
        # Not cached: a copy (model_copy) shares private attributes and may change values; a
        # small model is validated in microseconds.
        values = {k: v for k, v in (self.model_extra or {}).items() if k in model.model_fields}
        return plugin_settings(model, values, self)

    def quota_hard(self) -> dict[str, str]:
        """The ResourceQuota's ``hard``: ``namespace_quota``, with ``services.nodeports`` (when
        not given) 0 unless node ports can be had, else ``max_ports`` per load balancer."""
        hard = dict(self.namespace_quota)
        if "services.nodeports" not in hard:
            if self.allow_node_ports or self.load_balancer_node_ports:
                balancers = int(parse_quantity(hard.get("services.loadbalancers", "1")))
                hard["services.nodeports"] = str(self.max_ports * max(1, balancers))
            else:
                hard["services.nodeports"] = "0"
        return hard

    @classmethod
    def from_env(
        cls,
        environ: Mapping[str, str] | None = None,
        models: Iterable[type[PluginSettings]] = (),
    ) -> Settings:
        """Settings from ``CONTAINER_MAKER_*`` variables; unset variables keep the defaults.

        The fields of the plugin settings ``models`` are read too, each from
        ``CONTAINER_MAKER_<FIELD>`` (see :func:`env_name`).

        ``CONTAINER_MAKER_BLOCKED_PLUGINS``, ``CONTAINER_MAKER_REGISTRY_INSECURE`` and
        ``CONTAINER_MAKER_IMAGE_REGISTRIES`` are
        comma-separated lists.
        """
        env = os.environ if environ is None else environ
        values: dict[str, object] = {}
        blocked = env.get(ENV_PREFIX + "BLOCKED_PLUGINS")
        if blocked is not None:
            values["blocked_plugins"] = tuple(p.strip() for p in blocked.split(",") if p.strip())
        registries = env.get(ENV_PREFIX + "IMAGE_REGISTRIES")
        if registries is not None:
            values["image_registries"] = split_names(registries)
        for name in (
            "ingress_host",
            "registry",
        ):
            value = env.get(ENV_PREFIX + name.upper())
            if value is not None:
                # An empty registry (or the retired ingress host) means "none", not "".
                optional = name.startswith(("ingress", "registry"))
                values[name] = (value or None) if optional else value
        insecure = env.get(ENV_PREFIX + "REGISTRY_INSECURE")
        if insecure is not None:
            values["registry_insecure"] = split_names(insecure)
        endpoints = env.get(ENV_PREFIX + "REGISTRY_ENDPOINTS")
        if endpoints:
            # "name=host:port,name=host:port"
            pairs = (p.split("=", 1) for p in endpoints.split(",") if "=" in p)
            values["registry_endpoints"] = {k.strip(): v.strip() for k, v in pairs}
        account = env.get(ENV_PREFIX + "SERVER_SERVICE_ACCOUNT")
        if account is not None:
            values["server_service_account"] = account or None
        values.update(limit_values(env, ENV_PREFIX))
        values.update(api_limit_values(env, ENV_PREFIX))
        values.update(tenancy_values(env, ENV_PREFIX))
        values.update(auth_values(env, ENV_PREFIX))
        for model in models:
            for name in model.model_fields:
                text = env.get(env_name(name))
                if text is not None:
                    values[name] = text
        return cls.model_validate(values)


API_LIMITS: dict[str, type[int] | type[float]] = {
    "max_creates_per_second": float,
    "max_create_burst": int,
    "max_watches_per_caller": int,
    "watch_queue_size": int,
    "health_port": int,
}
"""The settings of the API's limits per caller (and its health port), with their types."""


def api_limit_values(env: Mapping[str, str], prefix: str) -> dict[str, object]:
    """The :data:`API_LIMITS` settings given in ``env`` (``prefix`` + the upper-case name)."""
    return number_values(env, prefix, API_LIMITS)


def number_values(
    env: Mapping[str, str], prefix: str, kinds: Mapping[str, type[int] | type[float]]
) -> dict[str, object]:
    """The numeric settings ``kinds`` (name -> int or float) given in ``env`` (``prefix`` + the
    upper-case name). ValueError names the variable of a value that is not a number."""
    values: dict[str, object] = {}
    for name, kind in kinds.items():
        text = env.get(prefix + name.upper())
        if text:
            try:
                values[name] = kind(text)
            except ValueError:
                raise ValueError(f"{prefix}{name.upper()}: {text!r} is not a number") from None
    return values


def auth_values(env: Mapping[str, str], prefix: str) -> dict[str, object]:
    """The core's "Callers" settings given in ``env`` (``AUTHENTICATORS`` comma-separated,
    ``REFLECTION``), as model values over the defaults."""
    values: dict[str, object] = {}
    text = env.get(prefix + "AUTHENTICATORS")
    if text is not None:
        values["authenticators"] = split_names(text)
    text = env.get(prefix + "REFLECTION")
    if text:
        values["reflection"] = boolean(text, prefix + "REFLECTION")
    return values


def limit_values(env: Mapping[str, str], prefix: str) -> dict[str, object]:
    """The "Limits and quotas" settings given in ``env`` (under ``prefix`` + the upper-case
    name), as model values over the defaults. ValueError names the variable of a bad value."""
    counts = ("max_ports", "max_environment_bytes", "max_environment_value_bytes")
    values = number_values(env, prefix, dict.fromkeys(counts, int))
    for name in ("allow_node_ports", "load_balancer_node_ports"):
        text = env.get(prefix + name.upper())
        if text:
            values[name] = boolean(text, prefix + name.upper())
    for name, base in (
        ("max_resources", DEFAULT_MAX_RESOURCES),
        ("min_resources", DEFAULT_MIN_RESOURCES),
    ):
        text = env.get(prefix + name.upper())
        if text:
            values[name] = merged_resources(base, text, prefix + name.upper())
    text = env.get(prefix + "NAMESPACE_QUOTA")
    if text:
        values["namespace_quota"] = merged_quota(
            DEFAULT_NAMESPACE_QUOTA, text, prefix + "NAMESPACE_QUOTA"
        )
    return values


def tenancy_values(env: Mapping[str, str], prefix: str) -> dict[str, object]:
    """The tenancy settings given in ``env`` (``namespace_prefix``, ``server_namespace``,
    ``max_containers_per_tenant``); ValueError names the variable of a bad value."""
    values: dict[str, object] = {}
    for name in ("namespace_prefix", "server_namespace"):
        text = env.get(prefix + name.upper())
        if text is not None:
            values[name] = text
    text = env.get(prefix + "MAX_CONTAINERS_PER_TENANT")
    if text:
        try:
            values["max_containers_per_tenant"] = int(text)
        except ValueError:
            raise ValueError(
                f"{prefix}MAX_CONTAINERS_PER_TENANT: {text!r} is not a number"
            ) from None
    return values


def split_endpoint(endpoint: str) -> tuple[str, int]:
    """``"ip:port"`` (``"[v6]:port"`` for IPv6) as an address and a port; ValueError if not."""
    host, sep, port = endpoint.rpartition(":")
    host = host.removeprefix("[").removesuffix("]")
    try:
        address = ipaddress.ip_address(host)
        number = int(port)
    except ValueError:
        number = 0
        address = None
    if not sep or address is None or not 0 < number < 65536:
        raise ValueError(f"{endpoint!r} is not an ip:port ([ip]:port for IPv6)")
    return str(address), number
