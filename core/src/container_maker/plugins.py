"""The plugin manager factory and the typed facade: the only code that calls ``pm.hook``.

:func:`create_plugin_manager` builds a pluggy ``PluginManager`` (specs added, blocked plugins
refused, entry points of the ``container_maker`` group loaded, ``check_pending()``); nothing is
loaded at import time. :class:`Hooks` wraps every hook in a typed method that calls it with
keyword arguments and checks what plugins returned, so a plugin breaking the contract is an
:class:`~container_maker.errors.InternalError` naming the plugin's hook, not a confusing failure
further on.
"""

from __future__ import annotations

from collections.abc import Iterable
from importlib.metadata import entry_points
from typing import Any, TypeVar

import pluggy

from . import hookspecs
from .auth import Access, Credentials, Decision, Identity
from .chain import ESSENTIAL_KINDS
from .context import BuildContext, KubeContext
from .errors import Forbidden, InternalError, InvalidConfiguration
from .kube import NamespacedKind
from .markers import NAME
from .models import (
    AssociatedResource,
    ContainerSpec,
    DeleteResult,
    Manifest,
    Model,
    ObservedObject,
    PodExtras,
    Query,
    ResourceKind,
    SavedImage,
)
from .settings import Settings

T = TypeVar("T")


def create_plugin_manager(
    *,
    blocked: Iterable[str] = (),
    load_entrypoints: bool = True,
    plugins: Iterable[tuple[str, object]] = (),
) -> pluggy.PluginManager:
    """A new plugin manager for Container Maker.

    Parameters:
        blocked: plugin names (entry-point names) not to load, from configuration. The
            essential plugins (namespace, pod) cannot be blocked.
        load_entrypoints: load the plugins installed in the ``container_maker`` entry-point
            group (False gives a manager with the specs only, for tests).
        plugins: extra ``(name, plugin)`` pairs to register after the entry points.
    """
    blocked = tuple(blocked)
    refused = sorted(set(blocked) & set(ESSENTIAL_KINDS))
    if refused:
        raise InvalidConfiguration(
            f"plugins {refused} are essential (every container needs a namespace and a pod) "
            "and cannot be blocked"
        )
    pm = pluggy.PluginManager(NAME)
    pm.add_hookspecs(hookspecs)
    for name in blocked:
        pm.set_blocked(name)
    if load_entrypoints:
        pm.load_setuptools_entrypoints(NAME)
    for name, plugin in plugins:
        pm.register(plugin, name=name)
    pm.check_pending()
    return pm


class PluginInfo(Model):
    """One plugin as ``container-maker plugins`` shows it: what a server with the same
    blocked setting would load, and where it comes from."""

    name: str
    distribution: str | None
    version: str | None
    kinds: tuple[str, ...]
    hooks: tuple[str, ...]
    blocked: bool


def describe_plugins(pm: pluggy.PluginManager, *, blocked: Iterable[str] = ()) -> list[PluginInfo]:
    """The plugins of ``pm`` and the ``blocked`` names, sorted by name.

    Loaded plugins carry the distribution pluggy loaded them from; blocked ones were never
    loaded, so theirs comes from the installed entry points (None when no installed
    distribution offers that name). Blocked plugins implement no hooks and declare no kinds.
    """
    loaded = {pm.get_name(plugin): dist for plugin, dist in pm.list_plugin_distinfo()}
    kinds = Hooks(pm).declared_kinds_by_plugin()
    infos: dict[str, PluginInfo] = {}
    for name, plugin in pm.list_name_plugin():
        if plugin is None:  # pluggy keeps blocked names with a None plugin
            continue
        dist = loaded.get(name)
        infos[name] = PluginInfo(
            name=name,
            distribution=dist.project_name if dist is not None else None,
            version=dist.version if dist is not None else None,
            kinds=kinds.get(name, ()),
            hooks=tuple(sorted(caller.name for caller in pm.get_hookcallers(plugin) or ())),
            blocked=False,
        )
    installed = {ep.name: ep.dist for ep in entry_points(group=NAME)}
    for name in blocked:
        offered = installed.get(name)
        infos[name] = PluginInfo(
            name=name,
            distribution=offered.name if offered is not None else None,
            version=offered.version if offered is not None else None,
            kinds=(),
            hooks=(),
            blocked=True,
        )
    return [infos[name] for name in sorted(infos)]


