"""The contexts handed to hook implementations.

:class:`BuildContext` carries what a manifest builder needs and nothing that talks to the
cluster, so builders stay pure functions. :class:`KubeContext` carries the Kubernetes client and
the operation's deadline for the hooks that act on the cluster.
"""

from __future__ import annotations

import time

from kubernetes.client import ApiClient
from pydantic import ConfigDict

from .errors import DeadlineExceeded
from .models import ContainerResources, Model, ObjectRef, PodExtras
from .settings import Settings


class BuildContext(Model):
    """Input of a resource's build and of ``cm_pod_extras`` besides the spec.

    - ``container_id``: the id stamped on every object of the container.
    - ``tenant``: the caller's tenant, stamped on every object of the container (and on a
      namespace Container Maker creates).
    - ``resources``: the user container's resources, defaults already applied.
    - ``settings``: the service configuration.
    - ``owner``: the container's Pod once it exists (for ownerReferences), else None.
    - ``pod_extras``: what sidecar plugins contributed (only when building the pod).
    """

    container_id: str
    tenant: str
    resources: ContainerResources
    settings: Settings
    owner: ObjectRef | None = None
    pod_extras: tuple[PodExtras, ...] = ()


class KubeContext(Model):
    """Input of the hooks that talk to the cluster.

    ``api_client`` is an official ``kubernetes.client.ApiClient``; ``deadline`` is a
    ``time.monotonic()`` value after which the operation must stop (raise
    :class:`~container_maker.errors.DeadlineExceeded` via :meth:`check_deadline`).
    """

    model_config = ConfigDict(arbitrary_types_allowed=True)

    api_client: ApiClient
    settings: Settings
    deadline: float

    def remaining(self) -> float:
        """Seconds left before the deadline (never negative)."""
        return max(0.0, self.deadline - time.monotonic())

    def check_deadline(self, what: str) -> None:
        """Raise DeadlineExceeded when the deadline has passed."""
        if time.monotonic() >= self.deadline:
            raise DeadlineExceeded(f"deadline exceeded while {what}")

    def request_timeout(self, cap: float = 30.0) -> float:
        """A per-request timeout for the Kubernetes client that respects the deadline."""
        return max(1.0, min(cap, self.remaining()))
