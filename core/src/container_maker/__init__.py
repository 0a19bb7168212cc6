"""Container Maker: a small core of hooks, and plugins that make Kubernetes objects.

Plugin author's quick start
---------------------------

A plugin is a module of hook functions marked with :data:`hookimpl`. Declare it in your
distribution's ``pyproject.toml`` under the entry-point group ``container_maker`` (the value of
:data:`NAME`); the entry-point name is the plugin's name and, for a resource plugin, its kind::

    [project.entry-points.container_maker]
    configmap = "my_package.plugin"

The hooks and their contracts are documented in :mod:`container_maker.hookspecs`. Hooks are
called with keyword arguments, so implement only the parameters you need. Import everything
from :mod:`container_maker.sdk` (the rest of the package is internal)::

    from container_maker.sdk import PodExtras, hookimpl, sidecar_container


    @hookimpl
    def cm_pod_extras(spec, context):
        # Add a container to every pod: no privileges, small requests.
        container = sidecar_container("cm-hello", "busybox:1.36", spec, context)
        return PodExtras(plugin="hello", containers=(container,))

A resource kind is a declaration, not a set of hooks: build a
:class:`~container_maker.sdk.Resource` (its builder, its Kubernetes calls, where it goes) and
add it to the registry in ``cm_register_resources``. The guide, with a complete kind and a
sidecar, RBAC, settings and tests, is ``docs/writing-a-plugin.md`` in the repository.

Rules of the house: never import another plugin; talk to Kubernetes with the official client
inside :func:`~container_maker.sdk.api_errors`, which translates failures into the SDK's
errors; never mutate a model you were given (models are frozen: build a new one); label what
you create with :func:`~container_maker.sdk.container_labels` so that it can be found and
cleaned up.

Testing: installing ``container-maker[testing]`` registers a pytest plugin
(:mod:`container_maker.testing`) with fixtures for a plugin manager, a manager with exactly
the plugins you give, an in-memory kind, and a cluster (the workspace's test cluster, or the
kubeconfig in ``CONTAINER_MAKER_TEST_KUBECONFIG``) with a namespace per test.
"""

from __future__ import annotations

from .markers import NAME, hookimpl, hookspec

__all__ = ["NAME", "hookimpl", "hookspec"]
