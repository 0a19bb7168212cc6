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
from .context import BuildContext, KubeContext
from .errors import Forbidden, InternalError, InvalidConfiguration
from .markers import NAME
from .models import ContainerSpec, Model, ObservedObject, PodExtras, SavedImage
from .resources import ESSENTIAL_KINDS, ResourceRegistry
from .settings import PluginSettings, Settings, setting_type

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
    kinds = Hooks(pm).resources(check=False).plugins()
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


class Hooks:
    """Typed, keyword-only access to every hook of a plugin manager."""

    def __init__(self, pm: pluggy.PluginManager) -> None:
        self._pm = pm
        self._hook: Any = pm.hook

    @property
    def plugin_manager(self) -> pluggy.PluginManager:
        """The wrapped plugin manager."""
        return self._pm

    def resources(self, *, check: bool = True) -> ResourceRegistry:
        """A new registry of every plugin's kinds (``cm_register_resources``), ordered.

        Each implementation is called on its own, so that what it adds is attributed to it
        (the errors name plugins). The names of blocked plugins may be anchored to. With
        ``check`` (what a manager does), a registry without the essential kinds or whose
        anchors do not resolve raises InvalidConfiguration; without, it is returned as
        registered (what ``container-maker plugins`` shows).
        """
        blocked = [name for name, plugin in self._pm.list_name_plugin() if plugin is None]
        registry = ResourceRegistry(tolerated=blocked)
        for impl in self._hook.cm_register_resources.get_hookimpls():
            others = [p for p in self._pm.get_plugins() if p is not impl.plugin]
            # Called through the plugin manager (not impl.function), so that hook-call
            # monitoring sees it, with every other plugin left out.
            only = self._pm.subset_hook_caller("cm_register_resources", remove_plugins=others)
            with registry.registering(impl.plugin_name):
                only(registry=registry)
        if check:
            registry.check_essentials()
            registry.ordered()
        return registry

    def settings_models(self) -> dict[str, type[PluginSettings]]:
        """Plugin name -> its settings model (``cm_settings_model``; plugins without one are
        left out). InvalidConfiguration when two plugins, or a plugin and the core, claim one
        setting name, or a field has a type a setting cannot have; InternalError when a plugin
        returns something else than a PluginSettings subclass."""
        models: dict[str, type[PluginSettings]] = {}
        owners: dict[str, str] = {name: "the core" for name in Settings.model_fields}
        owning: dict[str, type[PluginSettings]] = {}  # setting -> the model declaring it
        for impl in sorted(
            self._hook.cm_settings_model.get_hookimpls(), key=lambda i: i.plugin_name
        ):
            model = impl.function()  # the spec takes no parameters
            if model is None:
                continue
            if not (isinstance(model, type) and issubclass(model, PluginSettings)):
                raise InternalError(
                    f"plugin {impl.plugin_name}'s cm_settings_model returned {model!r}, "
                    "expected a PluginSettings subclass"
                )
            for name, field in model.model_fields.items():
                if owning.get(name) is model:
                    continue  # the same model of another plugin (of one distribution)
                if name in owners:
                    raise InvalidConfiguration(
                        f"setting {name!r} is declared by {owners[name]} and by plugin "
                        f"{impl.plugin_name!r}"
                    )
                try:
                    setting_type(field.annotation, field)
                except TypeError as error:
                    raise InvalidConfiguration(
                        f"setting {name!r} of plugin {impl.plugin_name!r}: {error}"
                    ) from error
                owners[name] = f"plugin {impl.plugin_name!r}"
                owning[name] = model
            models[impl.plugin_name] = model
        return models

    def check_settings(self, settings: Settings) -> None:
        """Validate every loaded plugin's settings in ``settings`` (InvalidConfiguration
        naming the plugin and the field), so that a bad value stops a server at startup."""
        for name, model in self.settings_models().items():
            try:
                settings.of(model)
            except InvalidConfiguration as error:
                raise InvalidConfiguration(f"plugin {name}: {error.message}") from error

    def preflight(self, *, spec: ContainerSpec, kinds: tuple[str, ...], settings: Settings) -> None:
        """``cm_preflight``: every plugin may refuse the create (by raising)."""
        self._hook.cm_preflight(spec=spec, kinds=kinds, settings=settings)

    def pod_extras(self, *, spec: ContainerSpec, context: BuildContext) -> tuple[PodExtras, ...]:
        """``cm_pod_extras``: every sidecar plugin's contribution."""
        results = self._hook.cm_pod_extras(spec=spec, context=context)
        checked = (_checked(r, PodExtras, "cm_pod_extras") for r in results)
        return tuple(r for r in checked if r is not None)

    def save(self, *, pod: ObservedObject, context: KubeContext) -> SavedImage | None:
        """``cm_save``: the image saved from ``pod`` (None: no plugin saves)."""
        result = self._hook.cm_save(pod=pod, context=context)
        return _checked(result, SavedImage, "cm_save")

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
