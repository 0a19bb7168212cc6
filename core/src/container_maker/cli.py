"""The ``container-maker`` command: ``container-maker serve`` runs the gRPC API.

Every option can also be set by the environment variable shown in ``--help``; a flag wins over
the variable, the variable over the default. ``serve`` serves the cluster a kubeconfig (or the
pod it runs in) names. A program that serves on a cluster of its own passes :func:`serve` a
:class:`ServedCluster`, which serve starts and always stops, and builds its command with
:func:`serve_command`, so that it has serve's options without repeating them: the test
cluster's ``python -m container_maker_testcluster serve`` (``./dev serve``) does, which is how a
newcomer gets a working API with one command. This package never imports the test cluster.
"""

from __future__ import annotations

import functools
import inspect
import json
import logging
import os
import sys
from collections.abc import Callable, Collection, Mapping
from pathlib import Path
from typing import Annotated, Any, Protocol

import typer
from pydantic import ValidationError

from .api.authentication import check_authenticators, check_exposure
from .api.kubeconfig import KubeTarget, load_api_client
from .api.logs import configure_logging
from .api.server import (
    DEFAULT_GRACE_SECONDS,
    DEFAULT_MAX_MESSAGE_BYTES,
    DEFAULT_PORT,
    DEFAULT_THREADS,
    TlsConfig,
    create_server,
)
from .api.signals import Interrupted, StopSignals
from .auth import VERBS
from .errors import ContainerMakerError, InvalidConfiguration
from .manager import ContainerManager
from .plugins import Hooks, PluginInfo, create_plugin_manager, describe_plugins
from .settings import (
    DEFAULT_HEALTH_PORT,
    ENV_PREFIX,
    PluginSettings,
    Settings,
    env_name,
    merged_quota,
    merged_resources,
    option_name,
    setting_type,
    split_names,
)
from .tenancy import assign_namespace, network_name_of

log = logging.getLogger("container_maker.cli")

app = typer.Typer(help=__doc__, no_args_is_help=True, add_completion=False)


def _env(name: str) -> str:
    return ENV_PREFIX + name


@app.callback()
def main() -> None:
    """Container Maker: a Kubernetes-native gRPC service that hands out containers."""


class ServedCluster(Protocol):
    """A cluster that :func:`serve` starts before it serves and stops when it stops, for a
    program that serves on a cluster of its own (the test cluster's ``serve`` command).

    Both are called in the main thread with serve's signal handlers in force: the first stop
    signal during :meth:`start` raises :class:`~container_maker.api.signals.Interrupted` in it.
    """

    def start(self) -> KubeTarget:
        """Start the cluster (this may take minutes) and return the API client to serve it
        with. It may log; what it prints goes to stderr."""

    def stop(self, *, now: bool) -> None:
        """Stop the cluster. Called once whenever :meth:`start` was called, whatever happened
        since (it failed, was interrupted, or serve stopped), so it copes with a cluster that
        is only partly started. ``now``: a second signal came, stop without waiting for the
        components' grace periods."""


