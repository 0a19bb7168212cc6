"""The resource registry: the kinds of object a container is made of, composed from plugins.

A resource plugin declares each of its kinds as a :class:`Resource` and adds it to the
:class:`ResourceRegistry` its ``cm_register_resources`` hook is given. Create, get, list,
delete, rollback, status, the associated-resources tree, the watch hub and the testing kit all
iterate the registry: a kind that is registered is a kind the core handles. A declaration says
where the kind goes (``after`` / ``before`` other kinds), from which exposure level on it
applies, whether it belongs to one container or to the namespace, where its objects hang in
the associated-resources tree, and how the core creates, finds, deletes and watches its objects.

The order is computed, never taken from registration order: :meth:`ResourceRegistry.ordered`
sorts the kinds topologically over their anchors and breaks ties by kind name, so the same
plugins always give the same order. Create walks it forwards (up to the requested level),
delete and rollback walk it in reverse. Two plugins claiming one kind, an anchor naming a kind
nobody registered (and no blocked plugin stands for) and a cycle of anchors are startup errors
(:class:`~container_maker.errors.InvalidConfiguration`) that name the plugins.
"""

from __future__ import annotations

import functools
import heapq
from collections.abc import Callable, Collection, Iterator
from dataclasses import dataclass, field
from typing import Any, Literal, TypeVar

from .context import BuildContext, KubeContext
from .errors import InternalError, InvalidConfiguration
from .kube import NamespacedApi, create_object, delete_objects, list_objects
from .models import (
    AssociatedResource,
    ContainerSpec,
    DeleteResult,
    ExposureLevel,
    Manifest,
    ObservedObject,
    Query,
)

T = TypeVar("T")

ESSENTIAL_KINDS: tuple[str, ...] = ("namespace", "pod")
"""Kinds without which no container can exist: a manager without them does not start, and
their plugins cannot be blocked. The core knows these two by name (the namespace is the
container's "network", the pod owns the objects after it and gets the sidecars' extras)."""

EXPECTED_MIN_LEVELS: dict[str, ExposureLevel] = {
    "namespace": ExposureLevel.INTERNAL,
    "pod": ExposureLevel.INTERNAL,
    "service": ExposureLevel.CLUSTER_LOCAL,
    "ingress": ExposureLevel.EXPOSED,
}
"""What each exposure level needs by the wire contract (CLUSTER_LOCAL means a Service,
EXPOSED an Ingress). A create at a level whose kind is not registered (its plugin blocked or
not installed) is refused (FAILED_PRECONDITION) instead of silently making less than asked."""

Interceptor = Callable[[str, str, Callable[[], Any]], Any]
"""Runs around each call the core makes of a registered resource: ``interceptor(call, kind,
proceed)``, where ``call`` is ``build``, ``create``, ``get``, ``delete`` or ``describe``; it
must return what ``proceed()`` returns (or raise). For what watches every kind's calls:
metrics, a log of calls, the testing kit's call recorder and its injected faults."""

Scope = Literal["container", "namespace"]
"""``container``: one set of objects per container, labelled with its id, found by get, list
and delete and removed with the container. ``namespace``: objects made once per namespace
Container Maker created (a quota, a default-deny policy), ensured by every create there and
removed with the namespace, never looked up per container."""

Build = Callable[[ContainerSpec, BuildContext], "Manifest | dict[str, Any]"]
Create = Callable[[Manifest, KubeContext], ObservedObject]
Get = Callable[[Query, KubeContext], tuple[ObservedObject, ...]]
Delete = Callable[[tuple[ObservedObject, ...], KubeContext], DeleteResult]
Describe = Callable[[tuple[ObservedObject, ...]], tuple[AssociatedResource, ...]]


