"""Data models at every boundary: the container spec, results, and what plugins exchange.

All models are pydantic v2, strict (no silent coercion: a string is not an int), frozen and
``extra="forbid"``. A plugin that wants a changed object builds a new one (``model_copy``); it
never mutates what it was given. Kubernetes objects travel as plain JSON-like dicts inside
:class:`Manifest` (what to create) and are summarised as :class:`ObservedObject` (what exists).
"""

from __future__ import annotations

import copy
import hashlib
import json
from datetime import datetime
from enum import IntEnum, StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class Model(BaseModel):
    """Base of all Container Maker models: strict, frozen, no unknown fields."""

    model_config = ConfigDict(strict=True, frozen=True, extra="forbid")


class ExposureLevel(IntEnum):
    """How far a container is reachable; the numbers are those of the published API."""

    UNSPECIFIED = 0
    INTERNAL = 1
    CLUSTER_LOCAL = 2
    CLUSTER_EXTERNAL = 3
    EXPOSED = 4


# ---------------------------------------------------------------------------------------------
# The request side


class PublishInformation(Model):
    """One port to publish: ``publish_port`` on the Service/Ingress, ``target_port`` in the pod.

    ``protocol`` is TCP, UDP or SCTP (empty means TCP). ``node_port`` is honoured where the
    Service type allows it (LoadBalancer, i.e. CLUSTER_EXTERNAL and EXPOSED).
    """

    publish_port: int
    target_port: int
    protocol: str = ""
    node_port: int | None = None


class ResourceRequirements(Model):
    """Per-request resource overrides; ``None`` means "use the configured default"."""

    cpu_request: str | None = None
    cpu_limit: str | None = None
    memory_request: str | None = None
    memory_limit: str | None = None
    ephemeral_request: str | None = None
    ephemeral_limit: str | None = None
    snapshot_size_limit: str | None = None