def serve(
    host: Annotated[
        str | None,
        typer.Option(
            envvar=_env("HOST"),
            help="Address to listen on. Beyond loopback the server needs TLS and an "
            "--authenticator (or the --insecure-* flags) [default: 127.0.0.1].",
        ),
    ] = None,
    port: Annotated[
        int, typer.Option(envvar=_env("PORT"), min=0, max=65535, help="Port (0: any free one).")
    ] = DEFAULT_PORT,
    threads: Annotated[
        int,
        typer.Option(
            envvar=_env("THREADS"),
            min=1,
            help="Calls handled at once; each open watchContainers stream holds one.",
        ),
    ] = DEFAULT_THREADS,
    log_level: Annotated[
        str, typer.Option(envvar=_env("LOG_LEVEL"), help="debug, info, warning or error.")
    ] = "info",
    kubeconfig: Annotated[
        Path | None,
        typer.Option(
            envvar=_env("KUBECONFIG"),
            help="Kubeconfig of the cluster to serve (default: in-cluster when in a pod, "
            "else $KUBECONFIG, else ~/.kube/config).",
        ),
    ] = None,
    blocked_plugins: Annotated[
        list[str] | None,
        typer.Option(
            "--blocked-plugins",
            envvar=_env("BLOCKED_PLUGINS"),
            help="Plugin names not to load (never namespace or pod); repeatable or comma "
            "separated. container-maker plugins shows what is left.",
        ),
    ] = None,
    ingress_host: Annotated[
        str | None,
        typer.Option(
            envvar=_env("INGRESS_HOST"),
            help="Retired (one host shared by every container): refused at startup; use "
            "--ingress-domain.",
        ),
    ] = None,
    registry: Annotated[
        str | None,
        typer.Option(envvar=_env("REGISTRY"), help="OCI registry that saved images go to."),
    ] = None,
    max_ports: Annotated[
        int | None,
        typer.Option(
            envvar=_env("MAX_PORTS"),
            min=1,
            rich_help_panel="Limits and quotas",
            help="Most ports one container may publish [default: 16].",
        ),
    ] = None,
    max_environment_bytes: Annotated[
        int | None,
        typer.Option(
            envvar=_env("MAX_ENVIRONMENT_BYTES"),
            min=0,
            rich_help_panel="Limits and quotas",
            help="Most bytes of environment (names and values) per container [default: 32768].",
        ),
    ] = None,
    max_environment_value_bytes: Annotated[
        int | None,
        typer.Option(
            envvar=_env("MAX_ENVIRONMENT_VALUE_BYTES"),
            min=0,
            rich_help_panel="Limits and quotas",
            help="Most bytes of one environment value [default: 8192].",
        ),
    ] = None,
    max_resources: Annotated[
        str | None,
        typer.Option(
            envvar=_env("MAX_RESOURCES"),
            rich_help_panel="Limits and quotas",
            help="Most a container may ask for, per resource_requirements field, over the "
            "defaults cpu_request=4,cpu_limit=4,memory_request=8Gi,memory_limit=8Gi,"
            "ephemeral_request=10Gi,ephemeral_limit=10Gi,snapshot_size_limit=10Gi.",
        ),
    ] = None,
    min_resources: Annotated[
        str | None,
        typer.Option(
            envvar=_env("MIN_RESOURCES"),
            rich_help_panel="Limits and quotas",
            help="Least a container may request, over the defaults "
            "cpu_request=10m,memory_request=16Mi,ephemeral_request=16Mi.",
        ),
    ] = None,
    allow_node_ports: Annotated[
        bool | None,
        typer.Option(
            "--allow-node-ports/--no-allow-node-ports",
            envvar=_env("ALLOW_NODE_PORTS"),
            rich_help_panel="Limits and quotas",
            help="Let callers choose a node_port [default: no].",
        ),
    ] = None,
    load_balancer_node_ports: Annotated[
        bool | None,
        typer.Option(
            "--load-balancer-node-ports/--no-load-balancer-node-ports",
            envvar=_env("LOAD_BALANCER_NODE_PORTS"),
            rich_help_panel="Limits and quotas",
            help="Give LoadBalancer Services node ports (allocateLoadBalancerNodePorts), for "
            "load balancers that forward to node ports [default: no].",
        ),
    ] = None,
    namespace_quota: Annotated[
        str | None,
        typer.Option(
            envvar=_env("NAMESPACE_QUOTA"),
            rich_help_panel="Limits and quotas",
            help="ResourceQuota entries of each namespace Container Maker creates "
            "(count/pods=50,requests.cpu=20,...; an empty value drops one), over the defaults "
            "listed in the README.",
        ),
    ] = None,
    registry_insecure: Annotated[
        list[str] | None,
        typer.Option(
            envvar=_env("REGISTRY_INSECURE"),
            help="A registry (host[:port]) that may get credentials over plain HTTP; "
            "repeatable or comma separated. Credentials never go over plain HTTP to any other.",
        ),
    ] = None,
    image_registry: Annotated[
        list[str] | None,
        typer.Option(
            envvar=_env("IMAGE_REGISTRIES"),
            help="A registry image_name may come from: a host, host:port, or either with a "
            "/path prefix; repeat the flag or separate with commas (docker.io covers short "
            "names like nginx:1.27). The --registry of saved images is allowed too. "
            "Default: any registry.",
        ),
    ] = None,
    server_service_account: Annotated[
        str | None,
        typer.Option(
            envvar=_env("SERVER_SERVICE_ACCOUNT"),
            help="NAMESPACE/NAME of the server's own ServiceAccount: the server binds it to the "
            "ClusterRole container-maker-namespaced in each namespace it uses (deploy/ sets "
            "it; unset: nothing is bound).",
        ),
    ] = None,
    tls_cert: Annotated[
        Path | None,
        typer.Option(envvar=_env("TLS_CERT"), help="Server certificate (PEM): enables TLS."),
    ] = None,
    tls_key: Annotated[
        Path | None, typer.Option(envvar=_env("TLS_KEY"), help="Server private key (PEM).")
    ] = None,
    tls_client_ca: Annotated[
        Path | None,
        typer.Option(
            envvar=_env("TLS_CLIENT_CA"),
            help="CA (PEM) whose client certificates are required: mutual TLS.",
        ),
    ] = None,
    # -- callers: authentication and safe serving ---------------------------------------------
    authenticator: Annotated[
        list[str] | None,
        typer.Option(
            envvar=_env("AUTHENTICATORS"),
            rich_help_panel="Callers",
            help="Who may vouch for callers: kubernetes-token, client-certificate or api-key "
            "(or a third-party authenticator plugin); repeatable or comma separated. None: "
            "calls are anonymous, which only a loopback address accepts.",
        ),
    ] = None,
    reflection: Annotated[
        bool | None,
        typer.Option(
            "--reflection/--no-reflection",
            envvar=_env("REFLECTION"),
            rich_help_panel="Callers",
            help="Serve gRPC reflection (grpcurl without .proto files) [default: no; yes in "
            "the test cluster's serve].",
        ),
    ] = None,
    insecure_plaintext_on_network: Annotated[
        bool,
        typer.Option(
            "--insecure-plaintext-on-network",
            envvar=_env("INSECURE_PLAINTEXT_ON_NETWORK"),
            rich_help_panel="Callers",
            help="Serve without TLS on a non-loopback address (something in front must "
            "provide it).",
        ),
    ] = False,
    insecure_anonymous_on_network: Annotated[
        bool,
        typer.Option(
            "--insecure-anonymous-on-network",
            envvar=_env("INSECURE_ANONYMOUS_ON_NETWORK"),
            rich_help_panel="Callers",
            help="Serve anonymous callers (no --authenticator) on a non-loopback address.",
        ),
    ] = False,
    grace_period: Annotated[
        float,
        typer.Option(
            envvar=_env("GRACE_PERIOD"),
            min=0,
            help="Seconds calls in flight may take to finish after SIGTERM (a second signal "
            "cuts it short).",
        ),
    ] = DEFAULT_GRACE_SECONDS,
    max_message_bytes: Annotated[
        int,
        typer.Option(
            envvar=_env("MAX_MESSAGE_BYTES"),
            min=1024,
            help="Larger requests are refused (RESOURCE_EXHAUSTED).",
        ),
    ] = DEFAULT_MAX_MESSAGE_BYTES,
    # -- limits per caller and the health port (container_maker.api.limits) --
    health_port: Annotated[
        int | None,
        typer.Option(
            envvar=_env("HEALTH_PORT"),
            min=0,
            max=65535,
            help="Port of the health server (grpc.health.v1 Check only, plaintext, threads of "
            "its own; for the kubelet's probes), on the same host (0: any free one) "
            f"[default: {DEFAULT_HEALTH_PORT}].",
        ),
    ] = None,
    max_creates_per_second: Annotated[
        float | None,
        typer.Option(
            envvar=_env("MAX_CREATES_PER_SECOND"),
            min=0,
            rich_help_panel="Limits per caller",
            help="createContainer calls per second per tenant, after a burst of "
            "--max-create-burst; past it RESOURCE_EXHAUSTED with the wait (0: no limit) "
            "[default: 5].",
        ),
    ] = None,
    max_create_burst: Annotated[
        int | None,
        typer.Option(
            envvar=_env("MAX_CREATE_BURST"),
            min=1,
            rich_help_panel="Limits per caller",
            help="createContainer calls a tenant may make at once [default: 20].",
        ),
    ] = None,
    max_watches_per_caller: Annotated[
        int | None,
        typer.Option(
            envvar=_env("MAX_WATCHES_PER_CALLER"),
            min=0,
            rich_help_panel="Limits per caller",
            help="watchContainers streams one caller may hold open (0: only the server's "
            "limit from --threads) [default: 8].",
        ),
    ] = None,
    watch_queue_size: Annotated[
        int | None,
        typer.Option(
            envvar=_env("WATCH_QUEUE_SIZE"),
            min=1,
            rich_help_panel="Limits per caller",
            help="Events a watch stream may have waiting for its client; one that falls "
            "further behind ends with RESOURCE_EXHAUSTED (list and watch again) "
            "[default: 4096].",
        ),
    ] = None,
    # -- tenancy (namespace_prefix, server_namespace, max_containers_per_tenant) --
    namespace_prefix: Annotated[
        str | None,
        typer.Option(
            envvar=_env("NAMESPACE_PREFIX"),
            rich_help_panel="Tenancy",
            help="Put in front of each caller's network_name to make the Kubernetes namespace "
            "(cm- maps network demo to namespace cm-demo); responses name the network "
            "[default: none].",
        ),
    ] = None,
    server_namespace: Annotated[
        str | None,
        typer.Option(
            envvar=_env("SERVER_NAMESPACE"),
            rich_help_panel="Tenancy",
            help="The server's own namespace, never used for containers (like kube-* and "
            "default) [default: container-maker-system].",
        ),
    ] = None,
    max_containers_per_tenant: Annotated[
        int | None,
        typer.Option(
            envvar=_env("MAX_CONTAINERS_PER_TENANT"),
            min=1,
            rich_help_panel="Tenancy",
            help="Most containers one tenant may have across its namespaces; past it a "
            "create is RESOURCE_EXHAUSTED [default: 100].",
        ),
    ] = None,
    *,
    cluster: ServedCluster | None = None,
    plugin_settings: Mapping[str, Any] | None = None,
) -> None:
    """Serve the gRPC API (with health and reflection) until SIGTERM or Ctrl-C.

    The first SIGTERM or SIGINT stops gracefully: health turns NOT_SERVING and calls in flight
    get --grace-period seconds to finish. A second one stops now: the calls left are cancelled.
    A signal while starting aborts the start.
    """
    # The docstring above is the help of ``container-maker serve``. Called from Python, with
    # ``cluster`` (never a command-line option: see serve_command): serve starts that cluster
    # instead of loading a kubeconfig, and stops it when it stops, without its components'
    # grace after a second signal; ``kubeconfig`` is then unused. ``plugin_settings``: the
    # values of the plugins' own settings (serve_command's options derived from their models).
    configure_logging(log_level)
    overrides: dict[str, Any] = {
        "ingress_host": ingress_host,
        "blocked_plugins": split_names(*blocked_plugins) if blocked_plugins else None,
        "registry": registry,
        "max_ports": max_ports,
        "max_environment_bytes": max_environment_bytes,
        "max_environment_value_bytes": max_environment_value_bytes,
        "max_resources": max_resources,
        "min_resources": min_resources,
        "allow_node_ports": allow_node_ports,
        "load_balancer_node_ports": load_balancer_node_ports,
        "namespace_quota": namespace_quota,
        "registry_insecure": split_names(*registry_insecure) if registry_insecure else None,
        "image_registries": None if image_registry is None else split_names(*image_registry),
        "health_port": health_port,
        "max_creates_per_second": max_creates_per_second,
        "max_create_burst": max_create_burst,
        "max_watches_per_caller": max_watches_per_caller,
        "watch_queue_size": watch_queue_size,
        # tenancy
        "namespace_prefix": namespace_prefix,
        "server_namespace": server_namespace,
        "max_containers_per_tenant": max_containers_per_tenant,
        # callers
        "authenticators": None if authenticator is None else split_names(*authenticator),
        "reflection": reflection,
        "server_service_account": server_service_account,
    }
    cluster_started = False
    server = None
    # The stop signals are ours from the first line to the last, so that no signal finds the
    # default handler (which would end the process with a served cluster left behind).
    with StopSignals() as signals:
        try:
            with signals.interrupting():  # while starting, the first signal aborts the start
                overrides.update(plugin_settings or {})
                settings = _settings(overrides)
                tls = _tls(tls_cert, tls_key, tls_client_ca)
                host = host or "127.0.0.1"
                # Before any connection (to a cluster or a port): create_server checks again.
                check_exposure(
                    host,
                    tls=tls is not None,
                    authenticated=bool(settings.authenticators),
                    insecure_plaintext_on_network=insecure_plaintext_on_network,
                    insecure_anonymous_on_network=insecure_anonymous_on_network,
                )
                plugin_manager = create_plugin_manager(blocked=settings.blocked_plugins)
                check_authenticators(
                    Hooks(plugin_manager), settings, client_ca=bool(tls and tls.client_ca)
                )
                Hooks(plugin_manager).check_settings(settings)
                if cluster is not None:
                    cluster_started = True  # before start(): stop() even if it fails
                    target = cluster.start()
                else:
                    target = load_api_client(kubeconfig)
                manager = ContainerManager(
                    target.api_client, settings=settings, plugin_manager=plugin_manager
                )
                server, bound = create_server(
                    f"[{host}]:{port}" if ":" in host else f"{host}:{port}",
                    manager,
                    threads=threads,
                    tls=tls,
                    max_message_bytes=max_message_bytes,
                    insecure_plaintext_on_network=insecure_plaintext_on_network,
                    insecure_anonymous_on_network=insecure_anonymous_on_network,
                )
                server.start()
            # Started: from here on a signal is a stop (graceful), never an interrupted start.
            log.info(
                "serving",
                extra={
                    "address": host,
                    "port": bound,
                    "health_port": server.health_port,
                    "tls": "mutual" if tls and tls.client_ca else ("on" if tls else "off"),
                    "kubernetes": target.server,
                    "kube_config_source": target.source,
                    "plugins": sorted(manager.resources.plugins()),
                    "kinds": list(manager.resources.kinds()),
                    # The plugins' own settings given, by name (ingress_domain, ...).
                    **(settings.model_extra or {}),
                    "authenticators": list(settings.authenticators) or ["none (local)"],
                    "reflection": settings.reflection,
                },
            )
            server.serve_until_signalled(grace=grace_period, signals=signals)
        except Interrupted as interrupted:
            log.info("interrupted while starting", extra={"signal": interrupted.signal.name})
            if server is not None:
                server.stop(0)
        except ContainerMakerError as error:
            log.error("cannot serve: %s", error.message)
            raise typer.Exit(2) from error
        finally:
            if cluster is not None and cluster_started:
                # A second signal means "stop now" for the cluster too: no grace per component.
                cluster.stop(now=len(signals.received()) >= 2)
    if server is not None and server.handlers_running:
        # Their calls are cancelled and everything is stopped: waiting for the handlers (as
        # the interpreter's exit would, up to their own deadlines) would only keep a stopped
        # server's process alive.
        log.warning(
            "exiting without waiting for the handlers of cancelled calls",
            extra={"handlers": server.handlers_running},
        )
        logging.shutdown()
        sys.stdout.flush()
        os._exit(0)