@dataclass(frozen=True, kw_only=True)
class Resource:
    """One kind of object a container (or its namespace) is made of.

    - ``kind``: the Container Maker kind ("service"), unique across plugins; it names the
      objects in results, errors and the associated-resources tree.
    - ``build``: the pure builder, ``build(spec, context)`` -> the object's JSON body (or a
      :class:`~container_maker.models.Manifest`). A kind made of several objects returns a
      ``v1`` ``List`` its own ``create`` understands.
    - ``client``: the :class:`~container_maker.kube.NamespacedApi` of the official client's
      calls; it gives the default ``create`` (one create call), ``get`` (one label-selected
      list call) and ``delete`` (uid preconditions, waiting until gone), and the watch.
    - ``create``, ``get``, ``delete``: explicit callables, for a kind the defaults do not fit
      (the namespace, a kind of several objects). Each overrides the ``client`` default.
    - ``min_level``: the lowest exposure level the kind applies at.
    - ``after``, ``before``: kinds this one must be created after / before. An anchor must name
      a registered kind (or a blocked plugin standing for it).
    - ``scope``: see :data:`Scope`.
    - ``view``: whether the kind's objects are part of the container as get, list and watch
      show it (its status, ports and tree come from them). A kind that says nothing about the
      container's state (a NetworkPolicy) sets False: it is still found and removed by delete.
    - ``parent``: the kind under whose tree nodes this kind's nodes hang ("hang under the
      service"); when the container has no object of that kind, its parent's parent is tried,
      and so on; None (or none found, or a kind nobody registers) makes them roots.
    - ``tree``: whether the kind's objects appear in the tree at all.
    - ``describe``: the tree nodes for a container's objects of this kind (default: one node
      per object, named after it, of type ``kind``).
    - ``name_suffix``: appended to the container name to name the kind's object (None: the
      kind's names are not DNS labels limited to 63 characters, so they do not limit the
      container name).
    - ``watch``: whether the watch hub watches the kind (needs ``client.list_all``).
    - ``exposes``: whether the kind's objects are how the container is reached: of the kinds
      that set it, the last one in creation order with an object gives the container's
      ``container_type`` and ``container_ip`` (the pod, the Service, the Ingress).
    - ``plugin``: the registering plugin's name, filled in by the registry.
    """

    kind: str
    build: Build
    client: NamespacedApi[Any] | None = None
    create: Create | None = None
    get: Get | None = None
    delete: Delete | None = None
    min_level: ExposureLevel = ExposureLevel.INTERNAL
    after: tuple[str, ...] = ()
    before: tuple[str, ...] = ()
    scope: Scope = "container"
    view: bool = True
    parent: str | None = None
    tree: bool = True
    describe: Describe | None = None
    name_suffix: str | None = None
    watch: bool = True
    exposes: bool = False
    plugin: str = ""
    interceptors: list[Interceptor] = field(default_factory=list, compare=False, repr=False)

    def __post_init__(self) -> None:
        missing = [
            what
            for what, given in (("create", self.create), ("get", self.get), ("delete", self.delete))
            if given is None and self.client is None
        ]
        if missing:
            raise InvalidConfiguration(
                f"resource {self.kind!r} has neither a client nor {', '.join(missing)}"
            )
        if self.kind in self.after or self.kind in self.before:
            raise InvalidConfiguration(f"resource {self.kind!r} is anchored to itself")

    # -- what the core calls ------------------------------------------------------------------

    def manifest(self, spec: ContainerSpec, context: BuildContext) -> Manifest:
        """The kind's manifest for ``spec`` (``build`` wrapped in a Manifest)."""
        return self._intercepted("build", lambda: self._manifest(spec, context))

    def create_object(self, manifest: Manifest, context: KubeContext) -> ObservedObject:
        """Create ``manifest`` (``create``, else one client create call)."""
        return self._intercepted("create", lambda: self._create(manifest, context))

    def find(self, query: Query, context: KubeContext) -> tuple[ObservedObject, ...]:
        """The managed objects matching ``query`` (``get``, else one label-selected list)."""
        return self._intercepted("get", lambda: self._find(query, context))

    def remove(self, objects: tuple[ObservedObject, ...], context: KubeContext) -> DeleteResult:
        """Delete ``objects`` (``delete``, else client deletes with uid preconditions)."""
        return self._intercepted("delete", lambda: self._remove(objects, context))

    def nodes(self, objects: tuple[ObservedObject, ...]) -> tuple[AssociatedResource, ...]:
        """The tree nodes of a container's ``objects`` of this kind."""
        if not self.tree or not objects:
            return ()
        return self._intercepted("describe", lambda: self._nodes(objects))

    @property
    def watched(self) -> NamespacedApi[Any] | None:
        """The client the watch hub lists and watches with, or None."""
        if not self.watch or self.client is None or self.client.list_all is None:
            return None
        return self.client

    # -- the calls themselves --------------------------------------------------------------

    def _manifest(self, spec: ContainerSpec, context: BuildContext) -> Manifest:
        built = self.build(spec, context)
        if isinstance(built, Manifest):
            return built
        if not isinstance(built, dict):
            raise InternalError(
                f"plugin {self.plugin}'s build for {self.kind} returned "
                f"{type(built).__name__}, expected a dict or a Manifest"
            )
        return Manifest(kind=self.kind, body=built)

    def _create(self, manifest: Manifest, context: KubeContext) -> ObservedObject:
        if self.create is not None:
            return self._checked(self.create(manifest, context), "create", ObservedObject)
        assert self.client is not None
        return create_object(self.client, manifest, context)

    def _find(self, query: Query, context: KubeContext) -> tuple[ObservedObject, ...]:
        if self.get is not None:
            return self._checked_tuple(self.get(query, context), "get", ObservedObject)
        assert self.client is not None
        return list_objects(self.client, query, context)

    def _remove(self, objects: tuple[ObservedObject, ...], context: KubeContext) -> DeleteResult:
        if self.delete is not None:
            return self._checked(self.delete(objects, context), "delete", DeleteResult)
        assert self.client is not None
        return delete_objects(self.client, objects, context)

    def _nodes(self, objects: tuple[ObservedObject, ...]) -> tuple[AssociatedResource, ...]:
        if self.describe is None:
            return tuple(
                AssociatedResource(resource_name=o.name, resource_type=self.kind) for o in objects
            )
        return self._checked_tuple(self.describe(objects), "describe", AssociatedResource)

    def _intercepted(self, call: str, proceed: Callable[[], T]) -> T:
        """``proceed()`` through the registry's interceptors, the first added outermost."""
        chain = proceed
        for interceptor in reversed(self.interceptors):
            chain = functools.partial(interceptor, call, self.kind, chain)
        return chain()

    def _checked(self, value: object, what: str, expected: type[T]) -> T:
        """``value`` if it is an ``expected``; else InternalError naming the plugin."""
        if not isinstance(value, expected):
            raise InternalError(
                f"plugin {self.plugin}'s {what} for {self.kind} returned "
                f"{type(value).__name__}, expected {expected.__name__}"
            )
        return value

    def _checked_tuple(self, value: object, what: str, expected: type[T]) -> tuple[T, ...]:
        """``value`` if it is a tuple of ``expected``; else InternalError naming the plugin."""
        if not isinstance(value, tuple) or not all(isinstance(v, expected) for v in value):
            raise InternalError(
                f"plugin {self.plugin}'s {what} for {self.kind} returned {value!r}, "
                f"expected a tuple of {expected.__name__}"
            )
        return value


