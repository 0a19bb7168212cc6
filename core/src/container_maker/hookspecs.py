"""Hook specifications: the whole contract between the core and plugins.

Every hook is an empty function documented with when it is called, each parameter, what it
returns, and whether the first non-None result wins (``firstresult``) or results from all plugins
are collected into a list. Hook names carry the ``cm_`` prefix. The core calls hooks only with
keyword arguments, through the typed facade in :mod:`container_maker.plugins`.

Per-kind hooks (``cm_build``, ``cm_create``, ``cm_get``, ``cm_delete``) receive ``kind``; the
plugin owning that kind answers and every other plugin returns None.
"""

from __future__ import annotations

from typing import Any

from .auth import Access, Credentials, Decision, Identity
from .context import BuildContext, KubeContext
from .kube import NamespacedKind
from .markers import hookspec
from .models import (
    AssociatedResource,
    ContainerSpec,
    DeleteResult,
    Manifest,
    ObservedObject,
    PodExtras,
    Query,
    ResourceKind,
    SavedImage,
)
from .settings import Settings

# The specs have no bodies on purpose (pluggy never runs them); mypy's empty-body check is
# disabled for this module in the workspace's mypy configuration.


@hookspec
def cm_declare_kind() -> ResourceKind | None:
    """Declare the resource kind this plugin owns.

    Called: once per container manager, when it is constructed, to learn which plugin owns which
    kind of the exposure chain (``container_maker.chain.EXPOSURE_CHAIN``) and from which
    exposure level on each kind applies.

    Parameters: none.

    Returns: a :class:`~container_maker.models.ResourceKind` (``kind`` and ``min_level``), or
    None for plugins that own no kind (the sidecar plugins).

    Results from all plugins are collected; two plugins declaring one kind is a configuration
    error.
    """


@hookspec
def cm_preflight(spec: ContainerSpec, kinds: tuple[str, ...], settings: Settings) -> None:
    """Refuse a create that a plugin cannot carry out, before anything touches the cluster.

    Called: during create, once, after the core validated the request and found every kind of
    its exposure level installed, and before any cluster call (even the lookup of an existing
    container of that name), so a refusal leaves nothing behind.

    Parameters:
        spec: the validated container spec (``network_name`` as the caller gave it).
        kinds: the kinds the create will make, in chain order ("namespace", "status", "pod",
            ...); a plugin checks only when its own kind is among them.
        settings: the service configuration.

    Returns: None. A plugin refuses by raising the error hierarchy: FailedPrecondition when the
    service is not configured for the request (the ingress plugin without
    ``settings.ingress_domain``), InvalidArgument naming the request field otherwise.

    Results from all plugins are collected (and ignored; only a raise counts).
    """


@hookspec(firstresult=True)
def cm_build(kind: str, spec: ContainerSpec, context: BuildContext) -> Manifest | None:
    """Build the Kubernetes object of ``kind`` for a container (pure: no cluster access).

    Called: during create, once per kind of the chain up to the requested exposure level, in
    chain order, right before ``cm_create`` for the same kind.

    Parameters:
        kind: the kind to build ("namespace", "networkpolicy", "status", "pod", "service",
            "ingress").
        spec: the validated container spec; its ``network_name`` is the Kubernetes
            namespace (the operator's ``namespace_prefix`` applied).
        context: a :class:`~container_maker.context.BuildContext`: the container id, the
            caller's tenant (a label on every object, and on a namespace we create), the
            resolved resources, the settings, the owner Pod (for service and ingress) and, for
            the pod, the sidecars' contributions from ``cm_pod_extras``.

    Returns: the :class:`~container_maker.models.Manifest` to create, carrying the
    managed-by and container-id labels; None when ``kind`` is not this plugin's. A kind made
    of several objects returns them as a ``v1`` ``List`` (the status kind: the namespace's
    status ServiceAccount and RoleBinding, which only our managed-by label marks, then the
    container's Lease), which its own ``cm_create`` understands.

    The first non-None result wins (firstresult).
    """


@hookspec
def cm_pod_extras(spec: ContainerSpec, context: BuildContext) -> PodExtras | None:
    """Contribute sidecar containers and volumes to the container's pod.

    Called: during create at every exposure level, once, before ``cm_build`` for the pod; the
    results are passed to the pod's build as ``context.pod_extras``.

    Parameters:
        spec: the validated container spec; its ``network_name`` is the Kubernetes
            namespace.
        context: a :class:`~container_maker.context.BuildContext` (without owner or extras).

    Returns: a :class:`~container_maker.models.PodExtras` (containers and volumes to add, as
    Kubernetes JSON dicts; containers must not be privileged; optionally the ServiceAccount the
    pod runs as, which the plugin's own kind made earlier in the chain), or None to add
    nothing.

    Results from all plugins are collected (in pluggy's call order; the pod plugin sorts them by
    plugin name so that the pod does not depend on registration order).
    """