def serve_command(
    run: Callable[..., None], *, without: Collection[str] = ()
) -> Callable[..., None]:
    """A typer command with the options of :func:`serve` (but those named in ``without``) and
    those of the installed plugins' settings, that calls ``run`` with serve's as keyword
    arguments and the plugins' as ``plugin_settings`` (the values given); its name and help are
    ``run``'s.

    Typer builds a command's options from its function's signature, so the returned function
    carries serve's, with the Annotated options resolved, followed by one option per field of
    each installed plugin's settings model (:func:`plugin_options`); ``cluster`` and
    ``plugin_settings`` are never options. This is ``container-maker serve`` itself (``run``
    is :func:`serve`), and the way for another program to offer the same options without
    repeating their definitions: the test cluster's ``serve`` has every one but
    ``--kubeconfig`` and calls :func:`serve` with a cluster.
    """
    signature = inspect.signature(serve, eval_str=True)
    unknown = set(without) - set(signature.parameters)
    if unknown:
        raise ValueError(f"serve has no options {sorted(unknown)}")
    hidden = {"cluster", "plugin_settings", *without}
    derived = plugin_options()
    names = {p.name for p in derived}

    @functools.wraps(run)
    def command(**options: Any) -> None:
        given = {name: options.pop(name) for name in names}
        values = {
            name: ",".join(value) if isinstance(value, list) else value
            for name, value in given.items()
            if value is not None and value != []
        }
        run(**options, plugin_settings=values)

    # inspect.signature (which typer calls) stops at a __signature__ before following
    # __wrapped__ (set by functools.wraps) to ``run``.
    own = [p for p in signature.parameters.values() if p.name not in hidden]
    command.__signature__ = signature.replace(  # type: ignore[attr-defined]
        parameters=[*own, *derived]
    )
    return command