@dataclass
class ResourceRegistry:
    """The kinds plugins registered, in the order their anchors give.

    ``tolerated`` names kinds an anchor may name although nobody registered them: the names of
    blocked plugins (a resource plugin's entry-point name is its kind), so that blocking the
    service plugin does not make the ingress's ``after=("service",)`` an error.
    """

    tolerated: Collection[str] = ()
    _resources: dict[str, Resource] = field(default_factory=dict)
    _interceptors: list[Interceptor] = field(default_factory=list)
    _current_plugin: str = ""
    _ordered: tuple[Resource, ...] | None = None
    # The selections below, each computed once from the sealed order (get, list and the watch
    # assemble every container with them).
    _selected: dict[str, tuple[Resource, ...]] = field(default_factory=dict)

    def add(self, resource: Resource) -> Resource:
        """Register ``resource`` for the plugin being asked; the resource as registered."""
        if self._ordered is not None:
            raise InvalidConfiguration(
                f"resource {resource.kind!r} registered after the registry was sealed"
            )
        if not isinstance(resource, Resource):
            raise InternalError(
                f"plugin {self._current_plugin!r} registered {type(resource).__name__}, "
                "expected a Resource"
            )
        plugin = resource.plugin or self._current_plugin
        registered = Resource(
            **{**_fields(resource), "plugin": plugin, "interceptors": self._interceptors}
        )
        existing = self._resources.get(resource.kind)
        if existing is not None:
            first, second = sorted((existing.plugin, plugin))
            raise InvalidConfiguration(
                f"plugins {first!r} and {second!r} both register kind {resource.kind!r}"
            )
        self._resources[resource.kind] = registered
        return registered

    def intercept(self, interceptor: Interceptor) -> Callable[[], None]:
        """Run ``interceptor`` around every call of every registered resource (see
        :data:`Interceptor`), from now on, even once sealed (it changes no declaration); a
        plugin may add one from its ``cm_register_resources``. Returns the function that
        removes it."""
        self._interceptors.append(interceptor)
        return lambda: self._interceptors.remove(interceptor)

    def registering(self, plugin: str) -> _Registering:
        """Attribute what is added inside the ``with`` block to ``plugin``."""
        return _Registering(self, plugin)

    # -- reading ------------------------------------------------------------------------------

    def __contains__(self, kind: object) -> bool:
        return kind in self._resources

    def __getitem__(self, kind: str) -> Resource:
        return self._resources[kind]

    def __iter__(self) -> Iterator[Resource]:
        return iter(self.ordered())

    def __len__(self) -> int:
        return len(self._resources)

    def kinds(self) -> tuple[str, ...]:
        """Every registered kind, in order."""
        return tuple(r.kind for r in self.ordered())

    def ordered(self) -> tuple[Resource, ...]:
        """Every resource in creation order (computed once, then the registry is sealed).

        Kahn's algorithm over the anchors; among the kinds ready at a step, the smallest kind
        name goes first, so the order is deterministic. Raises InvalidConfiguration for an
        unknown anchor or a cycle, naming the plugins.
        """
        if self._ordered is None:
            self._ordered = _topological(self._resources, set(self.tolerated))
        return self._ordered

    def _select(self, key: str, keep: Callable[[Resource], bool]) -> tuple[Resource, ...]:
        """The ordered resources ``keep`` accepts, computed once per ``key``."""
        selected = self._selected.get(key)
        if selected is None:
            selected = self._selected[key] = tuple(r for r in self.ordered() if keep(r))
        return selected

    def for_level(self, level: ExposureLevel) -> tuple[Resource, ...]:
        """The resources a container of ``level`` is made of, in creation order."""
        return self._select(f"level {int(level)}", lambda r: r.min_level <= level)

    def container_kinds(self) -> tuple[Resource, ...]:
        """Container-scoped resources other than the namespace (what delete looks up)."""
        return self._select("container", lambda r: r.scope == "container" and r.kind != "namespace")

    def view(self) -> tuple[Resource, ...]:
        """The resources of a container's view (get, list, watch and status), in order."""
        return self._select(
            "view", lambda r: r.scope == "container" and r.kind != "namespace" and r.view
        )

    def namespace_kinds(self) -> tuple[Resource, ...]:
        """Namespace-scoped resources, in order."""
        return self._select("namespace", lambda r: r.scope == "namespace")

    def delete_order(self, kinds: Collection[str]) -> tuple[Resource, ...]:
        """The resources of ``kinds`` in reverse creation order (delete and rollback)."""
        return tuple(r for r in reversed(self.ordered()) if r.kind in kinds)

    def plugins(self) -> dict[str, tuple[str, ...]]:
        """Plugin name -> the kinds it registered (sorted)."""
        kinds: dict[str, list[str]] = {}
        for resource in self._resources.values():
            kinds.setdefault(resource.plugin, []).append(resource.kind)
        return {plugin: tuple(sorted(found)) for plugin, found in kinds.items()}

    def exposing(self) -> tuple[Resource, ...]:
        """The view's kinds that say how the container is reached (``exposes``), in order."""
        return self._select("exposing", lambda r: r in self.view() and r.exposes)

    def missing_for_level(self, level: ExposureLevel) -> tuple[str, ...]:
        """The kinds ``level`` needs (:data:`EXPECTED_MIN_LEVELS`) that nobody registered."""
        return tuple(
            kind
            for kind, needed in EXPECTED_MIN_LEVELS.items()
            if needed <= level and kind not in self._resources
        )

    def check_essentials(self) -> None:
        """InvalidConfiguration unless every essential kind is registered."""
        missing = [kind for kind in ESSENTIAL_KINDS if kind not in self._resources]
        if missing:
            raise InvalidConfiguration(
                f"no plugin registers the essential kinds {missing} (registered kinds: "
                f"{', '.join(sorted(self._resources)) or 'none'})"
            )

    def nest(
        self, nodes: dict[str, tuple[AssociatedResource, ...]]
    ) -> tuple[AssociatedResource, ...]:
        """The associated-resources tree from each kind's nodes (pure).

        A kind's nodes hang under the nodes of its ``parent``; when the container has none of
        that kind, under its parent's parent, and so on; kinds left without a parent are roots,
        the last created first. Under a node, its own children (a pod's containers) come first,
        then the kinds hanging there in creation order.
        """
        order = [r.kind for r in self.ordered() if nodes.get(r.kind)]

        def placed_under(kind: str) -> str | None:
            parent = self._resources[kind].parent
            seen = {kind}
            while parent is not None and parent not in seen:
                if nodes.get(parent):
                    return parent
                seen.add(parent)
                parent = self._resources[parent].parent if parent in self._resources else None
            return None

        under = {kind: placed_under(kind) for kind in order}

        def built(kind: str) -> tuple[AssociatedResource, ...]:
            below = tuple(node for child in order if under[child] == kind for node in built(child))
            return tuple(
                n.model_copy(update={"associated_resources": (*n.associated_resources, *below)})
                for n in nodes[kind]
            )

        return tuple(
            node for kind in reversed(order) if under[kind] is None for node in built(kind)
        )

    def max_name_length(self, limit: int = 63) -> int:
        """The longest container name whose objects' names all stay within ``limit``."""
        suffixes = [len(r.name_suffix) for r in self._resources.values() if r.name_suffix]
        return limit - max(suffixes, default=0)


