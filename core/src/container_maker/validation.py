"""Validation of requests before anything touches the cluster, and resource resolution.

Every failure is an :class:`~container_maker.errors.InvalidArgument` naming the request field
(``publish_information[1].node_port``, ``resource_requirements.cpu_request``, ...). All functions
here are pure.
"""

from __future__ import annotations

import re
import uuid
from decimal import Decimal

from .errors import InvalidArgument
from .identity import MAX_NAME_LENGTH
from .models import ContainerResources, ContainerSpec, ExposureLevel, ResourceRequirements
from .quantity import parse_quantity
from .settings import Settings

DNS1123_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
DNS1035_LABEL = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")
# Kubernetes' rule for environment variable names (printable, no "=", not starting with digit).
ENV_NAME = re.compile(r"^[-._a-zA-Z][-._a-zA-Z0-9]*$")

# An OCI/Docker image reference: [registry[:port]/]path[:tag][@algorithm:digest].
_PATH_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_HOST_LABEL = r"[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?"
_REGISTRY = rf"(?:{_HOST_LABEL}(?:\.{_HOST_LABEL})*(?::[0-9]+)?|\[[0-9a-fA-F:]+\](?::[0-9]+)?)"
_TAG = r"[\w][\w.-]{0,127}"
_DIGEST = r"[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}"
IMAGE_REFERENCE = re.compile(
    rf"^(?:{_REGISTRY}/)?{_PATH_COMPONENT}(?:/{_PATH_COMPONENT})*(?::{_TAG})?(?:@{_DIGEST})?$"
)
MAX_IMAGE_REFERENCE_LENGTH = 255 * 2

PROTOCOLS = ("TCP", "UDP", "SCTP")

# (request field, limit field) pairs of ResourceRequirements, checked as request <= limit.
RESOURCE_PAIRS: tuple[tuple[str, str], ...] = (
    ("cpu_request", "cpu_limit"),
    ("memory_request", "memory_limit"),
    ("ephemeral_request", "ephemeral_limit"),
)


def protocol_of(protocol: str) -> str:
    """The normalised protocol name ("" means TCP; case does not matter)."""
    return protocol.upper() or "TCP"


def validate_namespace_name(value: str, field: str = "network_name") -> None:
    """A namespace name: a DNS-1123 label of at most 63 characters."""
    if not value:
        raise InvalidArgument(field, "must not be empty")
    if len(value) > 63:
        raise InvalidArgument(field, f"must be at most 63 characters, got {len(value)}")
    if not DNS1123_LABEL.match(value):
        raise InvalidArgument(
            field,
            f"{value!r} must be lowercase letters, digits and '-', starting and ending "
            "with a letter or digit (DNS-1123 label)",
        )


def validate_container_id(value: str, field: str = "container_id") -> None:
    """A container id: a UUID as Container Maker generates them."""
    try:
        parsed = uuid.UUID(value)
    except ValueError as e:
        raise InvalidArgument(field, f"{value!r} is not a container id (a UUID)") from e
    if str(parsed) != value:
        raise InvalidArgument(field, f"{value!r} is not a container id in canonical UUID form")


def _validate_container_name(value: str, max_length: int) -> None:
    field = "container_name"
    if not value:
        raise InvalidArgument(field, "must not be empty")
    if len(value) > max_length:
        raise InvalidArgument(
            field,
            f"must be at most {max_length} characters (Kubernetes names are limited to 63 "
            f"and the names of a container's objects add a suffix), got {len(value)}",
        )
    if not DNS1035_LABEL.match(value):
        raise InvalidArgument(
            field,
            f"{value!r} must be lowercase letters, digits and '-', start with a letter and "
            "end with a letter or digit (DNS-1035 label)",
        )


def _validate_image(value: str) -> None:
    field = "image_name"
    if not value:
        raise InvalidArgument(field, "must not be empty")
    if len(value) > MAX_IMAGE_REFERENCE_LENGTH:
        raise InvalidArgument(field, f"is too long ({len(value)} characters)")
    if not IMAGE_REFERENCE.match(value):
        raise InvalidArgument(
            field, f"{value!r} is not an image reference like registry:5000/name/image:tag"
        )