def plugin_options() -> list[inspect.Parameter]:
    """serve's options for the settings of the installed plugins (all of them, blocked or
    not: which are blocked is itself a setting), each under its plugin's heading in --help.

    One option per field of each plugin's settings model (``cm_settings_model``):
    ``--<name>`` (``--<name>/--no-<name>`` for a flag), read from ``CONTAINER_MAKER_<NAME>``
    too, its help the field's description and default. A tuple setting is repeatable or comma
    separated.
    """
    pm = create_plugin_manager()
    distributions = {pm.get_name(plugin): dist for plugin, dist in pm.list_plugin_distinfo()}
    parameters = []
    by_model: dict[type[PluginSettings], list[str]] = {}
    for plugin, model in sorted(Hooks(pm).settings_models().items()):
        by_model.setdefault(model, []).append(plugin)
    for model, plugins in by_model.items():
        dist = distributions.get(plugins[0])
        panel = ("Plugin " if len(plugins) == 1 else "Plugins ") + ", ".join(plugins)
        panel += f" ({dist.project_name})" if dist is not None else ""
        for name, field in model.model_fields.items():
            base, _ = setting_type(field.annotation, field)
            default = field.get_default(call_default_factory=True)
            shown = ",".join(default) if isinstance(default, tuple) else default
            # Not in brackets: typer's rich markup would take "[default: x]" for a style.
            help_text = (field.description or "") + (
                f" Default: {shown}." if shown not in (None, "", ()) else ""
            )
            flag = option_name(name, field)
            option = typer.Option(
                f"{flag}/--no-{flag[2:]}" if base is bool else flag,
                envvar=env_name(name),
                help=help_text,
                rich_help_panel=panel,
                show_default=False,
                metavar="TEXT" if base is tuple else None,
            )
            cli_type: Any = list[str] if base is tuple else base
            parameters.append(
                inspect.Parameter(
                    name,
                    inspect.Parameter.KEYWORD_ONLY,
                    default=None,
                    annotation=Annotated[cli_type | None, option],
                )
            )
    return parameters