class _Registering:
    def __init__(self, registry: ResourceRegistry, plugin: str) -> None:
        self._registry = registry
        self._plugin = plugin

    def __enter__(self) -> ResourceRegistry:
        self._registry._current_plugin = self._plugin
        return self._registry

    def __exit__(self, *exc: object) -> None:
        self._registry._current_plugin = ""


def _fields(resource: Resource) -> dict[str, Any]:
    return {name: getattr(resource, name) for name in resource.__dataclass_fields__}


def _topological(resources: dict[str, Resource], tolerated: set[str]) -> tuple[Resource, ...]:
    edges: dict[str, set[str]] = {kind: set() for kind in resources}  # kind -> kinds after it
    for resource in resources.values():
        for anchor in (*resource.after, *resource.before):
            if anchor not in resources and anchor not in tolerated:
                known = ", ".join(sorted(resources)) or "none"
                raise InvalidConfiguration(
                    f"plugin {resource.plugin!r} anchors kind {resource.kind!r} to "
                    f"{anchor!r}, which no plugin registers (registered kinds: {known})"
                )
        for anchor in resource.after:
            if anchor in resources:
                edges[anchor].add(resource.kind)
        for anchor in resource.before:
            if anchor in resources:
                edges[resource.kind].add(anchor)
        if "namespace" in resources and resource.kind != "namespace":
            # Every object lives in the namespace: it is made first and goes last.
            edges["namespace"].add(resource.kind)
    incoming = {kind: 0 for kind in resources}
    for targets in edges.values():
        for target in targets:
            incoming[target] += 1
    ready = [kind for kind, count in incoming.items() if count == 0]
    heapq.heapify(ready)
    order: list[Resource] = []
    while ready:
        kind = heapq.heappop(ready)
        order.append(resources[kind])
        for target in edges[kind]:
            incoming[target] -= 1
            if incoming[target] == 0:
                heapq.heappush(ready, target)
    if len(order) < len(resources):
        stuck = sorted(kind for kind, count in incoming.items() if count > 0)
        who = ", ".join(f"{kind!r} ({resources[kind].plugin})" for kind in stuck)
        raise InvalidConfiguration(f"the plugins' anchors form a cycle among kinds {who}")
    return tuple(order)
