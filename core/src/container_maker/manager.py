"""The container manager: create, list, get and delete containers by walking the registry.

Every operation acts for a caller (an :class:`~container_maker.auth.Identity`): it maps the
caller's ``network_name`` to a Kubernetes namespace, has the caller authorized for the operation
(``cm_authorize``) before any cluster call, and uses only namespaces of the caller's tenant
(:mod:`container_maker.tenancy`).

It validates requests before touching the cluster, creates a container's objects in the order
of the :class:`~container_maker.resources.ResourceRegistry` the plugins composed (rolling back
what it created when a step fails), finds containers with one label-selected call per kind, and
deletes in reverse order, removing a namespace only when Container Maker created it and no
managed container is left in it. All cluster work happens in the plugins' resources and hooks
(the latter reached through the typed facade :class:`~container_maker.plugins.Hooks`).
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections import defaultdict

import pluggy
from kubernetes.client import ApiClient

from .auth import LOCAL_IDENTITY, Access, Identity, Verb
from .context import BuildContext, KubeContext
from .errors import (
    AlreadyExists,
    ContainerMakerError,
    FailedPrecondition,
    InternalError,
    NotFound,
    NotReady,
    NotReadyInTime,
    Unavailable,
)
from .identity import (
    EXPOSURE_KEY,
    ID_KEY,
    NAME_KEY,
    SPEC_HASH_ANNOTATION,
    exposure_from_label,
    is_managed,
    new_container_id,
)
from .models import (
    Container,
    ContainerPhase,
    ContainerResources,
    ContainerSpec,
    DeleteOutcome,
    ExposureLevel,
    ObjectRef,
    ObservedObject,
    PublishedPort,
    Query,
    SavedImage,
)
from .plugins import Hooks, create_plugin_manager
from .readiness import container_status
from .resources import Resource
from .settings import Settings
from .tenancy import (
    TenantAdmission,
    belongs_to,
    is_reserved,
    namespace_for,
    network_name_of,
    refused_namespace,
    tenant_containers,
)
from .validation import validate_container_id, validate_spec

log = logging.getLogger(__name__)

Objects = dict[str, tuple[ObservedObject, ...]]


class ContainerManager:
    """Create, list, get and delete containers.

    Parameters:
        api_client: an official ``kubernetes.client.ApiClient`` for the target cluster.
        settings: the configuration (defaults when None).
        plugin_manager: a ready plugin manager; when None one is built by
            :func:`~container_maker.plugins.create_plugin_manager` honouring
            ``settings.blocked_plugins``.

    Thread-safe: it keeps no per-operation state, so one instance serves concurrent requests.
    """

    def __init__(
        self,
        api_client: ApiClient,
        *,
        settings: Settings | None = None,
        plugin_manager: pluggy.PluginManager | None = None,
    ) -> None:
        self.settings = settings or Settings()
        if plugin_manager is None:
            plugin_manager = create_plugin_manager(blocked=self.settings.blocked_plugins)
        self.hooks = Hooks(plugin_manager)
        self.resources = self.hooks.resources()
        self.hooks.check_settings(self.settings)
        self.api_client = api_client
        self.admission = TenantAdmission(self.settings.max_containers_per_tenant)

    # -- helpers ----------------------------------------------------------------------------

    def _context(self, timeout: float | None) -> KubeContext:
        seconds = self.settings.operation_timeout if timeout is None else timeout
        return KubeContext(
            api_client=self.api_client,
            settings=self.settings,
            deadline=time.monotonic() + seconds,
        )

    def _get(self, kind: str, query: Query, ctx: KubeContext) -> tuple[ObservedObject, ...]:
        if kind not in self.resources:
            return ()
        return self.resources[kind].find(query, ctx)

    def assemble(self, container_id: str, namespace: str, objects: Objects) -> Container:
        """A :class:`Container` from its objects by kind (the pod must be among them); pure."""
        return self._assemble(container_id, namespace, objects)

    def check_namespace(
        self,
        network_name: str,
        *,
        timeout: float | None = None,
        caller: Identity = LOCAL_IDENTITY,
    ) -> str:
        """The namespace of ``network_name`` if the caller may watch it (the watch's check).

        InvalidArgument for a bad name, Forbidden when the caller may not watch, NotFound
        (the same as :meth:`list`'s) when the namespace does not exist or is not the tenant's.
        """
        return self._tenant_namespace(caller, "watch", network_name, "", self._context(timeout))

    def _authorize(
        self,
        caller: Identity,
        verb: Verb,
        network_name: str,
        container_id: str,
        ctx: KubeContext,
    ) -> str:
        """Map ``network_name`` to its namespace and have ``caller`` authorized for ``verb``
        there (before any cluster call of the operation); the namespace."""
        namespace = namespace_for(network_name, self.settings)
        access = Access(
            verb=verb, network_name=network_name, namespace=namespace, container_id=container_id
        )
        self.hooks.authorize(identity=caller, access=access, context=ctx)
        return namespace

    def _tenant_namespace(
        self,
        caller: Identity,
        verb: Verb,
        network_name: str,
        container_id: str,
        ctx: KubeContext,
    ) -> str:
        """The namespace of ``network_name`` once the caller is authorized for ``verb`` and the
        namespace is the caller's tenant's; else NotFound.

        A namespace that is missing, reserved or not the tenant's gets the same NotFound, word
        for word, as one where nothing is found: its message is made from the request alone.
        """
        namespace = self._authorize(caller, verb, network_name, container_id, ctx)
        if not is_reserved(namespace, self.settings):
            found = self._get("namespace", Query(namespace=namespace), ctx)
            if found and belongs_to(found[0].labels, caller.tenant):
                return namespace
        if container_id:
            raise _no_container(caller, container_id, network_name)
        raise _no_network(caller, network_name)

    def _assemble(self, container_id: str, namespace: str, objects: Objects) -> Container:
        """A :class:`Container` from its objects (the pod must be among them)."""
        view = self.resources.view()
        # In the registry's order, whatever order the objects were found in (the watch's cache).
        objects = _attributed(
            container_id, {r.kind: objects[r.kind] for r in view if objects.get(r.kind)}
        )
        pod = objects["pod"][0]
        top_kind = next(
            (r.kind for r in reversed(self.resources.exposing()) if objects.get(r.kind)), "pod"
        )
        top = objects[top_kind][0]
        level = exposure_from_label(pod.labels.get(EXPOSURE_KEY)) or ExposureLevel.INTERNAL
        nodes = {r.kind: r.nodes(objects[r.kind]) for r in view if r.kind in objects}
        expected = tuple(r.kind for r in view if r.min_level <= level)
        return Container(
            container_id=container_id,
            container_name=pod.labels.get(NAME_KEY, pod.name),
            container_type=top_kind,
            container_ip=top.address,
            container_network=network_name_of(namespace, self.settings),
            exposure_level=level,
            ports=pod.ports,
            associated_resources=self.resources.nest(nodes),
            status=container_status(objects, expected),
            published_ports=_published_ports(objects),
        )

    # -- create -----------------------------------------------------------------------------

    def create(
        self,
        spec: ContainerSpec,
        *,
        timeout: float | None = None,
        wait_until_ready: bool = False,
        caller: Identity = LOCAL_IDENTITY,
    ) -> Container:
        """Create a container; return it (its address may still be "" until assigned).

        Idempotent: the same spec under an existing name returns the existing container; a
        different spec under that name is ALREADY_EXISTS. If any step fails, what was created is
        removed before the error is raised.

        With ``wait_until_ready`` it returns once the container is READY, within the same
        ``timeout``. A container that was created but is not ready in time is kept, not rolled
        back (it is there and may just be slow: the caller can get, wait more or delete it):
        :class:`~container_maker.errors.NotReadyInTime` names its id. One that cannot become
        ready as it is (phase FAILED: an image that cannot be pulled, a crash loop) ends the
        wait at once with :class:`~container_maker.errors.NotReady`, naming its id and reasons.
        """
        started = time.monotonic()
        container, namespace = self._create(spec, timeout=timeout, caller=caller)
        if not wait_until_ready:
            return container
        seconds = self.settings.operation_timeout if timeout is None else timeout
        return self._wait_until_ready(container, namespace, started + seconds)

    def _wait_until_ready(self, container: Container, namespace: str, deadline: float) -> Container:
        """Poll the container (one call per kind) until READY, FAILED or ``deadline``."""
        interval = 0.25
        while not container.status.ready:
            what = (
                f"container {container.container_name} (id {container.container_id}) in "
                f"{container.container_network}"
            )
            if container.status.phase is ContainerPhase.FAILED:
                why = "; ".join(f"{c.reason}: {c.message}" for c in container.status.conditions)
                raise NotReady(f"{what} was created and kept, but cannot become ready: {why}")
            remaining = deadline - time.monotonic()
            if remaining <= interval:
                why = "; ".join(c.reason for c in container.status.conditions) or "none given"
                raise NotReadyInTime(
                    f"{what} was created and kept, but was not ready before the deadline "
                    f"(phase {container.status.phase.value}; reasons: {why}); get it later or "
                    "delete it"
                )
            time.sleep(interval)
            interval = min(1.0, interval * 1.5)
            ctx = self._context(max(0.1, deadline - time.monotonic()))
            container = self._get_objects(container.container_id, namespace, ctx)
        return container

    def _create(
        self, spec: ContainerSpec, *, timeout: float | None, caller: Identity
    ) -> tuple[Container, str]:
        """Create (or find the same) container; see :meth:`create`. Also its namespace."""
        resources = validate_spec(
            spec, self.settings, max_name_length=self.resources.max_name_length()
        )
        level = spec.exposure
        missing = self.resources.missing_for_level(level)
        if missing:
            raise FailedPrecondition(
                f"exposure {level.name} needs the plugins for {list(missing)}, which are not "
                "installed or are blocked"
            )
        kinds = tuple(r.kind for r in self.resources.for_level(level))
        self.hooks.preflight(spec=spec, kinds=kinds, settings=self.settings)
        ctx = self._context(timeout)
        network_name = spec.network_name
        namespace = self._authorize(caller, "create", network_name, "", ctx)
        if is_reserved(namespace, self.settings):
            raise refused_namespace(namespace, caller.tenant, self.settings)
        # Plugins build in the namespace: the spec they see names it (prefix included).
        placed = spec.model_copy(update={"network_name": namespace})
        found = self._get("namespace", Query(namespace=namespace), ctx)
        if found:
            if not belongs_to(found[0].labels, caller.tenant):
                raise refused_namespace(namespace, caller.tenant, self.settings)
            existing = self._existing(placed, network_name, ctx)
            if existing is not None:
                return existing, namespace

        container_id = new_container_id()
        with self.admission.admit(
            caller.tenant, container_id, lambda: self._tenant_containers(caller.tenant, ctx)
        ):
            container = self._make(placed, network_name, container_id, resources, ctx, caller)
        return container, namespace

    def _tenant_containers(self, tenant: str, ctx: KubeContext) -> set[str]:
        """The ids of ``tenant``'s live containers in all namespaces (see
        :func:`~container_maker.tenancy.tenant_containers`)."""
        source = self.resources["pod"].watched
        if source is None:
            raise InternalError(
                f"plugin {self.resources['pod'].plugin}'s pod resource cannot list pods in all "
                "namespaces (its client has no list_all)"
            )
        return tenant_containers(source, tenant, ctx)

    def _make(
        self,
        spec: ContainerSpec,
        network_name: str,
        container_id: str,
        resources: ContainerResources,
        ctx: KubeContext,
        caller: Identity,
    ) -> Container:
        """Create the objects of a new container in the registry's order (``spec`` names the
        namespace); roll back on failure.

        A namespace-scoped kind is made only in a namespace Container Maker manages (one an
        operator assigned is used as it is), once: an existing object counts as made. It is
        not rolled back or deleted with a container; it goes with its namespace.
        """
        level = spec.exposure
        log.info(
            "create start container_id=%s name=%s network=%s namespace=%s level=%s tenant=%s",
            container_id,
            spec.container_name,
            network_name,
            spec.network_name,
            level.name,
            caller.tenant,
        )
        created: list[ObservedObject] = []
        attempted: list[str] = []
        try:
            owner: ObjectRef | None = None
            managed_namespace = False
            base = BuildContext(
                container_id=container_id,
                tenant=caller.tenant,
                resources=resources,
                settings=self.settings,
            )
            for resource in self.resources.for_level(level):
                kind = resource.kind
                if resource.scope == "namespace":
                    if managed_namespace:
                        self._ensure(resource, spec, base, ctx)
                    continue
                attempted.append(kind)
                ctx.check_deadline(f"creating the {kind} of {spec.container_name}")
                build_context = base.model_copy(update={"owner": owner})
                if kind == "pod":
                    extras = self.hooks.pod_extras(spec=spec, context=build_context)
                    build_context = build_context.model_copy(update={"pod_extras": extras})
                obj = resource.create_object(resource.manifest(spec, build_context), ctx)
                created.append(obj)
                if kind == "namespace":
                    managed_namespace = is_managed(obj.labels)
                if kind == "pod":
                    owner = obj.ref()
            # A create that finishes after its deadline is rolled back too: the caller has
            # stopped waiting and will not learn the container's id.
            ctx.check_deadline(f"creating {spec.container_name}")
        except BaseException as error:
            self._rollback(container_id, spec.network_name, caller.tenant, attempted, created)
            if isinstance(error, AlreadyExists) and not any(o.kind == "pod" for o in created):
                # Another request may have created the same name meanwhile: same spec is fine.
                existing = self._existing(spec, network_name, self._context(None))
                if existing is not None:
                    return existing
            if isinstance(error, ContainerMakerError) or not isinstance(error, Exception):
                raise
            raise InternalError(f"creating {spec.container_name} failed: {error!r}") from error

        log.info("create done container_id=%s name=%s", container_id, spec.container_name)
        view = {r.kind for r in self.resources.view()}
        objects: Objects = {o.kind: (o,) for o in created if o.kind in view}
        return self._assemble(container_id, spec.network_name, objects)

    def _ensure(
        self, resource: Resource, spec: ContainerSpec, context: BuildContext, ctx: KubeContext
    ) -> None:
        """Create a namespace-scoped object unless it exists (one create call either way)."""
        ctx.check_deadline(f"creating the {resource.kind} of namespace {spec.network_name}")
        # An existing one was made with an earlier container of the namespace.
        with contextlib.suppress(AlreadyExists):
            resource.create_object(resource.manifest(spec, context), ctx)

    def _existing(
        self, spec: ContainerSpec, network_name: str, ctx: KubeContext
    ) -> Container | None:
        """The existing container named like ``spec`` (which names the namespace) if its spec
        is the same; else raise."""
        query = Query(namespace=spec.network_name, container_name=spec.container_name)
        pods = self._get("pod", query, ctx)
        if not pods:
            return None
        pod = pods[0]
        container_id = pod.labels.get(ID_KEY, "")
        if pod.terminating:
            raise Unavailable(
                f"container {spec.container_name} ({container_id}) in {network_name} is "
                "being deleted; retry once it is gone"
            )
        if pod.annotations.get(SPEC_HASH_ANNOTATION) != spec.spec_hash():
            raise AlreadyExists(
                f"container {spec.container_name} exists in {network_name} "
                f"(id {container_id}) with a different spec"
            )
        return self._get_objects(container_id, spec.network_name, ctx, pods)

    def _rollback(
        self,
        container_id: str,
        namespace: str,
        tenant: str,
        attempted: list[str],
        created: list[ObservedObject],
    ) -> None:
        """Remove what a failed create made, newest first; never raises.

        Objects are looked up by the container id as well: a step that failed after the API
        server accepted the object (a lost response, a timeout) left an object we never saw,
        and its label lets us find it.
        """
        if not attempted:
            return
        ctx = self._context(None)
        log.warning("create failed, rolling back container_id=%s kinds=%s", container_id, attempted)
        query = Query(namespace=namespace, container_id=container_id)
        for kind in reversed(attempted):
            try:
                if kind == "namespace":
                    self._cleanup_namespace(namespace, tenant, ctx)
                    continue
                found = {o.uid: o for o in self._get(kind, query, ctx)}
                found.update({o.uid: o for o in created if o.kind == kind})
                if found:
                    self.resources[kind].remove(tuple(found.values()), ctx)
            except Exception:
                log.exception(
                    "rollback of %s incomplete container_id=%s; the garbage collector "
                    "removes what the pod owns",
                    kind,
                    container_id,
                )

    # -- get and list -----------------------------------------------------------------------

    def get(
        self,
        container_id: str,
        network_name: str,
        *,
        timeout: float | None = None,
        caller: Identity = LOCAL_IDENTITY,
    ) -> Container:
        """The container ``container_id`` in ``network_name`` (at most one call per kind, and
        one for the namespace).

        NotFound, the same for each, when the container, the network or the tenant's right to
        it is missing.
        """
        validate_container_id(container_id)
        ctx = self._context(timeout)
        namespace = self._tenant_namespace(caller, "get", network_name, container_id, ctx)
        try:
            return self._get_objects(container_id, namespace, ctx)
        except NotFound:
            raise _no_container(caller, container_id, network_name) from None

    def _get_objects(
        self,
        container_id: str,
        namespace: str,
        ctx: KubeContext,
        pods: tuple[ObservedObject, ...] | None = None,
    ) -> Container:
        if pods is None:
            pods = self._get("pod", Query(namespace=namespace, container_id=container_id), ctx)
        if not pods:
            raise NotFound(f"no container {container_id} in namespace {namespace}")
        level = exposure_from_label(pods[0].labels.get(EXPOSURE_KEY)) or ExposureLevel.INTERNAL
        objects: Objects = {"pod": pods}
        query = Query(namespace=namespace, container_id=container_id)
        for resource in self.resources.view():
            if resource.kind == "pod" or resource.min_level > level:
                continue
            found = resource.find(query, ctx)
            if found:
                objects[resource.kind] = found
        return self._assemble(container_id, namespace, objects)

    def list(
        self,
        network_name: str,
        *,
        timeout: float | None = None,
        caller: Identity = LOCAL_IDENTITY,
    ) -> tuple[Container, ...]:
        """Every container in ``network_name``: one list call per kind, however many there are.

        Each container appears once (its service and ingress are part of it), sorted by name.
        NotFound, the same for each, when the network or the tenant's right to it is missing.
        """
        ctx = self._context(timeout)
        namespace = self._tenant_namespace(caller, "list", network_name, "", ctx)
        by_id: dict[str, Objects] = defaultdict(dict)
        for resource in self.resources.view():
            kind = resource.kind
            for obj in resource.find(Query(namespace=namespace), ctx):
                container_id = obj.labels.get(ID_KEY)
                if container_id:
                    group = by_id[container_id]
                    group[kind] = (*group.get(kind, ()), obj)
        containers = [
            self._assemble(container_id, namespace, objects)
            for container_id, objects in by_id.items()
            # Objects without their pod are leftovers the garbage collector is removing.
            if objects.get("pod")
        ]
        return tuple(sorted(containers, key=lambda c: (c.container_name, c.container_id)))

    # -- delete -----------------------------------------------------------------------------

    def delete(
        self,
        container_id: str,
        network_name: str,
        *,
        timeout: float | None = None,
        caller: Identity = LOCAL_IDENTITY,
    ) -> DeleteOutcome:
        """Delete a container in reverse creation order, then its namespace if that may go.

        Waits up to ``settings.delete_wait_timeout`` for the objects to disappear; what is
        still terminating then is left to Kubernetes (status "Deleting" instead of "Deleted").
        """
        validate_container_id(container_id)
        ctx = self._context(timeout)
        namespace = self._tenant_namespace(caller, "delete", network_name, container_id, ctx)
        query = Query(namespace=namespace, container_id=container_id)
        # Every kind is looked up, whatever the level: leftovers of a crashed create go too.
        objects: Objects = {r.kind: r.find(query, ctx) for r in self.resources.container_kinds()}
        if not any(objects.values()):
            raise _no_container(caller, container_id, network_name)
        log.info(
            "delete start container_id=%s network=%s namespace=%s",
            container_id,
            network_name,
            namespace,
        )
        all_gone = True
        for resource in self.resources.delete_order([k for k, objs in objects.items() if objs]):
            result = resource.remove(objects[resource.kind], ctx)
            all_gone = all_gone and result.gone
        self._cleanup_namespace(namespace, caller.tenant, ctx)
        log.info("delete done container_id=%s gone=%s", container_id, all_gone)
        return DeleteOutcome(
            container_id=container_id, status="Deleted" if all_gone else "Deleting"
        )

    # -- save -------------------------------------------------------------------------------

    def save(
        self,
        container_id: str,
        network_name: str,
        *,
        timeout: float | None = None,
        caller: Identity = LOCAL_IDENTITY,
    ) -> tuple[SavedImage, ...]:
        """Save the container's pod as an image in ``settings.registry`` (``cm_save``).

        One container has one pod, whatever its exposure level; the answer lists it.
        """
        validate_container_id(container_id)
        namespace_for(network_name, self.settings)
        if not self.settings.registry:
            raise FailedPrecondition(
                "saving is not configured: start the server with --registry (the registry "
                "saved images are pushed to)"
            )
        ctx = self._context(timeout)
        namespace = self._tenant_namespace(caller, "save", network_name, container_id, ctx)
        pods = self._get("pod", Query(namespace=namespace, container_id=container_id), ctx)
        if not pods:
            raise _no_container(caller, container_id, network_name)
        saved = []
        for pod in pods:
            log.info("save start container_id=%s pod=%s", container_id, pod.name)
            image = self.hooks.save(pod=pod, context=ctx)
            if image is None:
                raise FailedPrecondition(
                    "no plugin saves containers (is the snapshot plugin blocked?)"
                )
            log.info(
                "save done container_id=%s image=%s bytes=%d seconds=%.1f",
                container_id,
                image.image_name,
                image.size_bytes,
                image.seconds,
            )
            saved.append(image)
        return tuple(saved)

    def _cleanup_namespace(self, namespace: str, tenant: str, ctx: KubeContext) -> bool:
        """Delete ``namespace`` if Container Maker created it for ``tenant`` and no managed
        container is left (an operator-assigned namespace lacks the managed-by label: kept).

        Objects already terminating do not count as left: they are on their way out.
        """
        found = self._get("namespace", Query(namespace=namespace), ctx)
        if (
            not found
            or not is_managed(found[0].labels)
            or not belongs_to(found[0].labels, tenant)
            or found[0].terminating
        ):
            return False
        for resource in self.resources.view():
            if any(not o.terminating for o in resource.find(Query(namespace=namespace), ctx)):
                return False
        return bool(self.resources["namespace"].remove(found, ctx).deleted)


def _no_container(caller: Identity, container_id: str, network_name: str) -> NotFound:
    """The one answer for a container that is missing or not the caller's tenant's (made from
    the request alone, so that it tells nothing about other tenants)."""
    return NotFound(
        f"tenant {caller.tenant} has no container {container_id} in network {network_name}"
    )


def _no_network(caller: Identity, network_name: str) -> NotFound:
    """The one answer for a network that does not exist or is not the caller's tenant's."""
    return NotFound(f"tenant {caller.tenant} has no network {network_name}")


def _published_ports(objects: Objects) -> tuple[PublishedPort, ...]:
    """Each published port once, with the URL of the last created kind that gives one.

    The Service lists every port (in request order); the Ingress gives the TCP ports of an
    EXPOSED container their own hosts. A kind that names a port without a URL (an Ingress rule
    without a host) or without its target port keeps what the kind below said.
    """
    ports: dict[tuple[int, str], PublishedPort] = {}
    for found in objects.values():  # in creation order
        for obj in found:
            for port in obj.published_ports:
                key = (port.publish_port, port.protocol)
                below = ports.get(key)
                if below is not None:
                    port = port.model_copy(
                        update={
                            "target_port": port.target_port or below.target_port,
                            "url": port.url or below.url,
                        }
                    )
                ports[key] = port
    return tuple(ports.values())


def _attributed(container_id: str, objects: Objects) -> Objects:
    """The objects that are this container's (the pod must be among them).

    An object whose name says which container it belongs to (``named_for``) counts only for
    that container and only under its id: its labels may have been changed by whoever can
    patch it (a stolen status token relabelling its Lease to a victim's id), its name and the
    pod's labels cannot. So a relabelled object changes no other container's status, ports or
    activity, and is not listed among its resources.
    """
    pod = objects["pod"][0]
    name = pod.labels.get(NAME_KEY, pod.name)
    kept: Objects = {}
    for kind, found in objects.items():
        mine = tuple(
            obj
            for obj in found
            if obj.named_for is None
            or (obj.named_for == name and obj.labels.get(ID_KEY) == container_id)
        )
        if mine:
            kept[kind] = mine
    return kept