app.command("serve")(serve_command(serve))


@app.command("plugins")
def plugins(
    blocked_plugins: Annotated[
        list[str] | None,
        typer.Option(
            "--blocked-plugins",
            envvar=_env("BLOCKED_PLUGINS"),
            help="Plugin names a server would not load (as serve reads "
            "CONTAINER_MAKER_BLOCKED_PLUGINS); repeatable or comma separated.",
        ),
    ] = None,
    output: Annotated[
        str,
        typer.Option("--output", "-o", help="table (for people) or json (for scripts)."),
    ] = "table",
) -> None:
    """List the plugins a server would load: each one's distribution and version, the kinds
    it declares and the hooks it implements; blocked plugins are listed, marked blocked.

    Blocking an essential plugin (namespace, pod) is refused (exit 2), as serve refuses it;
    so are kinds a server could not order (a cycle of anchors, an anchor nobody registers, a
    kind two plugins register): the message names the plugins.
    """
    if output not in ("table", "json"):
        typer.echo(f"--output must be table or json, not {output!r}", err=True)
        raise typer.Exit(2)
    try:
        settings = _settings(
            {"blocked_plugins": None if blocked_plugins is None else split_names(*blocked_plugins)}
        )
        pm = create_plugin_manager(blocked=settings.blocked_plugins)
        infos = describe_plugins(pm, blocked=settings.blocked_plugins)
    except ContainerMakerError as error:
        typer.echo(f"cannot list the plugins: {error.message}", err=True)
        raise typer.Exit(2) from error
    if output == "json":
        typer.echo(json.dumps([info.model_dump(mode="json") for info in infos], indent=2))
    else:
        typer.echo(_plugin_table(infos))
    try:
        Hooks(pm).resources()  # what a server checks before it serves
    except ContainerMakerError as error:
        typer.echo(f"a server would not start with these plugins: {error.message}", err=True)
        raise typer.Exit(2) from error


