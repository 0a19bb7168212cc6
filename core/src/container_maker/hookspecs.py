"""Hook specifications: the whole contract between the core and plugins.

Every hook is an empty function documented with when it is called, each parameter, what it
returns, and whether the first non-None result wins (``firstresult``) or results from all plugins
are collected into a list. Hook names carry the ``cm_`` prefix. The core calls hooks only with
keyword arguments, through the typed facade in :mod:`container_maker.plugins`.

Resource kinds are not hooks: a plugin registers each of its kinds once, as a
:class:`~container_maker.resources.Resource` (``cm_register_resources``), and the core calls the
resource's own functions, so no plugin is ever asked about a kind that is not its own.
"""

from __future__ import annotations

from .auth import Access, Credentials, Decision, Identity
from .context import BuildContext, KubeContext
from .markers import hookspec
from .models import ContainerSpec, ObservedObject, PodExtras, SavedImage
from .resources import ResourceRegistry
from .settings import PluginSettings, Settings

# The specs have no bodies on purpose (pluggy never runs them); mypy's empty-body check is
# disabled for this module in the workspace's mypy configuration.


@hookspec
def cm_register_resources(registry: ResourceRegistry) -> None:
    """Register the resource kinds this plugin owns.

    Called: once per container manager (and by ``container-maker plugins``), when it is
    constructed, once for each plugin implementing it; what the plugin adds is attributed to it.

    Parameters:
        registry: the :class:`~container_maker.resources.ResourceRegistry` to
            :meth:`~container_maker.resources.ResourceRegistry.add` each
            :class:`~container_maker.resources.Resource` to: its kind, builder, how it is
            created, found, deleted and watched, from which exposure level on it applies,
            where it goes (``after`` / ``before`` other kinds), whether it belongs to a
            container or to its namespace, and where it hangs in the associated-resources tree.

    Returns: None. Two plugins registering one kind, an anchor naming a kind nobody registers
    (and no blocked plugin stands for) and a cycle of anchors are startup errors
    (InvalidConfiguration) naming the plugins; so is a missing essential kind (namespace,
    pod). The core then walks the registry's computed order: create forwards up to the
    requested exposure level, delete and rollback in reverse.

    Results from all plugins are collected (and ignored).
    """


@hookspec
def cm_settings_model() -> type[PluginSettings] | None:
    """Declare this plugin's own settings.

    Called: once per plugin, when a manager is constructed (to check the plugin's values) and
    when the command line is built (``serve``'s options and their environment variables come
    from the model's fields, under the plugin's heading in ``--help``).

    Parameters: none.

    Returns: a :class:`~container_maker.settings.PluginSettings` subclass, one field per
    setting (each with a ``description``), or None for a plugin without settings. The plugin
    reads its values with ``settings.of(ItsModel)`` from any context's settings. Two plugins
    declaring one setting name, or a name of the core's own settings, is a startup error.

    Results from all plugins are collected.
    """


@hookspec
def cm_preflight(spec: ContainerSpec, kinds: tuple[str, ...], settings: Settings) -> None:
    """Refuse a create that a plugin cannot carry out, before anything touches the cluster.

    Called: during create, once, after the core validated the request and found every kind of
    its exposure level installed, and before any cluster call (even the lookup of an existing
    container of that name), so a refusal leaves nothing behind.

    Parameters:
        spec: the validated container spec (``network_name`` as the caller gave it).
        kinds: the kinds the create will make, in the registry's order ("namespace", "status",
            "pod", ...); a plugin checks only when its own kind is among them.
        settings: the service configuration.

    Returns: None. A plugin refuses by raising the error hierarchy: FailedPrecondition when the
    service is not configured for the request (the ingress plugin without
    its ``ingress_domain`` setting), InvalidArgument naming the request field otherwise.

    Results from all plugins are collected (and ignored; only a raise counts).
    """


