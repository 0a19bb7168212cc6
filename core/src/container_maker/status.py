"""A container's status from the statuses its plugins derived from its objects (pure).

Each resource plugin summarises its own object's status in
:attr:`~container_maker.models.ObservedObject.status` while observing it (no extra API call):
the pod plugin gives the phase, readiness, restarts and the reasons a pod is stuck; the service
and ingress plugins say whether their address is still missing. :func:`container_status`
combines them: the pod decides the phase, and a container whose pod is ready but whose address
at its exposure level is not assigned yet is RUNNING, not READY.
"""

from __future__ import annotations

from collections.abc import Mapping

from .chain import CONTAINER_KINDS
from .models import ContainerPhase, ContainerStatus, ObservedObject, StatusCondition


def container_status(
    objects: Mapping[str, tuple[ObservedObject, ...]], expected: tuple[str, ...] = ()
) -> ContainerStatus:
    """The status of one container from its objects by kind (the pod must be among them).

    ``expected`` are the kinds its exposure level needs: one missing (not created yet, or
    deleted behind our back) keeps the container from being ready ("ObjectMissing"). A pod
    whose plugin gave no phase is reported STARTING and not ready: an object that says nothing
    never makes a container look healthier than it is.
    """

    pod = objects["pod"][0].status
    conditions: list[StatusCondition] = []
    missing = [kind for kind in expected if kind in CONTAINER_KINDS and not objects.get(kind)]
    for kind in CONTAINER_KINDS:
        for obj in objects.get(kind, ()):
            conditions.extend(obj.status.conditions)
    phase = pod.phase or ContainerPhase.STARTING
    ready = pod.phase is ContainerPhase.READY and pod.ready
    others_ready = all(
        obj.status.ready
        for kind in CONTAINER_KINDS
        if kind != "pod"
        for obj in objects.get(kind, ())
    )
    for kind in missing:
        conditions.append(
            StatusCondition(
                reason="ObjectMissing",
                message=f"the container's {kind} does not exist (not created yet, or deleted)",
                resource_type=kind,
                resource_name="",
            )
        )
    if phase is ContainerPhase.READY and (missing or not others_ready):
        phase = ContainerPhase.RUNNING
        ready = False
    return ContainerStatus(
        phase=phase,
        ready=ready,
        conditions=tuple(conditions),
        restart_count=pod.restart_count,
        last_exit_code=pod.last_exit_code,
    )