def _plugin_table(infos: list[PluginInfo]) -> str:
    """Plain aligned columns: readable in a terminal and in a log, never wrapped or cut (a
    rich table would fold the hook lists at the terminal's width)."""
    header = ("NAME", "DISTRIBUTION", "VERSION", "KINDS", "HOOKS")
    rows = [header] + [
        (
            info.name + (" (blocked)" if info.blocked else ""),
            info.distribution or "-",
            info.version or "-",
            ",".join(info.kinds) or "-",
            ",".join(info.hooks) or "-",
        )
        for info in infos
    ]
    widths = [max(len(row[i]) for row in rows) for i in range(len(header) - 1)]
    padded = (
        [cell.ljust(width) for cell, width in zip(row[:-1], widths, strict=True)] + [row[-1]]
        for row in rows
    )
    return "\n".join("  ".join(cells) for cells in padded)


namespace_app = typer.Typer(
    help="Namespaces for tenants: Container Maker uses only namespaces labelled for the "
    "caller's tenant (container-maker.io/tenant).",
    no_args_is_help=True,
)
app.add_typer(namespace_app, name="namespace")


@namespace_app.command("assign")
def namespace_assign(
    name: Annotated[str, typer.Argument(help="The existing namespace (prefix included).")],
    tenant: Annotated[str, typer.Option(help="The tenant whose containers it is to hold.")],
    reassign: Annotated[
        bool,
        typer.Option(
            "--reassign", help="Move a namespace assigned to another tenant (and its containers)."
        ),
    ] = False,
    kubeconfig: Annotated[
        Path | None,
        typer.Option(
            envvar=_env("KUBECONFIG"),
            help="Kubeconfig with the right to patch namespaces (default: in-cluster, "
            "$KUBECONFIG, ~/.kube/config).",
        ),
    ] = None,
    namespace_prefix: Annotated[
        str | None,
        typer.Option(envvar=_env("NAMESPACE_PREFIX"), help="The server's --namespace-prefix."),
    ] = None,
    server_namespace: Annotated[
        str | None,
        typer.Option(envvar=_env("SERVER_NAMESPACE"), help="The server's --server-namespace."),
    ] = None,
) -> None:
    """Assign an existing namespace to a tenant (label it container-maker.io/tenant=TENANT).

    The tenant's callers then reach it as the network NAME without the prefix; Container Maker
    never deletes it (it lacks the managed-by label). kube-*, default and the server's
    namespace are refused.
    """
    configure_logging("warning")
    settings = _settings(
        {"namespace_prefix": namespace_prefix, "server_namespace": server_namespace}
    )
    try:
        target = load_api_client(kubeconfig)
        assign_namespace(target.api_client, name, tenant, settings=settings, reassign=reassign)
    except ContainerMakerError as error:
        typer.echo(f"cannot assign {name}: {error.message}", err=True)
        raise typer.Exit(2) from error
    network = network_name_of(name, settings)
    typer.echo(f"namespace {name} is tenant {tenant}'s (network {network})")


