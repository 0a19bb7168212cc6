"""In-memory resource kinds: a plugin's place in the order, tested without a cluster.

A :class:`MemoryKind` is a resource plugin for one kind that keeps its objects in a dict (a
:data:`Store` shared by the kinds of one test) instead of a cluster. It stands in for plugins,
never for the Kubernetes API server: with it a test checks the core's side of the contract (the
order kinds are created and deleted in, rollback, idempotency, the tree) and where a plugin's
own kind lands among the others, from the same declaration its real resource makes::

    store: Store = {}
    kinds = [MemoryKind("namespace", store), MemoryKind("pod", store),
             MemoryKind("budget", store, after=("pod",))]
    pm = create_plugin_manager(load_entrypoints=False, plugins=[(k.kind, k) for k in kinds])
    assert ContainerManager(ApiClient(), plugin_manager=pm).resources.kinds() == (
        "namespace", "pod", "budget")

The namespace kind returns an existing namespace instead of failing (as the real one does);
every other kind refuses a second object of the same name (AlreadyExists). ``fail_on`` injects
a failure into the kind's ``build`` or ``create`` (the latter after the object was stored, like
a create whose answer was lost).
"""

from __future__ import annotations

import itertools
from types import SimpleNamespace
from typing import Any

from .context import BuildContext, KubeContext
from .errors import AlreadyExists, InvalidArgument, Unavailable
from .identity import (
    ID_KEY,
    NAME_KEY,
    TENANT_KEY,
    container_annotations,
    container_labels,
    is_managed,
    managed_labels,
)
from .kube import NamespacedApi
from .markers import hookimpl
from .models import ContainerSpec, DeleteResult, Manifest, ObservedObject, Query
from .resources import Resource, ResourceRegistry

Store = dict[tuple[str, str, str], ObservedObject]
"""Objects by (kind, namespace, name)."""

_uids = itertools.count(1)


class MemoryKind:
    """A resource plugin for ``kind`` keeping its objects in ``store``.

    ``declaration`` takes the :class:`~container_maker.resources.Resource` fields that say
    where the kind goes (``min_level``, ``after``, ``before``, ``scope``, ``view``,
    ``parent``, ``tree``, ``name_suffix``, ``exposes``). Objects are named
    ``<container>-<kind>`` (a namespace after the network, a namespace-scoped kind's object
    ``<network>-<kind>``) and carry the labels the real kinds carry, so get, list and delete
    find them the same way.
    """

    def __init__(self, kind: str, store: Store, **declaration: Any) -> None:
        self.kind = kind
        self.store = store
        self.declaration = declaration
        self.fail_on: str | None = None  # "build" or "create" to inject a failure

    @property
    def name(self) -> str:
        """The plugin's name: its kind (what the kit's ``cm_manager`` registers it under)."""
        return self.kind

    # -- the resource ---------------------------------------------------------------------

    def build(self, spec: ContainerSpec, context: BuildContext) -> dict[str, Any]:
        if self.fail_on == "build":
            raise InvalidArgument("container_name", f"injected failure building {self.kind}")
        if self.kind == "namespace":
            meta = {
                "name": spec.network_name,
                "labels": {**managed_labels(), TENANT_KEY: context.tenant},
            }
        elif self.declaration.get("scope") == "namespace":
            meta = {
                "name": f"{spec.network_name}-{self.kind}",
                "namespace": spec.network_name,
                "labels": managed_labels(),
            }
        else:
            meta = {
                "name": f"{spec.container_name}-{self.kind}",
                "namespace": spec.network_name,
                "labels": container_labels(context.container_id, spec, context.tenant),
                "annotations": container_annotations(spec),
            }
        return {"metadata": meta, "extras": len(context.pod_extras)}

    def create(self, manifest: Manifest, context: KubeContext) -> ObservedObject:
        meta = manifest.body["metadata"]
        namespace = meta.get("namespace", meta["name"])
        key = (self.kind, namespace, meta["name"])
        if key in self.store:
            if self.kind == "namespace":
                return self.store[key]
            raise AlreadyExists(f"{self.kind} {meta['name']} exists")
        obj = ObservedObject(
            kind=self.kind,
            namespace=namespace,
            name=meta["name"],
            uid=f"uid-{next(_uids)}",
            labels=meta["labels"],
            annotations=meta.get("annotations", {}),
            address=f"{self.kind}-address",
        )
        self.store[key] = obj
        if self.fail_on == "create":
            raise Unavailable(f"injected failure after creating {self.kind}")
        return obj

    def get(self, query: Query, context: KubeContext) -> tuple[ObservedObject, ...]:
        if self.kind == "namespace":
            found = self.store.get((self.kind, query.namespace, query.namespace))
            return () if found is None else (found,)
        return tuple(
            o
            for (k, ns, _), o in sorted(self.store.items())
            if k == self.kind
            and ns == query.namespace
            and is_managed(o.labels)
            and ID_KEY in o.labels
            and query.container_id in (None, o.labels.get(ID_KEY))
            and query.container_name in (None, o.labels.get(NAME_KEY))
        )

    def delete(self, objects: tuple[ObservedObject, ...], context: KubeContext) -> DeleteResult:
        deleted = [
            obj.name
            for obj in objects
            if self.store.pop((self.kind, obj.namespace, obj.name), None) is not None
        ]
        return DeleteResult(kind=self.kind, deleted=tuple(deleted))

    def _list_all(self, api: Any, label_selector: str, **_: Any) -> Any:
        """The kind's objects in all namespaces matching ``label_selector`` (``k=v`` terms;
        what the count of a tenant's containers lists pods with)."""
        terms = dict(term.split("=", 1) for term in label_selector.split(","))
        return SimpleNamespace(
            items=[
                o
                for (k, _, _), o in sorted(self.store.items())
                if k == self.kind and all(o.labels.get(key) == v for key, v in terms.items())
            ]
        )

    @property
    def resource(self) -> Resource:
        """The kind's :class:`~container_maker.resources.Resource`."""

        def unused(*args: Any, **kwargs: Any) -> Any:
            raise AssertionError("an in-memory kind has no Kubernetes calls")

        client = NamespacedApi(
            name=self.kind,
            plural=f"{self.kind}s",
            api=lambda api_client: None,
            create=unused,
            list=unused,
            read=unused,
            delete=unused,
            observe=lambda o: o,
            list_all=self._list_all,
        )
        defaults: dict[str, Any] = {}
        if self.kind == "namespace":
            defaults = {"view": False, "tree": False}
        elif self.kind == "pod":
            defaults = {"exposes": True}
        return Resource(
            kind=self.kind,
            build=self.build,
            client=client,
            create=self.create,
            get=self.get,
            delete=self.delete,
            **{**defaults, **self.declaration},
        )

    @hookimpl
    def cm_register_resources(self, registry: ResourceRegistry) -> None:
        registry.add(self.resource)