def _checked(result: object, expected: type[T], hook: str) -> T | None:
    if result is None or isinstance(result, expected):
        return result
    raise InternalError(
        f"a plugin's {hook} returned {type(result).__name__}, expected {expected.__name__} or None"
    )


def _checked_objects(result: object, hook: str) -> tuple[ObservedObject, ...] | None:
    if result is None:
        return None
    if isinstance(result, tuple) and all(isinstance(o, ObservedObject) for o in result):
        return result
    raise InternalError(f"a plugin's {hook} returned {result!r}, expected a tuple of objects")


class Hooks:
    """Typed, keyword-only access to every hook of a plugin manager."""

    def __init__(self, pm: pluggy.PluginManager) -> None:
        self._pm = pm
        self._hook: Any = pm.hook

    @property
    def plugin_manager(self) -> pluggy.PluginManager:
        """The wrapped plugin manager."""
        return self._pm

    def declared_kinds(self) -> dict[str, ResourceKind]:
        """Every declared kind and its declaration (two owners for one kind is an error)."""
        declared: dict[str, ResourceKind] = {}
        for result in self._hook.cm_declare_kind():
            declaration = _checked(result, ResourceKind, "cm_declare_kind")
            if declaration is None:
                continue
            if declaration.kind in declared:
                raise InvalidConfiguration(f"two plugins declare kind {declaration.kind!r}")
            declared[declaration.kind] = declaration
        return declared

    def declared_kinds_by_plugin(self) -> dict[str, tuple[str, ...]]:
        """``cm_declare_kind`` asked of each plugin on its own: plugin name -> the kinds it
        declares (sorted; plugins declaring none are left out).

        The collected hook call loses who returned what; ``container-maker plugins`` needs
        each kind attributed to its plugin, so each implementation is called by itself.
        """
        kinds: dict[str, set[str]] = {}
        for impl in self._hook.cm_declare_kind.get_hookimpls():
            # The spec takes no parameters, so the implementation is called with none.
            result = impl.function()
            declaration = _checked(result, ResourceKind, f"cm_declare_kind ({impl.plugin_name})")
            if declaration is not None:
                kinds.setdefault(impl.plugin_name, set()).add(declaration.kind)
        return {name: tuple(sorted(declared)) for name, declared in kinds.items()}

    def preflight(self, *, spec: ContainerSpec, kinds: tuple[str, ...], settings: Settings) -> None:
        """``cm_preflight``: every plugin may refuse the create (by raising)."""
        self._hook.cm_preflight(spec=spec, kinds=kinds, settings=settings)

    def build(self, *, kind: str, spec: ContainerSpec, context: BuildContext) -> Manifest | None:
        """``cm_build``: the manifest of ``kind`` (None: no plugin owns it)."""
        result = self._hook.cm_build(kind=kind, spec=spec, context=context)
        return _checked(result, Manifest, "cm_build")

    def pod_extras(self, *, spec: ContainerSpec, context: BuildContext) -> tuple[PodExtras, ...]:
        """``cm_pod_extras``: every sidecar plugin's contribution."""
        results = self._hook.cm_pod_extras(spec=spec, context=context)
        checked = (_checked(r, PodExtras, "cm_pod_extras") for r in results)
        return tuple(r for r in checked if r is not None)

    def create(
        self, *, kind: str, manifest: Manifest, context: KubeContext
    ) -> ObservedObject | None:
        """``cm_create``: the created object (None: no plugin owns ``kind``)."""
        result = self._hook.cm_create(kind=kind, manifest=manifest, context=context)
        return _checked(result, ObservedObject, "cm_create")

    def get(
        self, *, kind: str, query: Query, context: KubeContext
    ) -> tuple[ObservedObject, ...] | None:
        """``cm_get``: matching managed objects (None: no plugin owns ``kind``)."""
        result = self._hook.cm_get(kind=kind, query=query, context=context)
        return _checked_objects(result, "cm_get")

    def delete(
        self, *, kind: str, objects: tuple[ObservedObject, ...], context: KubeContext
    ) -> DeleteResult | None:
        """``cm_delete``: what was deleted (None: no plugin owns ``kind``)."""
        result = self._hook.cm_delete(kind=kind, objects=objects, context=context)
        return _checked(result, DeleteResult, "cm_delete")

    def watch_source(self, *, kind: str) -> NamespacedKind[Any] | None:
        """``cm_watch_source``: how to watch ``kind`` (None: nobody can)."""
        result = self._hook.cm_watch_source(kind=kind)
        if result is None:
            return None
        if not isinstance(result, NamespacedKind) or result.list_all is None:
            raise InternalError(
                f"a plugin's cm_watch_source returned {result!r}, expected a NamespacedKind "
                "with list_all"
            )
        return result

    def save(self, *, pod: ObservedObject, context: KubeContext) -> SavedImage | None:
        """``cm_save``: the image saved from ``pod`` (None: no plugin saves)."""
        result = self._hook.cm_save(pod=pod, context=context)
        return _checked(result, SavedImage, "cm_save")

    def describe_associations(
        self, *, container_id: str, objects: dict[str, tuple[ObservedObject, ...]]
    ) -> tuple[AssociatedResource, ...]:
        """``cm_describe_associations``: all plugins' tree nodes, flattened."""
        results = self._hook.cm_describe_associations(container_id=container_id, objects=objects)
        nodes: list[AssociatedResource] = []
        for result in results:
            if result is None:
                continue
            if not isinstance(result, tuple) or not all(
                isinstance(n, AssociatedResource) for n in result
            ):
                raise InternalError(
                    f"a plugin's cm_describe_associations returned {result!r}, "
                    "expected a tuple of AssociatedResource"
                )
            nodes.extend(result)
        return tuple(nodes)

    def authenticate(
        self, *, credentials: Credentials, settings: Settings, context: KubeContext
    ) -> Identity | None:
        """``cm_authenticate``: the caller's identity (None: no plugin recognised credentials)."""
        result = self._hook.cm_authenticate(
            credentials=credentials, settings=settings, context=context
        )
        return _checked(result, Identity, "cm_authenticate")

    def authenticator_names(self) -> tuple[str, ...]:
        """The names of the registered plugins that implement ``cm_authenticate`` (what
        ``settings.authenticators`` may name)."""
        impls = self._hook.cm_authenticate.get_hookimpls()
        return tuple(sorted({impl.plugin_name for impl in impls}))

    def accepted_credentials(self, *, settings: Settings) -> tuple[str, ...]:
        """``cm_accepted_credentials``: what the enabled authenticators accept (empty: none)."""
        results = self._hook.cm_accepted_credentials(settings=settings)
        phrases = []
        for result in results:
            if result is None:
                continue
            if not isinstance(result, str):
                raise InternalError(
                    f"a plugin's cm_accepted_credentials returned {result!r}, expected a str"
                )
            phrases.append(result)
        return tuple(sorted(phrases))

    def authorize(self, *, identity: Identity, access: Access, context: KubeContext) -> None:
        """Raise :class:`~container_maker.errors.Forbidden` unless ``identity`` may ``access``.

        Identities granted verbs at authentication are checked against them; for the others
        every ``cm_authorize`` answer counts (one refusal refuses, one approval is needed).
        Tenancy (whose namespace it is) is the manager's check, not this one.
        """
        what = f"{access.verb} containers in network {access.network_name}"
        if identity.verbs is not None:
            if access.verb not in identity.verbs:
                raise Forbidden(f"{identity.user} may not {what}")
            return
        results = self._hook.cm_authorize(identity=identity, access=access, context=context)
        decisions = [_checked(r, Decision, "cm_authorize") for r in results]
        refusals = [d for d in decisions if d is not None and not d.allowed]
        if refusals:
            reason = refusals[0].reason
            raise Forbidden(f"{identity.user} may not {what}" + (f": {reason}" if reason else ""))
        if not any(d is not None and d.allowed for d in decisions):
            raise Forbidden(
                f"{identity.user} may not {what}: no authorizer grants it (for Kubernetes "
                "identities, an RBAC rule on containers.container-maker.io)"
            )
