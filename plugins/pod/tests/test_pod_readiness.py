"""The pod's status from the ``V1Pod`` alone (pure, table-driven).

The inputs are the official client's ``V1Pod`` objects shaped like what the API server returns
in each situation; the reasons needing a real node (image pull errors, crash loops, OOM kills)
are also provoked for real in the real-node tests.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pytest
from kubernetes.client import (
    V1ContainerState,
    V1ContainerStateRunning,
    V1ContainerStateTerminated,
    V1ContainerStateWaiting,
    V1ContainerStatus,
    V1ObjectMeta,
    V1Pod,
    V1PodCondition,
    V1PodSpec,
    V1PodStatus,
)

from container_maker.models import ContainerPhase
from container_maker_pod.readiness import pod_status

NOW = datetime(2026, 1, 1, tzinfo=UTC)


def running() -> V1ContainerState:
    return V1ContainerState(running=V1ContainerStateRunning(started_at=NOW))


def waiting(reason: str, message: str | None = None) -> V1ContainerState:
    return V1ContainerState(waiting=V1ContainerStateWaiting(reason=reason, message=message))


def terminated(code: int, reason: str) -> V1ContainerState:
    return V1ContainerState(terminated=V1ContainerStateTerminated(exit_code=code, reason=reason))


def container(
    name: str,
    state: V1ContainerState,
    last: V1ContainerState | None = None,
    restarts: int = 0,
    ready: bool = False,
) -> V1ContainerStatus:
    return V1ContainerStatus(
        name=name,
        image="img",
        image_id="",
        ready=ready,
        restart_count=restarts,
        state=state,
        last_state=last or V1ContainerState(),
    )


def pod(
    *,
    phase: str = "Pending",
    scheduled: tuple[str, str | None, str | None] | None = None,
    ready: tuple[str, str | None] | None = None,
    containers: list[V1ContainerStatus] | None = None,
    node: str | None = None,
    deleting: bool = False,
    reason: str | None = None,
    message: str | None = None,
) -> V1Pod:
    conditions = []
    if scheduled is not None:
        status, why, text = scheduled
        conditions.append(
            V1PodCondition(type="PodScheduled", status=status, reason=why, message=text)
        )
    if ready is not None:
        conditions.append(V1PodCondition(type="Ready", status=ready[0], reason=ready[1]))
    return V1Pod(
        metadata=V1ObjectMeta(
            name="web", namespace="ns", deletion_timestamp=NOW if deleting else None
        ),
        spec=V1PodSpec(containers=[], node_name=node),
        status=V1PodStatus(
            phase=phase,
            conditions=conditions or None,
            container_statuses=containers,
            reason=reason,
            message=message,
        ),
    )


SCHEDULED = ("True", None, None)
UNSCHEDULABLE_MESSAGE = "0/2 nodes are available: 2 Insufficient cpu."


@dataclass
class Case:
    name: str
    pod: V1Pod
    phase: ContainerPhase
    ready: bool = False
    reasons: list[str] = field(default_factory=list)
    message_has: list[str] = field(default_factory=list)
    restarts: int = 0
    exit_code: int | None = None


CASES = [
    Case("just created: nothing known yet", pod(), ContainerPhase.PENDING),
    Case(
        "unschedulable",
        pod(scheduled=("False", "Unschedulable", UNSCHEDULABLE_MESSAGE)),
        ContainerPhase.PENDING,
        reasons=["Unschedulable"],
        message_has=["Insufficient cpu"],
    ),
    Case(
        "scheduled, creating containers",
        pod(
            scheduled=SCHEDULED,
            node="n1",
            containers=[container("web", waiting("ContainerCreating"))],
            ready=("False", "ContainersNotReady"),
        ),
        ContainerPhase.STARTING,
    ),
    Case(
        "image cannot be pulled",
        pod(
            scheduled=SCHEDULED,
            node="n1",
            containers=[
                container("web", waiting("ErrImagePull", "manifest unknown")),
                container("cm-status", running(), ready=True),
            ],
        ),
        ContainerPhase.FAILED,
        reasons=["ErrImagePull"],
        message_has=["container web", "manifest unknown"],
    ),
    Case(
        "image pull back-off",
        pod(
            scheduled=SCHEDULED,
            node="n1",
            containers=[container("web", waiting("ImagePullBackOff", "Back-off pulling image"))],
        ),
        ContainerPhase.FAILED,
        reasons=["ImagePullBackOff"],
        message_has=["cannot be pulled", "Back-off pulling"],
    ),
    Case(
        "crash loop with restarts and the last exit code",
        pod(
            phase="Running",
            scheduled=SCHEDULED,
            node="n1",
            containers=[
                container(
                    "web",
                    waiting("CrashLoopBackOff", "back-off 40s restarting failed container"),
                    last=terminated(1, "Error"),
                    restarts=4,
                )
            ],
        ),
        ContainerPhase.FAILED,
        reasons=["CrashLoopBackOff"],
        message_has=["restarted 4 times", "exit code 1, Error"],
        restarts=4,
        exit_code=1,
    ),
    Case(
        "OOM killed and crash looping",
        pod(
            phase="Running",
            scheduled=SCHEDULED,
            node="n1",
            containers=[
                container(
                    "web",
                    waiting("CrashLoopBackOff"),
                    last=terminated(137, "OOMKilled"),
                    restarts=2,
                )
            ],
        ),
        ContainerPhase.FAILED,
        reasons=["CrashLoopBackOff", "OOMKilled"],
        message_has=["memory limit", "exit code 137"],
        restarts=2,
        exit_code=137,
    ),
    Case(
        "OOM killed once, running again",
        pod(
            phase="Running",
            scheduled=SCHEDULED,
            node="n1",
            ready=("True", None),
            containers=[container("web", running(), last=terminated(137, "OOMKilled"), restarts=1)],
        ),
        ContainerPhase.READY,
        ready=True,
        reasons=["OOMKilled"],
        message_has=["was last killed"],
        restarts=1,
        exit_code=137,
    ),
    Case(
        "running, not ready yet",
        pod(
            phase="Running",
            scheduled=SCHEDULED,
            node="n1",
            ready=("False", "ContainersNotReady"),
            containers=[container("web", running()), container("cm-status", running())],
        ),
        ContainerPhase.RUNNING,
        reasons=["ContainersNotReady"],
    ),
    Case(
        "ready",
        pod(
            phase="Running",
            scheduled=SCHEDULED,
            node="n1",
            ready=("True", None),
            containers=[container("web", running(), ready=True)],
        ),
        ContainerPhase.READY,
        ready=True,
    ),
    Case(
        "deleting a ready pod",
        pod(
            phase="Running",
            scheduled=SCHEDULED,
            node="n1",
            ready=("True", None),
            containers=[container("web", running(), ready=True)],
            deleting=True,
        ),
        ContainerPhase.TERMINATING,
    ),
    Case(
        "pod failed (evicted)",
        pod(phase="Failed", node="n1", reason="Evicted", message="The node was low on memory."),
        ContainerPhase.FAILED,
        reasons=["Evicted"],
        message_has=["low on memory"],
    ),
    Case(
        "container exited for good",
        pod(
            phase="Succeeded",
            node="n1",
            containers=[container("web", terminated(0, "Completed"))],
        ),
        ContainerPhase.FAILED,
        reasons=["Completed"],
        exit_code=0,
    ),
    Case(
        "a sidecar cannot start: the pod is not healthy either",
        pod(
            scheduled=SCHEDULED,
            node="n1",
            containers=[
                container("web", running(), ready=True),
                container("cm-status", waiting("ImagePullBackOff")),
            ],
        ),
        ContainerPhase.FAILED,
        reasons=["ImagePullBackOff"],
        message_has=["container cm-status"],
    ),
]


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_pod_status(case: Case) -> None:
    status = pod_status(case.pod, "web")
    assert status.phase is case.phase
    assert status.ready is case.ready
    assert [c.reason for c in status.conditions] == case.reasons
    text = " | ".join(c.message for c in status.conditions)
    for expected in case.message_has:
        assert expected in text
    assert status.restart_count == case.restarts
    assert status.last_exit_code == case.exit_code


def test_a_pod_without_status_is_pending_and_not_ready() -> None:
    bare: Any = V1Pod(metadata=V1ObjectMeta(name="web"), spec=V1PodSpec(containers=[]))
    status = pod_status(bare, "web")
    assert (status.phase, status.ready, status.conditions) == (ContainerPhase.PENDING, False, ())


def test_condition_names_its_object() -> None:
    status = pod_status(CASES[3].pod, "web")
    (condition,) = status.conditions
    assert (condition.resource_type, condition.resource_name) == ("pod_container", "web")
    status = pod_status(CASES[1].pod, "web")
    assert (status.conditions[0].resource_type, status.conditions[0].resource_name) == (
        "pod",
        "web",
    )
