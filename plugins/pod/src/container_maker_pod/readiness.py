"""The status of a container's pod, derived from the ``V1Pod`` alone (pure).

Only what the pod object itself says is used: its conditions (PodScheduled, Ready), its phase
and its containers' states (waiting reasons, the last termination). Events are not read: that
would cost a call per container on list. Kubernetes' own reasons are passed on as they are
("Unschedulable", "ErrImagePull", "ImagePullBackOff", "CrashLoopBackOff", "OOMKilled", ...).
"""

from __future__ import annotations

from typing import Any

from container_maker.sdk import ContainerPhase, ObjectStatus, StatusCondition

# Waiting reasons meaning the container cannot start as asked; everything else a container
# waits for ("ContainerCreating", "PodInitializing") is part of starting.
FAILED_WAITING_REASONS = frozenset(
    {
        "ErrImagePull",
        "ImagePullBackOff",
        "InvalidImageName",
        "ErrImageNeverPull",
        "CrashLoopBackOff",
        "CreateContainerConfigError",
        "CreateContainerError",
        "RunContainerError",
    }
)

_WAITING_HINTS = {
    "ErrImagePull": "the image cannot be pulled (wrong name or tag, or the registry is down)",
    "ImagePullBackOff": "the image cannot be pulled (wrong name or tag, or the registry is "
    "down); Kubernetes retries with a growing delay",
    "InvalidImageName": "the image name is not a valid reference",
    "CrashLoopBackOff": "the container keeps exiting; Kubernetes restarts it with a growing delay",
}


def _condition(reason: str, message: str, kind: str, name: str) -> StatusCondition:
    return StatusCondition(reason=reason, message=message, resource_type=kind, resource_name=name)


def _exit(terminated: Any) -> str:
    text = f"exit code {terminated.exit_code}"
    if terminated.reason:
        text += f", {terminated.reason}"
    return text


def _container_conditions(cs: Any) -> tuple[list[StatusCondition], bool]:
    """Conditions of one container status, and whether it makes the pod FAILED."""
    found: list[StatusCondition] = []
    failed = False
    state = cs.state
    waiting = state.waiting if state else None
    terminated = state.terminated if state else None
    last = cs.last_state.terminated if cs.last_state else None
    restarts = int(cs.restart_count or 0)
    if waiting is not None and waiting.reason in FAILED_WAITING_REASONS:
        failed = True
        parts = [f"container {cs.name}: {_WAITING_HINTS.get(waiting.reason, waiting.reason)}"]
        if waiting.reason == "CrashLoopBackOff":
            parts.append(f"restarted {restarts} times")
            if last is not None:
                parts.append(f"last exit: {_exit(last)}")
        if waiting.message:
            parts.append(str(waiting.message))
        found.append(_condition(waiting.reason, "; ".join(parts), "pod_container", cs.name))
    for ended, when in ((terminated, "was"), (last, "was last")):
        if ended is not None and ended.reason == "OOMKilled":
            found.append(
                _condition(
                    "OOMKilled",
                    f"container {cs.name} {when} killed for exceeding its memory limit "
                    f"({_exit(ended)}; restarted {restarts} times)",
                    "pod_container",
                    cs.name,
                )
            )
            break
    return found, failed


def pod_status(pod: Any, user_container: str) -> ObjectStatus:
    """The status of ``pod`` (a ``V1Pod`` or an object shaped like one).

    ``user_container`` names the user's container, whose restart count and last exit code are
    reported; every container's problems become conditions (a sidecar that cannot start keeps
    the pod from being ready, so the user needs to know).
    """
    meta = pod.metadata
    status = pod.status
    name = str(meta.name)
    pod_conditions = {c.type: c for c in (status.conditions if status else None) or []}
    statuses = list((status.container_statuses if status else None) or [])
    restart_count = 0
    last_exit_code: int | None = None
    for cs in statuses:
        if cs.name == user_container:
            restart_count = int(cs.restart_count or 0)
            ended = (cs.state.terminated if cs.state else None) or (
                cs.last_state.terminated if cs.last_state else None
            )
            last_exit_code = None if ended is None else int(ended.exit_code)

    conditions: list[StatusCondition] = []
    failed = False
    scheduled = pod_conditions.get("PodScheduled")
    if scheduled is not None and scheduled.status == "False":
        conditions.append(
            _condition(
                scheduled.reason or "Unschedulable",
                f"pod {name} cannot be scheduled: {scheduled.message or 'no node fits it'}",
                "pod",
                name,
            )
        )
    for cs in statuses:
        found, container_failed = _container_conditions(cs)
        conditions.extend(found)
        failed = failed or container_failed
    pod_phase = (status.phase if status else None) or "Pending"
    if pod_phase in ("Failed", "Succeeded"):
        failed = True
        reason = (status.reason if status else None) or (
            "Completed" if pod_phase == "Succeeded" else "Failed"
        )
        detail = (status.message if status else None) or "its containers have ended"
        conditions.append(
            _condition(reason, f"pod {name} {pod_phase.lower()}: {detail}", "pod", name)
        )

    ready_condition = pod_conditions.get("Ready")
    ready = ready_condition is not None and ready_condition.status == "True"
    is_scheduled = (scheduled is not None and scheduled.status == "True") or bool(
        pod.spec is not None and pod.spec.node_name
    )
    if meta.deletion_timestamp is not None:
        phase, ready = ContainerPhase.TERMINATING, False
    elif failed:
        phase, ready = ContainerPhase.FAILED, False
    elif not is_scheduled:
        phase, ready = ContainerPhase.PENDING, False
    elif ready:
        phase = ContainerPhase.READY
    elif statuses and all(cs.state is not None and cs.state.running for cs in statuses):
        phase = ContainerPhase.RUNNING
        if ready_condition is not None and ready_condition.reason:
            conditions.append(
                _condition(
                    ready_condition.reason,
                    f"pod {name} is not ready: {ready_condition.message or 'readiness pending'}",
                    "pod",
                    name,
                )
            )
    else:
        phase = ContainerPhase.STARTING
    return ObjectStatus(
        phase=phase,
        ready=ready,
        conditions=tuple(conditions),
        restart_count=restart_count,
        last_exit_code=last_exit_code,
    )
