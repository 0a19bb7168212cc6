"""Combining the objects' statuses into a container's status (pure)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from container_maker.models import (
    ContainerPhase,
    ObjectStatus,
    ObservedObject,
    PortState,
    PortStatus,
    StatusCondition,
)
from container_maker.readiness import container_status


def cond(reason: str, kind: str) -> StatusCondition:
    return StatusCondition(reason=reason, message=reason, resource_type=kind, resource_name="x")


def obj(kind: str, status: ObjectStatus) -> ObservedObject:
    return ObservedObject(kind=kind, namespace="ns", name="x", uid=kind, status=status)


READY_POD = ObjectStatus(phase=ContainerPhase.READY, ready=True)
LB_WAITING = ObjectStatus(ready=False, conditions=(cond("LoadBalancerPending", "service"),))
NO_INGRESS_ADDRESS = ObjectStatus(
    ready=False, conditions=(cond("IngressAddressPending", "ingress"),)
)


def test_a_ready_pod_alone_is_ready() -> None:
    status = container_status({"pod": (obj("pod", READY_POD),)})
    assert (status.phase, status.ready, status.conditions) == (ContainerPhase.READY, True, ())


def test_a_missing_address_keeps_a_ready_pod_running() -> None:
    objects = {
        "pod": (obj("pod", READY_POD),),
        "service": (obj("service", LB_WAITING),),
        "ingress": (obj("ingress", NO_INGRESS_ADDRESS),),
    }
    status = container_status(objects)
    assert (status.phase, status.ready) == (ContainerPhase.RUNNING, False)
    assert [c.reason for c in status.conditions] == ["LoadBalancerPending", "IngressAddressPending"]


def test_address_assigned_makes_it_ready() -> None:
    objects = {"pod": (obj("pod", READY_POD),), "service": (obj("service", ObjectStatus()),)}
    assert container_status(objects).ready is True


@pytest.mark.parametrize(
    "phase",
    [ContainerPhase.PENDING, ContainerPhase.FAILED, ContainerPhase.TERMINATING],
)
def test_the_pod_decides_the_phase(phase: ContainerPhase) -> None:
    pod = ObjectStatus(
        phase=phase,
        ready=False,
        conditions=(cond("Why", "pod"),),
        restart_count=3,
        last_exit_code=1,
    )
    status = container_status({"pod": (obj("pod", pod),), "service": (obj("service", LB_WAITING),)})
    assert (status.phase, status.ready) == (phase, False)
    assert [c.reason for c in status.conditions] == ["Why", "LoadBalancerPending"]
    assert (status.restart_count, status.last_exit_code) == (3, 1)


def test_a_pod_status_nobody_derived_never_looks_ready() -> None:
    status = container_status({"pod": (obj("pod", ObjectStatus()),)})
    assert (status.phase, status.ready) == (ContainerPhase.STARTING, False)


def test_a_missing_object_of_the_level_keeps_it_from_being_ready() -> None:
    status = container_status({"pod": (obj("pod", READY_POD),)}, ("pod", "service"))
    assert (status.phase, status.ready) == (ContainerPhase.RUNNING, False)
    assert [(c.reason, c.resource_type) for c in status.conditions] == [
        ("ObjectMissing", "service")
    ]


def test_several_reports_can_only_make_a_container_look_worse() -> None:
    def report(state: PortState, activity: int, reported: int) -> ObjectStatus:
        return ObjectStatus(
            ready=True,
            ports=(
                PortStatus(port=8080, protocol="TCP", state=state),
                PortStatus(port=53, protocol="UDP", state=PortState.UNKNOWN),
            ),
            last_activity=datetime(2026, 1, activity, tzinfo=UTC),
            reported_at=datetime(2026, 1, reported, tzinfo=UTC),
        )

    honest = report(PortState.NOT_LISTENING, activity=2, reported=3)
    flattering = report(PortState.LISTENING, activity=28, reported=28)
    for order in ((honest, flattering), (flattering, honest)):
        objects = {
            "pod": (obj("pod", READY_POD),),
            "status": tuple(
                ObservedObject(kind="status", namespace="ns", name=f"r{i}", uid=f"r{i}", status=s)
                for i, s in enumerate(order)
            ),
        }
        status = container_status(objects)
        assert [(p.port, p.state) for p in status.ports] == [
            (8080, PortState.NOT_LISTENING),
            (53, PortState.UNKNOWN),
        ]
        assert status.last_activity == datetime(2026, 1, 2, tzinfo=UTC)
        assert status.reported_at == datetime(2026, 1, 3, tzinfo=UTC)