api_key_app = typer.Typer(
    help="Keys of the api-key authenticator (distribution container-maker-auth).",
    no_args_is_help=True,
)
app.add_typer(api_key_app, name="api-key")


@api_key_app.command("new")
def api_key_new(
    name: Annotated[str, typer.Option(help="Who the key is for (the caller's user name).")],
    tenant: Annotated[str, typer.Option(help="The tenant whose namespaces it may use.")],
    verb: Annotated[
        list[str] | None,
        typer.Option(help=f"A verb it grants ({', '.join(VERBS)}); repeatable [default: all]."),
    ] = None,
) -> None:
    """Make a new API key: print the key (only now) and the entry, with its hash, to add to the
    --api-keys-file list (or the api-keys.json of the --api-keys-secret Secret)."""
    plugin = create_plugin_manager().get_plugin("api-key")
    issue = getattr(plugin, "new_api_key", None)
    if not callable(issue):
        typer.echo("the api-key plugin (container-maker-auth) is not installed", err=True)
        raise typer.Exit(2)
    try:
        key, entry = issue(name, tenant, split_names(*verb) if verb else VERBS)
    except ValueError as error:
        typer.echo(f"cannot make the key: {error}", err=True)
        raise typer.Exit(2) from error
    typer.echo("API key (shown only now; the caller sends it as metadata x-api-key):")
    typer.echo(key)
    typer.echo("Entry to add to the keys (a JSON list):")
    typer.echo(json.dumps(entry))