DOCKER_HUB = "docker.io"
# Names under which Docker Hub is also known; containerd resolves them all to docker.io.
_DOCKER_HUB_ALIASES = frozenset({"docker.io", "index.docker.io", "registry-1.docker.io"})


def image_registry_and_path(image: str) -> tuple[str, str]:
    """The registry host (``host[:port]``, lowercase) and repository path of an image reference,
    as container runtimes resolve it: a first component with a ``.`` or ``:``, or
    ``localhost``, is a registry; otherwise the image is on Docker Hub, and a one-component
    name is under ``library/`` (``nginx:1.27`` is ``docker.io/library/nginx``)."""
    name = image.split("@", 1)[0]
    first, slash, rest = name.partition("/")
    if slash and ("." in first or ":" in first or first == "localhost" or first.startswith("[")):
        host, path = first.lower(), rest
    else:
        host, path = DOCKER_HUB, name
    if host in _DOCKER_HUB_ALIASES:
        host = DOCKER_HUB
        if "/" not in path.rsplit(":", 1)[0]:
            path = f"library/{path}"
    tail = path.rsplit("/", 1)
    tail[-1] = tail[-1].split(":", 1)[0]  # the tag
    return host, "/".join(tail)


def _registry_allows(entry: str, host: str, path: str) -> bool:
    allowed_host, _, prefix = entry.partition("/")
    allowed_host = allowed_host.lower()
    if allowed_host in _DOCKER_HUB_ALIASES:
        allowed_host = DOCKER_HUB
    if allowed_host != host:
        return False
    return not prefix or path == prefix or path.startswith(prefix + "/")


def validate_image_registry(image: str, settings: Settings) -> None:
    """``image`` must come from one of ``settings.image_registries`` (or the registry that saved
    images go to, so a saved container can be created again); an empty list allows any.

    A registry entry matches its host and port exactly (``reg.example`` does not allow
    ``reg.example:5000``) and, with a path, whole path components only (``reg.example/team``
    allows ``reg.example/team/app``, not ``reg.example/teams/app``).
    """
    if not settings.image_registries:
        return
    allowed = settings.image_registries + ((settings.registry,) if settings.registry else ())
    host, path = image_registry_and_path(image)
    if any(_registry_allows(entry, host, path) for entry in allowed):
        return
    raise InvalidArgument(
        "image_name",
        f"{image!r} is from registry {host!r} ({host}/{path}), which this server does not "
        f"pull from; allowed registries: {', '.join(allowed)}",
    )


def _validate_exposure(value: int) -> ExposureLevel:
    field = "exposure_level"
    valid = [level for level in ExposureLevel if level != ExposureLevel.UNSPECIFIED]
    if value == ExposureLevel.UNSPECIFIED:
        raise InvalidArgument(field, "must be given (UNSPECIFIED is not a level)")
    if value not in {int(level) for level in valid}:
        raise InvalidArgument(
            field,
            f"unknown exposure level {value}; expected one of "
            + ", ".join(f"{level.name}={int(level)}" for level in valid),
        )
    return ExposureLevel(value)