@hookspec
def cm_pod_extras(spec: ContainerSpec, context: BuildContext) -> PodExtras | None:
    """Contribute sidecar containers and volumes to the container's pod.

    Called: during create at every exposure level, once, right before the pod is built; the
    results are passed to the pod's build as ``context.pod_extras``.

    Parameters:
        spec: the validated container spec; its ``network_name`` is the Kubernetes
            namespace.
        context: a :class:`~container_maker.context.BuildContext` (without owner or extras).

    Returns: a :class:`~container_maker.models.PodExtras` (containers and volumes to add, as
    Kubernetes JSON dicts; containers must not be privileged; optionally the ServiceAccount the
    pod runs as, which the plugin's own kind made before the pod), or None to add
    nothing.

    Results from all plugins are collected (in pluggy's call order; the pod plugin sorts them by
    plugin name so that the pod does not depend on registration order).
    """


@hookspec(firstresult=True)
def cm_save(pod: ObservedObject, context: KubeContext) -> SavedImage | None:
    """Save the filesystem of a container's pod as an image in the configured registry.

    Called: by ``saveContainer``, once per pod of the container (one container has one pod),
    after the pod was found and the registry checked to be configured.

    Parameters:
        pod: the container's pod as found (its name, namespace, labels and containers).
        context: the Kubernetes client, the settings (``registry``, ``snapshot_*``) and the
            deadline.

    Returns: the pushed image as a :class:`~container_maker.models.SavedImage` (reference with
    its digest), or None when the plugin does not save (no snapshot sidecar). Failures raise the
    core errors: FailedPrecondition (pod not running), ResourceExhausted (over the snapshot size
    limit), Unavailable (registry unreachable), Aborted (a save of it is in progress).

    The first non-None result wins (firstresult).
    """


@hookspec(firstresult=True)
def cm_authenticate(
    credentials: Credentials, settings: Settings, context: KubeContext
) -> Identity | None:
    """Say who is calling, from the call's metadata and TLS peer.

    Called: for every call of the ContainerMakerAPI service (not health), before the servicer
    runs, by the API layer; plugins are asked in pluggy's order until one answers.

    Parameters:
        credentials: the call's :class:`~container_maker.auth.Credentials` (metadata, peer,
            verified client certificate, method).
        settings: the service configuration (a plugin acts only when the operator enabled it
            there: ``settings.authenticators`` names it).
        context: a :class:`~container_maker.context.KubeContext` (a TokenReview needs the API
            client), with a short deadline.

    Returns: the caller's :class:`~container_maker.auth.Identity` when the credentials are of
    this plugin's kind and valid; None when the call carries no credentials of its kind. Bad,
    expired or wrong-audience credentials of its kind raise
    :class:`~container_maker.errors.Unauthenticated` (the message must not say more about the
    server than which kinds of credentials it accepts).

    The first non-None result wins (firstresult). No identity at all: UNAUTHENTICATED.
    """


@hookspec
def cm_accepted_credentials(settings: Settings) -> str | None:
    """Describe the credentials this plugin accepts, for UNAUTHENTICATED messages.

    Called: when the server is created (to know whether any authenticator is configured) and
    when a call is refused as unauthenticated.

    Parameters:
        settings: the service configuration.

    Returns: one short phrase ("a Kubernetes bearer token (metadata authorization: Bearer
    <token>, audience container-maker)") when the plugin is enabled in ``settings``, else None.

    Results from all plugins are collected.
    """


@hookspec
def cm_authorize(identity: Identity, access: Access, context: KubeContext) -> Decision | None:
    """Decide whether ``identity`` may have ``access`` (a verb on containers in a namespace).

    Called: by the manager, at the start of every operation, for identities whose ``verbs``
    are None (those whose rights the cluster decides, such as Kubernetes tokens); identities
    granted verbs at authentication (API keys, client certificates, the anonymous local one)
    are checked against those verbs by the core instead. Either way the namespace must be the
    identity's tenant's too: that is checked by the core, after this hook.

    Parameters:
        identity: the authenticated caller.
        access: the :class:`~container_maker.auth.Access` (verb, the caller's network name and
            the namespace it maps to, the container id if any).
        context: a :class:`~container_maker.context.KubeContext` (a SubjectAccessReview needs
            the API client).

    Returns: a :class:`~container_maker.auth.Decision`, or None when the plugin has no say
    about this identity.

    Results from all plugins are collected: any ``allowed=False`` refuses
    (PERMISSION_DENIED with its reason), and at least one ``allowed=True`` is needed.
    """
