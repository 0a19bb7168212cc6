"""The exposure chain: the order in which a container's objects are created.

The order is data, here and nowhere else (never pluggy's registration order). Create walks the
chain forwards and stops at the requested exposure level; delete walks it in reverse. Which level
a kind starts at is declared by the plugin owning it (``cm_declare_kind``).
"""

from __future__ import annotations

from collections.abc import Mapping

from .errors import InvalidConfiguration
from .models import ExposureLevel, ResourceKind

EXPOSURE_CHAIN: tuple[str, ...] = (
    "namespace",
    "networkpolicy",
    "status",
    "pod",
    "service",
    "ingress",
)
"""Kinds in creation order. Each object may depend on the ones before it (the pod lives in the
namespace and runs as the ServiceAccount the status kind made, the Service selects the pod and
is owned by it, the Ingress routes to the Service). "networkpolicy" is the container's
NetworkPolicy (and, in a namespace Container Maker made, the namespace's default-deny), made
before the pod so that the pod never runs without its rules. "status" is the status sidecar's
report object and its access to it. Both belong to every level and, unlike the pod, may be
blocked."""

ESSENTIAL_KINDS: tuple[str, ...] = ("namespace", "pod")
"""Kinds without which no container can exist; their plugins cannot be blocked."""

CONTAINER_KINDS: tuple[str, ...] = ("status", "pod", "service", "ingress")
"""Kinds whose objects make up a container's view inside its namespace (the namespace is its
"network"): get, list and watch look them up, and its status comes from them."""

DELETED_KINDS: tuple[str, ...] = EXPOSURE_CHAIN[1:]
"""Kinds that delete looks up by the container's id and removes: its view and its
NetworkPolicy, which says nothing about the container's state and so is not part of the view
(no call of get, list or watch is spent on it)."""


def check_declarations(declared: Mapping[str, ResourceKind]) -> None:
    """Refuse declarations that do not fit the chain (unknown kinds, missing essentials)."""
    unknown = sorted(set(declared) - set(EXPOSURE_CHAIN))
    if unknown:
        raise InvalidConfiguration(
            f"plugins declare kinds outside the exposure chain {EXPOSURE_CHAIN}: {unknown}"
        )
    missing = [kind for kind in ESSENTIAL_KINDS if kind not in declared]
    if missing:
        raise InvalidConfiguration(f"no plugin provides the essential kinds {missing}")


def kinds_for_level(level: ExposureLevel, declared: Mapping[str, ResourceKind]) -> tuple[str, ...]:
    """The kinds to create for ``level``, in chain order.

    A kind applies when its declared ``min_level`` is at most ``level``. A kind of the chain that
    no plugin declares (its plugin blocked) is skipped.
    """
    return tuple(
        kind for kind in EXPOSURE_CHAIN if kind in declared and declared[kind].min_level <= level
    )


def missing_kinds_for_level(
    level: ExposureLevel,
    expected: Mapping[str, ExposureLevel],
    declared: Mapping[str, ResourceKind],
) -> tuple[str, ...]:
    """Kinds that ``level`` needs (by ``expected`` minimum levels) but no plugin provides."""
    return tuple(
        kind
        for kind in EXPOSURE_CHAIN
        if kind not in declared and kind in expected and expected[kind] <= level
    )


# What each kind of the chain is for, by the design (design.md section 1). Used to report a
# blocked plugin clearly instead of silently creating less than was asked for.
DESIGN_MIN_LEVELS: dict[str, ExposureLevel] = {
    "namespace": ExposureLevel.INTERNAL,
    "pod": ExposureLevel.INTERNAL,
    "service": ExposureLevel.CLUSTER_LOCAL,
    "ingress": ExposureLevel.EXPOSED,
}


def delete_order(kinds: tuple[str, ...]) -> tuple[str, ...]:
    """``kinds`` in reverse chain order (for delete and rollback)."""
    return tuple(kind for kind in reversed(EXPOSURE_CHAIN) if kind in kinds)