def _validate_ports(spec: ContainerSpec, level: ExposureLevel, settings: Settings) -> None:
    publish_seen: dict[tuple[int, str], int] = {}
    target_seen: dict[tuple[int, str], int] = {}
    node_seen: dict[int, int] = {}
    for index, info in enumerate(spec.publish_information):
        prefix = f"publish_information[{index}]"
        for name, port in (("publish_port", info.publish_port), ("target_port", info.target_port)):
            if not 1 <= port <= 65535:
                raise InvalidArgument(f"{prefix}.{name}", f"{port} is not a port (1-65535)")
        protocol = protocol_of(info.protocol)
        if protocol not in PROTOCOLS:
            raise InvalidArgument(
                f"{prefix}.protocol", f"{info.protocol!r} is not one of {', '.join(PROTOCOLS)}"
            )
        key = (info.publish_port, protocol)
        if key in publish_seen:
            raise InvalidArgument(
                f"{prefix}.publish_port",
                f"{info.publish_port}/{protocol} is already published by "
                f"publish_information[{publish_seen[key]}]",
            )
        publish_seen[key] = index
        key = (info.target_port, protocol)
        if key in target_seen:
            raise InvalidArgument(
                f"{prefix}.target_port",
                f"{info.target_port}/{protocol} is already the target of "
                f"publish_information[{target_seen[key]}]",
            )
        target_seen[key] = index
        if info.node_port is not None:
            field = f"{prefix}.node_port"
            if level < ExposureLevel.CLUSTER_EXTERNAL:
                raise InvalidArgument(
                    field, f"node ports need exposure CLUSTER_EXTERNAL or EXPOSED, not {level.name}"
                )
            if not settings.node_port_min <= info.node_port <= settings.node_port_max:
                raise InvalidArgument(
                    field,
                    f"{info.node_port} is outside the node port range "
                    f"{settings.node_port_min}-{settings.node_port_max}",
                )
            if info.node_port in node_seen:
                raise InvalidArgument(
                    field,
                    f"{info.node_port} is already used by "
                    f"publish_information[{node_seen[info.node_port]}]",
                )
            node_seen[info.node_port] = index
    if level >= ExposureLevel.CLUSTER_LOCAL and not spec.publish_information:
        raise InvalidArgument(
            "publish_information", f"exposure {level.name} needs at least one port to publish"
        )
    if level >= ExposureLevel.EXPOSED and not any(
        protocol_of(i.protocol) == "TCP" for i in spec.publish_information
    ):
        raise InvalidArgument(
            "publish_information", "exposure EXPOSED needs at least one TCP port (Ingress is HTTP)"
        )


def _validate_environment(spec: ContainerSpec) -> None:
    for name in spec.environment_variables:
        if not ENV_NAME.match(name):
            raise InvalidArgument(
                f"environment_variables[{name!r}]",
                "is not a valid variable name (letters, digits, '_', '-', '.'; not starting "
                "with a digit)",
            )


def resolve_resources(
    requested: ResourceRequirements | None, defaults: ContainerResources
) -> ContainerResources:
    """The user container's resources: the request's values over the defaults, checked.

    When a request gives only one side of a pair and it crosses the default of the other side
    (a memory request of 2Gi with the 1Gi default limit), the other side follows it instead of
    failing: the caller asked for that much. When both sides are given, request <= limit must
    hold. Raises InvalidArgument naming ``resource_requirements.<field>``.
    """
    given = requested or ResourceRequirements()
    values: dict[str, str] = {}
    parsed: dict[str, Decimal] = {}
    for field in ContainerResources.model_fields:
        value = getattr(given, field)
        if value is not None:
            try:
                parsed[field] = parse_quantity(value)
            except ValueError as e:
                raise InvalidArgument(f"resource_requirements.{field}", str(e)) from e
            if parsed[field] == 0 and field.endswith("_limit"):
                raise InvalidArgument(f"resource_requirements.{field}", "must be more than 0")
            values[field] = value
    for request_field, limit_field in RESOURCE_PAIRS:
        request = values.get(request_field)
        limit = values.get(limit_field)
        if request is not None and limit is not None:
            if parsed[request_field] > parsed[limit_field]:
                raise InvalidArgument(
                    f"resource_requirements.{request_field}",
                    f"{request} is more than {limit_field} {limit}",
                )
        elif request is not None:
            default_limit = getattr(defaults, limit_field)
            if default_limit and parsed[request_field] > parse_quantity(default_limit):
                values[limit_field] = request
        elif limit is not None:
            default_request = getattr(defaults, request_field)
            if default_request and parse_quantity(default_request) > parsed[limit_field]:
                values[request_field] = limit
    merged = defaults.model_dump()
    merged.update(values)
    return ContainerResources.model_validate(merged)


# -- Ceilings: what one request may cost (the "Limits and quotas" settings) ------------------


def _size(count: int) -> str:
    """``count`` bytes for a message: "32768 bytes (32 KiB)"."""
    return f"{count} bytes ({count / 1024:g} KiB)" if count >= 1024 else f"{count} bytes"