def _settings(overrides: dict[str, Any]) -> Settings:
    """The settings from the environment, with the options given on the command line on top."""
    given = {key: value for key, value in overrides.items() if value is not None}
    for key in (
        "ingress_host",
        "ingress_domain",
        "ingress_tls_secret",
        "ingress_class",
        "registry",
        "server_service_account",
    ):
        if given.get(key) == "":
            given[key] = None  # an empty value means "none", as in the environment
    try:
        base = Settings.from_env()
        # Resource bounds and quota entries name only what changes from the defaults.
        for key, flag in (
            ("max_resources", "--max-resources"),
            ("min_resources", "--min-resources"),
        ):
            if key in given:
                given[key] = merged_resources(getattr(base, key), given[key], flag).model_dump()
        if "namespace_quota" in given:
            given["namespace_quota"] = merged_quota(
                base.namespace_quota, given["namespace_quota"], "--namespace-quota"
            )
        return Settings.model_validate({**base.model_dump(), **given})
    except ValueError as error:
        if not isinstance(error, ValidationError):
            raise InvalidConfiguration(f"bad settings: {error}") from error
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or 'settings'}: "
            # pydantic prefixes our own validators' messages; they read better without.
            + e["msg"].removeprefix("Value error, ")
            for e in error.errors()
        )
        raise InvalidConfiguration(f"bad settings: {problems}") from error


def _tls(cert: Path | None, key: Path | None, client_ca: Path | None) -> TlsConfig | None:
    if cert is None and key is None:
        if client_ca is not None:
            raise InvalidConfiguration("--tls-client-ca needs --tls-cert and --tls-key")
        return None
    if cert is None or key is None:
        raise InvalidConfiguration("TLS needs both --tls-cert and --tls-key")
    return TlsConfig(cert=cert, key=key, client_ca=client_ca)
