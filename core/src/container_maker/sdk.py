"""The plugin SDK: everything a plugin imports from Container Maker, and nothing else.

A plugin (built-in or third-party) imports from this module only; every other module of
``container_maker`` is internal and may change (``tests/test_lint.py`` holds the built-in
plugins to this). What is here:

- **Markers:** :data:`hookimpl` (the hook specs are documented in
  :mod:`container_maker.hookspecs`) and :data:`NAME`, the entry-point group.
- **Resource kinds:** :class:`Resource`, :class:`ResourceRegistry` (``cm_register_resources``),
  :data:`Interceptor`.
- **Kubernetes helpers for a namespaced resource type:** :class:`NamespacedApi`
  (``NamespacedApi.of``), :func:`create_object`, :func:`list_objects`, :func:`delete_objects`,
  :func:`delete_and_wait`, :func:`read_uid`, :func:`request_body`, :func:`api_errors` (every
  client call goes inside it), :func:`retry`, :func:`wait_until`.
- **Models and contexts:** the spec, the observed objects and their status, manifests,
  results; :class:`BuildContext`, :class:`KubeContext`, :class:`Settings` (and
  :class:`PluginSettings`, the base of a plugin's own settings, read with ``Settings.of``).
- **Metadata and selectors:** the labels every object carries (:func:`container_labels`,
  :func:`object_metadata`, :func:`label_selector`, :func:`is_managed`, ...), object names.
- **Sidecars:** :func:`sidecar_container`, :func:`resource_requirements`,
  :func:`unprivileged`.
- **Callers:** :class:`Identity`, :class:`Credentials`, :class:`Access`, :class:`Decision`
  (for ``cm_authenticate`` and ``cm_authorize``).
- **Errors:** the hierarchy every plugin raises (each maps to one gRPC status code).
"""

from __future__ import annotations

from .auth import (
    API_GROUP,
    RESOURCE,
    VERBS,
    Access,
    Credentials,
    Decision,
    Identity,
    PeerCertificate,
    Verb,
)
from .context import BuildContext, KubeContext
from .errors import (
    Aborted,
    AlreadyExists,
    ContainerMakerError,
    DeadlineExceeded,
    FailedPrecondition,
    Forbidden,
    InternalError,
    InvalidArgument,
    InvalidConfiguration,
    NotFound,
    PermissionDenied,
    ResourceExhausted,
    ServiceAccountNotReady,
    Unauthenticated,
    Unavailable,
)
from .identity import (
    ID_KEY,
    MANAGED_BY_KEY,
    MANAGED_BY_VALUE,
    NAME_KEY,
    NAME_SUFFIXES,
    SNAPSHOT_VOLUME,
    TENANT_KEY,
    container_annotations,
    container_labels,
    is_managed,
    label_selector,
    managed_labels,
    object_name,
    pod_selector,
)
from .kube import (
    NamespacedApi,
    api_errors,
    create_object,
    delete_and_wait,
    delete_objects,
    list_objects,
    read_uid,
    request_body,
    retry,
    wait_until,
)
from .markers import NAME, hookimpl
from .models import (
    AssociatedResource,
    ContainerDetail,
    ContainerPhase,
    ContainerResources,
    ContainerSpec,
    DeleteResult,
    ExposureLevel,
    Manifest,
    Model,
    ObjectStatus,
    ObservedObject,
    PodExtras,
    PortInformation,
    PortState,
    PortStatus,
    PublishedPort,
    Query,
    SavedImage,
    StatusCondition,
)
from .quantity import parse_quantity
from .resources import Interceptor, Resource, ResourceRegistry
from .settings import QUOTA_NAME, PluginSettings, Settings, names_once, split_endpoint
from .shapes import (
    object_metadata,
    resource_requirements,
    resources_from_kubernetes,
    unprivileged,
)
from .sidecar import sidecar_container
from .tenancy import belongs_to, refused_namespace
from .validation import protocol_of

__all__ = [
    "API_GROUP",
    "ID_KEY",
    "MANAGED_BY_KEY",
    "MANAGED_BY_VALUE",
    "NAME",
    "NAME_KEY",
    "NAME_SUFFIXES",
    "QUOTA_NAME",
    "RESOURCE",
    "SNAPSHOT_VOLUME",
    "TENANT_KEY",
    "VERBS",
    "Aborted",
    "Access",
    "AlreadyExists",
    "AssociatedResource",
    "BuildContext",
    "ContainerDetail",
    "ContainerMakerError",
    "ContainerPhase",
    "ContainerResources",
    "ContainerSpec",
    "Credentials",
    "DeadlineExceeded",
    "Decision",
    "DeleteResult",
    "ExposureLevel",
    "FailedPrecondition",
    "Forbidden",
    "Identity",
    "Interceptor",
    "InternalError",
    "InvalidArgument",
    "InvalidConfiguration",
    "KubeContext",
    "Manifest",
    "Model",
    "NamespacedApi",
    "NotFound",
    "ObjectStatus",
    "ObservedObject",
    "PeerCertificate",
    "PermissionDenied",
    "PluginSettings",
    "PodExtras",
    "PortInformation",
    "PortState",
    "PortStatus",
    "PublishedPort",
    "Query",
    "Resource",
    "ResourceExhausted",
    "ResourceRegistry",
    "SavedImage",
    "ServiceAccountNotReady",
    "Settings",
    "StatusCondition",
    "Unauthenticated",
    "Unavailable",
    "Verb",
    "api_errors",
    "belongs_to",
    "container_annotations",
    "container_labels",
    "create_object",
    "delete_and_wait",
    "delete_objects",
    "hookimpl",
    "is_managed",
    "label_selector",
    "list_objects",
    "managed_labels",
    "names_once",
    "object_metadata",
    "object_name",
    "parse_quantity",
    "pod_selector",
    "protocol_of",
    "read_uid",
    "refused_namespace",
    "request_body",
    "resource_requirements",
    "resources_from_kubernetes",
    "retry",
    "sidecar_container",
    "split_endpoint",
    "unprivileged",
    "wait_until",
]
