"""Container Maker: a small core of hooks, and plugins that make Kubernetes objects.

Plugin author's quick start
---------------------------

A plugin is a module of hook functions marked with :data:`hookimpl`. Declare it in your
distribution's ``pyproject.toml`` under the entry-point group ``container_maker`` (the value of
:data:`NAME`); the entry-point name is the plugin's name and, for a resource plugin, its kind::

    [project.entry-points.container_maker]
    configmap = "my_package.plugin"

The hooks and their contracts are documented in :mod:`container_maker.hookspecs`. Hooks are
called with keyword arguments, so implement only the parameters you need. Per-kind hooks get
``kind`` and must return None for kinds that are not theirs::

    from container_maker import hookimpl
    from container_maker.models import PodExtras
    from container_maker.sidecar import sidecar_container


    @hookimpl
    def cm_pod_extras(spec, context):
        # Add a container to every pod: no privileges, small requests.
        container = sidecar_container("cm-hello", "busybox:1.36", spec, context)
        return PodExtras(plugin="hello", containers=(container,))

Rules of the house: import only from ``container_maker`` (never from another plugin); talk to
Kubernetes with the official client inside :func:`container_maker.kube.api_errors`, which
translates failures into :mod:`container_maker.errors`; never mutate a model you were given
(models are frozen: build a new one); label what you create with
:func:`container_maker.identity.container_labels` so that it can be found and cleaned up.

Testing: installing ``container-maker`` registers a pytest plugin (:mod:`container_maker.testing`)
with fixtures for a fresh plugin manager, registering your plugin for one test, and the real test
cluster with a namespace per test.
"""

from __future__ import annotations

from .markers import NAME, hookimpl, hookspec

__all__ = ["NAME", "hookimpl", "hookspec"]