class ContainerSpec(Model):
    """What a client asks for in ``createContainer``.

    ``exposure_level`` is a plain int on purpose: an out-of-range number from the wire must reach
    validation (and become INVALID_ARGUMENT naming the field) instead of failing model parsing.
    """

    image_name: str
    container_name: str
    network_name: str
    exposure_level: int
    publish_information: tuple[PublishInformation, ...] = ()
    environment_variables: dict[str, str] = Field(default_factory=dict)
    resource_requirements: ResourceRequirements | None = None

    @property
    def exposure(self) -> ExposureLevel:
        """The exposure level as an enum (only valid after validation)."""
        return ExposureLevel(self.exposure_level)

    def spec_hash(self) -> str:
        """A digest of the spec, independent of dict ordering: same spec, same hash."""
        canonical = json.dumps(self.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(canonical.encode()).hexdigest()


# ---------------------------------------------------------------------------------------------
# The response side (shapes of the published API)


class ContainerResources(Model):
    """Resources as plain strings, as the published API reports them ("" = not set)."""

    cpu_request: str = ""
    cpu_limit: str = ""
    memory_request: str = ""
    memory_limit: str = ""
    ephemeral_request: str = ""
    ephemeral_limit: str = ""
    snapshot_size_limit: str = ""


class PortInformation(Model):
    """A port of the user's container."""

    name: str | None = None
    container_port: int
    protocol: str | None = None


class PublishedPort(Model):
    """One published port of a container and the URL a client reaches it at.

    ``url`` is the address at the container's exposure level: for EXPOSED the port's own host,
    ``http://<host>/`` (``https`` when the Ingress has a ``tls`` entry for the host) for TCP
    ports, the load balancer's ``udp://``/``sctp://`` address for the others; for
    CLUSTER_EXTERNAL ``<protocol>://<load-balancer address>:<port>``; for CLUSTER_LOCAL the
    Service's in-cluster DNS name, ``<protocol>://<service>.<namespace>.svc:<port>``. "" while
    not known (a load balancer without an address). ``protocol`` is TCP, UDP or SCTP.
    """

    publish_port: int
    target_port: int = 0
    protocol: str = "TCP"
    url: str = ""


class AssociatedResource(Model):
    """A node of the associated-resources tree (ingress -> services -> pods -> pod containers).

    ``resource_type`` is one of "ingress", "service", "pod", "pod_container".
    """

    resource_name: str
    resource_type: str
    container_resources: ContainerResources | None = None
    associated_resources: tuple[AssociatedResource, ...] = ()


class ContainerPhase(StrEnum):
    """Where a container is in its life, derived from its objects (see :mod:`.status`).

    - PENDING: its pod is not scheduled to a node yet (e.g. no node has room for it).
    - STARTING: scheduled; its containers are being created (image pulls included).
    - RUNNING: its containers run, but it is not ready yet (readiness, or an address at its
      exposure level not assigned yet).
    - READY: the pod is ready and every address at its exposure level is assigned.
    - FAILED: it cannot run as asked (image cannot be pulled, crash loop, out of memory kill,
      pod failed); Kubernetes may keep retrying, so it can still recover.
    - TERMINATING: its deletion has begun.
    """

    PENDING = "Pending"
    STARTING = "Starting"
    RUNNING = "Running"
    READY = "Ready"
    FAILED = "Failed"
    TERMINATING = "Terminating"


class StatusCondition(Model):
    """Something notable about one object of a container: a machine ``reason`` (Kubernetes'
    own reason where there is one: "Unschedulable", "ImagePullBackOff", "CrashLoopBackOff",
    "OOMKilled"; ours otherwise: "LoadBalancerPending", "IngressAddressPending") and a
    ``message`` for humans. ``resource_type``/``resource_name`` name the object (for a pod's
    container: "pod_container" and the container's name)."""

    reason: str
    message: str
    resource_type: str
    resource_name: str


class PortState(StrEnum):
    """Whether a declared port accepts connections inside the pod (the status sidecar's view).

    UNKNOWN: nobody could tell (no fresh report yet, a stale one, or a protocol the sidecar
    cannot check).
    """

    UNKNOWN = "UNKNOWN"
    LISTENING = "LISTENING"
    NOT_LISTENING = "NOT_LISTENING"


class PortStatus(Model):
    """One declared port of the user's container and its state."""

    port: int
    protocol: str
    state: PortState


class ObjectStatus(Model):
    """The status one plugin derived from one object (part of :class:`ObservedObject`).

    ``phase`` is only set for pods (the container's phase as far as the pod tells);
    ``ready`` is false while the object keeps the container from being ready (a pod not ready,
    a load balancer without an address). ``restart_count`` and ``last_exit_code`` are the user
    container's (pods only).

    A report object (the status sidecar's) also carries ``ports`` (the state of each declared
    port), ``last_activity`` (the last connection or traffic on them, None when none was seen),
    ``reported_at`` (when it was observed) and ``valid_until``: past that time the report no
    longer vouches for anything, so the container's status treats the object as not ready and
    its ports as UNKNOWN (:func:`container_maker.readiness.container_status`). All times are UTC.
    """

    phase: ContainerPhase | None = None
    ready: bool = True
    conditions: tuple[StatusCondition, ...] = ()
    restart_count: int = 0
    last_exit_code: int | None = None
    ports: tuple[PortStatus, ...] = ()
    last_activity: datetime | None = None
    reported_at: datetime | None = None
    valid_until: datetime | None = None


class ContainerStatus(Model):
    """A container's status: its phase, whether it is ready, and why not (``conditions``).

    ``ports``, ``last_activity`` and ``reported_at`` come from the status sidecar's report
    (empty / None without one); see :class:`ObjectStatus`.
    """

    phase: ContainerPhase
    ready: bool
    conditions: tuple[StatusCondition, ...] = ()
    restart_count: int = 0
    last_exit_code: int | None = None
    ports: tuple[PortStatus, ...] = ()
    last_activity: datetime | None = None
    reported_at: datetime | None = None


class Container(Model):
    """A container as reported by create, get and list.

    ``container_type`` is the kind of the top-level object (pod, service or ingress);
    ``container_ip`` is the address at the container's exposure level ("" until assigned).
    ``published_ports`` are the ports its Service publishes, each with its URL (empty for
    INTERNAL, which publishes nothing: the pod is reached at ``container_ip``).
    """

    container_id: str
    container_name: str
    container_type: str
    container_ip: str
    container_network: str
    exposure_level: ExposureLevel
    ports: tuple[PortInformation, ...] = ()
    associated_resources: tuple[AssociatedResource, ...] = ()
    status: ContainerStatus = ContainerStatus(phase=ContainerPhase.PENDING, ready=False)
    published_ports: tuple[PublishedPort, ...] = ()


class DeleteOutcome(Model):
    """The answer to a delete: the id and a human-readable status."""

    container_id: str
    status: str


class SavedImage(Model):
    """One pod saved by ``saveContainer``: the image pushed from its user container.

    ``image_name`` is the pushed reference with its digest (``registry/repo@sha256:...``);
    ``tag`` is the unique tag it was pushed under; ``size_bytes`` the bytes of files captured.
    """

    pod_name: str
    namespace: str
    image_name: str
    tag: str = ""
    size_bytes: int = 0
    seconds: float = 0.0


# ---------------------------------------------------------------------------------------------
# What plugins exchange with the core


class Manifest(Model):
    """A Kubernetes object to create, as the JSON body the API server takes.

    The body is copied on the way in and out (:meth:`to_body`), so nobody can change a manifest
    after it was built; a plugin that wants a different manifest returns a new one.
    """

    kind: str
    body: dict[str, Any]

    def to_body(self) -> dict[str, Any]:
        """A deep copy of the body, safe to hand to the Kubernetes client."""
        return copy.deepcopy(self.body)


class ObjectRef(Model):
    """Identifies one Kubernetes object precisely (the uid guards against a recreated name)."""

    kind: str
    namespace: str
    name: str
    uid: str


class ContainerDetail(Model):
    """One container inside a pod: its name, image, role and resources."""

    name: str
    image: str
    role: str  # "user" or "sidecar"
    resources: ContainerResources
    ports: tuple[PortInformation, ...] = ()


class ObservedObject(Model):
    """A summary of an object as it exists in the cluster, made by the plugin owning its kind.

    ``address`` is the object's address at its own level: the pod IP, the Service's ClusterIP
    (ClusterIP type) or load-balancer address (LoadBalancer type), the Ingress's address; ""
    while not assigned. ``terminating`` is true once deletion has begun. ``published_ports``:
    the ports this object publishes and their URLs at its level (a Service: every port; an
    Ingress: the TCP ports it routes); per port and protocol, the core keeps the URL of the
    last created kind that gives one.

    ``named_for``: the container this object belongs to by its name, for a kind whose labels
    someone other than the server may change (the status sidecar may patch its own Lease, labels
    included, but no one can rename an object). When set, the object counts for a container
    only when this is the container's name (from its pod's labels, which are the server's
    alone) and its id label is the container's id ("" for an object whose name names no
    container: it counts for none). None lets the labels decide.
    """

    kind: str
    namespace: str
    name: str
    uid: str
    labels: dict[str, str] = Field(default_factory=dict)
    annotations: dict[str, str] = Field(default_factory=dict)
    address: str = ""
    phase: str = ""
    terminating: bool = False
    ports: tuple[PortInformation, ...] = ()
    containers: tuple[ContainerDetail, ...] = ()
    status: ObjectStatus = ObjectStatus()
    published_ports: tuple[PublishedPort, ...] = ()
    named_for: str | None = None

    @classmethod
    def from_metadata(cls, obj: Any, kind: str, **extra: Any) -> ObservedObject:
        """The summary of a client object (anything with ``metadata``) from its metadata:
        namespace, name, uid, labels, annotations and whether it is terminating; ``extra``
        sets the other fields (``address``, ``status``, ...). A cluster-scoped object (a
        namespace) gets its own name as its namespace."""
        meta = obj.metadata
        fields: dict[str, Any] = {
            "kind": kind,
            "namespace": meta.namespace or meta.name,
            "name": meta.name,
            "uid": meta.uid,
            "labels": dict(meta.labels or {}),
            "annotations": dict(meta.annotations or {}),
            "terminating": meta.deletion_timestamp is not None,
        }
        fields.update(extra)
        return cls(**fields)

    def ref(self) -> ObjectRef:
        """The precise reference to this object."""
        return ObjectRef(kind=self.kind, namespace=self.namespace, name=self.name, uid=self.uid)


class PodExtras(Model):
    """What one sidecar plugin adds to the pod.

    ``containers`` are Kubernetes container objects (JSON dicts) appended after the user's
    container; ``volumes`` are pod volumes to add. The pod's shared snapshot volume is always
    present (named by ``container_maker.identity.SNAPSHOT_VOLUME``): mount it, do not redeclare it.

    ``service_account_name``: the ServiceAccount the pod runs as, for a sidecar that talks to
    the API with a token of its own (mounted into that sidecar only, as a projected volume; the
    pod never automounts one). The plugin makes sure the account exists, through a kind of its
    own that is created before the pod. At most one plugin may ask; "" keeps the namespace's
    default.
    """

    plugin: str
    containers: tuple[dict[str, Any], ...] = ()
    volumes: tuple[dict[str, Any], ...] = ()
    service_account_name: str = ""


class Query(Model):
    """Which managed objects to find in one namespace.

    With neither ``container_id`` nor ``container_name``: every managed object of the kind.
    """

    namespace: str
    container_id: str | None = None
    container_name: str | None = None


class DeleteResult(Model):
    """What a resource's delete did.

    ``deleted`` names the objects whose deletion was requested; ``skipped`` the ones left alone
    (with the reason in ``detail``); ``gone`` is true when all deleted objects have disappeared
    before the deadline (false: deletion was accepted, the rest is up to Kubernetes).
    """

    kind: str
    deleted: tuple[str, ...] = ()
    skipped: tuple[str, ...] = ()
    gone: bool = True
    detail: str = ""