def validate_ceilings(spec: ContainerSpec, settings: Settings) -> None:
    """Refuse a request over the server's per-container ceilings: number of ports, node ports
    when the operator does not allow them, environment size in total and per value.

    Checked before the ports and variables themselves, so that an oversized request is
    refused for its size, whatever else is wrong in it.
    """
    count = len(spec.publish_information)
    if count > settings.max_ports:
        raise InvalidArgument(
            "publish_information",
            f"{count} ports, more than the {settings.max_ports} this server allows per "
            "container (max_ports)",
        )
    if not settings.allow_node_ports:
        for index, info in enumerate(spec.publish_information):
            if info.node_port is not None:
                raise InvalidArgument(
                    f"publish_information[{index}].node_port",
                    "the operator of this server does not allow choosing node ports "
                    "(allow_node_ports is off); leave node_port unset",
                )
    total = sum(
        len(name.encode()) + len(value.encode())
        for name, value in spec.environment_variables.items()
    )
    if total > settings.max_environment_bytes:
        raise InvalidArgument(
            "environment_variables",
            f"{_size(total)} of names and values, more than the "
            f"{_size(settings.max_environment_bytes)} this server allows per container "
            "(max_environment_bytes)",
        )
    for name, value in spec.environment_variables.items():
        size = len(value.encode())
        if size > settings.max_environment_value_bytes:
            raise InvalidArgument(
                f"environment_variables[{name!r}]",
                f"the value is {_size(size)}, more than the "
                f"{_size(settings.max_environment_value_bytes)} this server allows per value "
                "(max_environment_value_bytes)",
            )


def _partner(field: str) -> str | None:
    """The other side of a request/limit pair ("cpu_request" <-> "cpu_limit")."""
    for request_field, limit_field in RESOURCE_PAIRS:
        if field == request_field:
            return limit_field
        if field == limit_field:
            return request_field
    return None


def check_resource_bounds(
    requested: ResourceRequirements | None, resources: ContainerResources, settings: Settings
) -> None:
    """Refuse resolved ``resources`` outside ``settings.min_resources``/``max_resources``.

    The error names the field the caller gave: the field itself, or the other side of its pair
    when that one moved this one (a request of 8 CPU alone raises the limit to 8).
    """
    given = requested or ResourceRequirements()
    for field in ContainerResources.model_fields:
        text = getattr(resources, field)
        if not text:
            continue
        value = parse_quantity(text)
        low = getattr(settings.min_resources, field)
        high = getattr(settings.max_resources, field)
        if high and value > parse_quantity(high):
            problem = f"more than the {high} this server allows (max_resources.{field})"
        elif low and value < parse_quantity(low):
            problem = f"less than the {low} this server requires (min_resources.{field})"
        else:
            continue
        partner = _partner(field)
        if getattr(given, field) is None and partner and getattr(given, partner) is not None:
            raise InvalidArgument(
                f"resource_requirements.{partner}",
                f"{getattr(given, partner)} makes {field} {text}, {problem}",
            )
        raise InvalidArgument(f"resource_requirements.{field}", f"{text} is {problem}")


def validate_spec(
    spec: ContainerSpec, settings: Settings, *, max_name_length: int = MAX_NAME_LENGTH
) -> ContainerResources:
    """Check a create request; return the user container's resolved resources.

    ``max_name_length`` is the longest container name whose objects' names stay valid (the
    manager's registry knows the suffixes its plugins declared; the default is the built-in
    kinds').

    Checks, in order: exposure level, network (namespace) name, container name, image reference,
    the image's registry, the per-container ceilings (port count, node ports, environment size),
    ports, environment variable names, resource quantities and their bounds.
    """
    level = _validate_exposure(spec.exposure_level)
    validate_namespace_name(spec.network_name)
    _validate_container_name(spec.container_name, max_name_length)
    _validate_image(spec.image_name)
    validate_image_registry(spec.image_name, settings)
    validate_ceilings(spec, settings)
    _validate_ports(spec, level, settings)
    _validate_environment(spec)
    resources = resolve_resources(spec.resource_requirements, settings.default_resources)
    check_resource_bounds(spec.resource_requirements, resources, settings)
    return resources