@hookspec(firstresult=True)
def cm_create(kind: str, manifest: Manifest, context: KubeContext) -> ObservedObject | None:
    """Create the object of ``kind`` in the cluster.

    Called: during create, once per kind of the chain up to the requested exposure level, in
    chain order, right after ``cm_build`` for the same kind.

    Parameters:
        kind: the kind to create.
        manifest: what ``cm_build`` returned for this kind.
        context: a :class:`~container_maker.context.KubeContext` (API client, settings,
            deadline). Transient cluster conditions (a namespace still terminating, a new
            namespace's default ServiceAccount not existing yet) are waited out before the
            deadline by the owning plugin.

    Returns: the created object as an :class:`~container_maker.models.ObservedObject`
    (for the namespace: the existing one when it already existed and is labelled for the
    manifest's tenant; one of another tenant or of none is never adopted: Forbidden); None when
    ``kind`` is not this plugin's. Failures raise the error hierarchy.

    The first non-None result wins (firstresult).
    """


@hookspec(firstresult=True)
def cm_get(kind: str, query: Query, context: KubeContext) -> tuple[ObservedObject, ...] | None:
    """Find the managed objects of ``kind`` matching ``query``, in one API call.

    Called: by get, list and delete (and by create to detect an existing container of the same
    name), at most once per kind per operation; get and list (and the watch) look up only the
    kinds of a container's view (``container_maker.chain.CONTAINER_KINDS``), delete and the
    rollback of a failed create every kind but the namespace.

    Parameters:
        kind: the kind to look up.
        query: a :class:`~container_maker.models.Query`: the namespace and optionally a
            container id or name. For "namespace" the query names the namespace itself.
        context: a :class:`~container_maker.context.KubeContext`.

    Returns: a tuple of :class:`~container_maker.models.ObservedObject` (empty when nothing
    matches; only objects labelled managed-by container-maker, except for the namespace, which
    is returned whoever made it and whatever tenant it is labelled for: the core decides
    whether the caller may use it); None when ``kind`` is not this plugin's.

    The first non-None result wins (firstresult).
    """


@hookspec(firstresult=True)
def cm_delete(
    kind: str, objects: tuple[ObservedObject, ...], context: KubeContext
) -> DeleteResult | None:
    """Delete objects of ``kind`` that an earlier ``cm_get`` or ``cm_create`` returned.

    Called: by delete, walking the chain in reverse (ingress, service, pod, status,
    networkpolicy, then the namespace when the core decided it may go: created by Container
    Maker and no managed container left);
    and by create, in reverse, to roll back what it created when a later step failed.

    Parameters:
        kind: the kind to delete.
        objects: the :class:`~container_maker.models.ObservedObject` summaries to delete. The
            plugin deletes exactly those (by name, with their uid as a precondition, so a
            recreated object of the same name is untouched) and skips any object not labelled
            managed-by container-maker.
        context: a :class:`~container_maker.context.KubeContext`.

    Returns: a :class:`~container_maker.models.DeleteResult` saying what was deleted, what was
    skipped and whether everything was gone before ``settings.delete_wait_timeout``; None when
    ``kind`` is not this plugin's (so "not mine" and "done" differ). Objects already gone count
    as deleted.

    The first non-None result wins (firstresult).
    """


@hookspec(firstresult=True)
def cm_watch_source(kind: str) -> NamespacedKind[Any] | None:
    """How to list and watch the objects of ``kind`` in all namespaces at once.

    Called: by the watch hub behind ``watchContainers``, once per kind of a container
    (pod, service, ingress) when the hub starts its one watch per kind.

    Parameters:
        kind: the kind to watch.

    Returns: the plugin's :class:`~container_maker.kube.NamespacedKind` for ``kind`` with its
    ``list_all`` call set (the hub lists, then watches, with the managed-by label selector and
    summarises each object with its ``observe``); None when ``kind`` is not this plugin's. A
    kind nobody answers for is not watched (its changes arrive with the next pod change).

    The first non-None result wins (firstresult).
    """


@hookspec
def cm_describe_associations(
    container_id: str, objects: dict[str, tuple[ObservedObject, ...]]
) -> tuple[AssociatedResource, ...] | None:
    """Describe one container's objects as nodes of the associated-resources tree.

    Called: by create, get and list, once per container, after its objects were found.

    Parameters:
        container_id: the container's id.
        objects: the container's objects by kind ("pod", "service", "ingress"; a kind with no
            object is absent).

    Returns: a tuple of :class:`~container_maker.models.AssociatedResource` for the objects of
    the plugin's own kind (the pod plugin adds its containers as "pod_container" children), or
    None. The core nests the nodes along the chain: ingress -> services -> pods.

    Results from all plugins are collected.
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
