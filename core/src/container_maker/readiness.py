"""A container's status from the statuses its plugins derived from its objects (pure).

Each resource plugin summarises its own object's status in
:attr:`~container_maker.models.ObservedObject.status` while observing it (no extra API call):
the pod plugin gives the phase, readiness, restarts and the reasons a pod is stuck; the service
and ingress plugins say whether their address is still missing; the status plugin gives the
sidecar's report (declared ports listening, last activity). :func:`container_status` combines
them: the pod decides the phase, and a container whose pod is ready but that something else
holds back (an address not assigned yet, a port not listening, no fresh report) is RUNNING, not
READY.

A report has a validity (``ObjectStatus.valid_until``). Past it, the status computed at ``now``
treats the object as not ready and its ports as UNKNOWN: a status sidecar that died or lags can
never keep a container looking healthier than its last word allows.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime

from .models import (
    ContainerPhase,
    ContainerStatus,
    ObjectStatus,
    ObservedObject,
    PortState,
    PortStatus,
    StatusCondition,
)

STALE_REASON = "StatusReportStale"


def is_expired(status: ObjectStatus, now: datetime) -> bool:
    """True when ``status`` has a validity and ``now`` is past it."""
    return status.valid_until is not None and now > status.valid_until


def _effective(obj: ObservedObject, now: datetime) -> ObjectStatus:
    """The object's status as it holds at ``now`` (an expired report vouches for nothing)."""
    status = obj.status
    if not is_expired(status, now):
        return status
    assert status.valid_until is not None
    when = status.reported_at.isoformat() if status.reported_at else "never"
    stale = StatusCondition(
        reason=STALE_REASON,
        message=(
            f"the last report in {obj.kind} {obj.name} (from {when}) expired at "
            f"{status.valid_until.isoformat()}: its sidecar stopped reporting or lags, so "
            "its port states are unknown"
        ),
        resource_type=obj.kind,
        resource_name=obj.name,
    )
    return status.model_copy(
        update={
            "ready": False,
            # The report's own findings no longer hold; only the staleness is news.
            "conditions": (stale,),
            "ports": tuple(p.model_copy(update={"state": PortState.UNKNOWN}) for p in status.ports),
        }
    )


def container_status(
    objects: Mapping[str, tuple[ObservedObject, ...]],
    expected: tuple[str, ...] = (),
    now: datetime | None = None,
) -> ContainerStatus:
    """The status of one container at ``now`` (default: the current time) from the objects of
    its view by kind (the pod must be among them).

    ``expected`` are the view's kinds its exposure level needs: one missing (not created yet, or
    deleted behind our back) keeps the container from being ready ("ObjectMissing"). A pod
    whose plugin gave no phase is reported STARTING and not ready: an object that says nothing
    never makes a container look healthier than it is.
    """
    now = now or datetime.now(UTC)
    pod = objects["pod"][0].status
    conditions: list[StatusCondition] = []
    missing = [kind for kind in expected if not objects.get(kind)]
    others: list[ObjectStatus] = []
    for kind, found in objects.items():
        for obj in found:
            status = _effective(obj, now)
            conditions.extend(status.conditions)
            if kind != "pod":
                others.append(status)
    phase = pod.phase or ContainerPhase.STARTING
    ready = pod.phase is ContainerPhase.READY and pod.ready
    for kind in missing:
        conditions.append(
            StatusCondition(
                reason="ObjectMissing",
                message=f"the container's {kind} does not exist (not created yet, or deleted)",
                resource_type=kind,
                resource_name="",
            )
        )
    if phase is ContainerPhase.READY and (missing or not all(s.ready for s in others)):
        phase = ContainerPhase.RUNNING
        ready = False
    # One report per container is expected (the server attributes a Lease by its name); should
    # several ever be there, an extra one can only make the container look worse: each port
    # takes the worst state any report gives it, and the activity and report time the oldest,
    # so no report can pin a container's activity or hide another's staleness.
    ports: dict[tuple[int, str], PortStatus] = {}
    activity: list[datetime] = []
    reported: list[datetime] = []
    for status in others:
        for port in status.ports:
            key = (port.port, port.protocol)
            if key not in ports or _RANK[port.state] < _RANK[ports[key].state]:
                ports[key] = port
        activity.extend([status.last_activity] if status.last_activity else [])
        reported.extend([status.reported_at] if status.reported_at else [])
    return ContainerStatus(
        phase=phase,
        ready=ready,
        conditions=tuple(conditions),
        restart_count=pod.restart_count,
        last_exit_code=pod.last_exit_code,
        ports=tuple(ports.values()),
        last_activity=min(activity, default=None),
        reported_at=min(reported, default=None),
    )


# Worst first: a port nobody saw listening is worse than one nobody could check.
_RANK = {PortState.NOT_LISTENING: 0, PortState.UNKNOWN: 1, PortState.LISTENING: 2}
