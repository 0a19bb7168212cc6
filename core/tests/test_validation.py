"""Validation of create requests: every rule, each naming the offending field (pure)."""

from __future__ import annotations

import re
from typing import Any

import pytest

from container_maker.errors import InvalidArgument, StatusCode
from container_maker.models import (
    ContainerResources,
    ContainerSpec,
    ExposureLevel,
    PublishInformation,
    ResourceRequirements,
)
from container_maker.settings import DEFAULT_RESOURCES, Settings
from container_maker.validation import (
    resolve_resources,
    validate_container_id,
    validate_namespace_name,
    validate_spec,
)

SETTINGS = Settings()
# The rules on node_port values apply only where the operator allows node ports at all.
NODE_PORTS_ALLOWED = Settings(allow_node_ports=True)


def make_spec(**changes: Any) -> ContainerSpec:
    values: dict[str, Any] = {
        "image_name": "nginx:1.27",
        "container_name": "web",
        "network_name": "team-a",
        "exposure_level": int(ExposureLevel.CLUSTER_EXTERNAL),
        "publish_information": (PublishInformation(publish_port=80, target_port=8080),),
    }
    values.update(changes)
    return ContainerSpec(**values)


def ports(*infos: tuple[int, int, str, int | None]) -> tuple[PublishInformation, ...]:
    return tuple(
        PublishInformation(publish_port=p, target_port=t, protocol=proto, node_port=n)
        for p, t, proto, n in infos
    )


INVALID: list[tuple[str, dict[str, Any], str]] = [
    # (case, changes to a valid spec, field named by the error)
    ("exposure unspecified", {"exposure_level": 0}, "exposure_level"),
    ("exposure unknown", {"exposure_level": 7}, "exposure_level"),
    ("exposure negative", {"exposure_level": -1}, "exposure_level"),
    ("network empty", {"network_name": ""}, "network_name"),
    ("network uppercase", {"network_name": "Team-A"}, "network_name"),
    ("network too long", {"network_name": "n" * 64}, "network_name"),
    ("network underscore", {"network_name": "team_a"}, "network_name"),
    ("network trailing dash", {"network_name": "team-"}, "network_name"),
    ("name empty", {"container_name": ""}, "container_name"),
    ("name uppercase", {"container_name": "Web"}, "container_name"),
    ("name starts with digit", {"container_name": "1web"}, "container_name"),
    ("name with dot", {"container_name": "web.app"}, "container_name"),
    ("name too long after suffix", {"container_name": "w" * 60}, "container_name"),
    ("name 300 characters", {"container_name": "w" * 300}, "container_name"),
    ("image empty", {"image_name": ""}, "image_name"),
    ("image with space", {"image_name": "nginx latest"}, "image_name"),
    ("image uppercase repository", {"image_name": "Nginx:1"}, "image_name"),
    ("image bad digest", {"image_name": "nginx@sha256:xyz"}, "image_name"),
    ("image double colon tag", {"image_name": "nginx::1"}, "image_name"),
    (
        "publish port 0",
        {"publish_information": ports((0, 80, "TCP", None))},
        "publish_information[0].publish_port",
    ),
    (
        "publish port 70000",
        {"publish_information": ports((70000, 80, "TCP", None))},
        "publish_information[0].publish_port",
    ),
    (
        "target port 0",
        {"publish_information": ports((80, 0, "TCP", None))},
        "publish_information[0].target_port",
    ),
    (
        "target port 65536",
        {"publish_information": ports((80, 65536, "", None))},
        "publish_information[0].target_port",
    ),
    (
        "protocol unknown",
        {"publish_information": ports((80, 80, "HTTP", None))},
        "publish_information[0].protocol",
    ),
    (
        "duplicate publish port",
        {"publish_information": ports((80, 8080, "TCP", None), (80, 8081, "", None))},
        "publish_information[1].publish_port",
    ),
    (
        "duplicate target port",
        {"publish_information": ports((80, 8080, "TCP", None), (81, 8080, "tcp", None))},
        "publish_information[1].target_port",
    ),
    (
        "node port below range",
        {"publish_information": ports((80, 8080, "TCP", 80))},
        "publish_information[0].node_port",
    ),
    (
        "node port above range",
        {"publish_information": ports((80, 8080, "TCP", 40000))},
        "publish_information[0].node_port",
    ),
    (
        "node port with ClusterIP",
        {
            "exposure_level": int(ExposureLevel.CLUSTER_LOCAL),
            "publish_information": ports((80, 8080, "TCP", 30080)),
        },
        "publish_information[0].node_port",
    ),
    (
        "node port at INTERNAL",
        {
            "exposure_level": int(ExposureLevel.INTERNAL),
            "publish_information": ports((80, 8080, "TCP", 30080)),
        },
        "publish_information[0].node_port",
    ),
    (
        "duplicate node port",
        {"publish_information": ports((80, 8080, "TCP", 30080), (81, 8081, "TCP", 30080))},
        "publish_information[1].node_port",
    ),
    (
        "service level without ports",
        {"exposure_level": int(ExposureLevel.CLUSTER_LOCAL), "publish_information": ()},
        "publish_information",
    ),
    (
        "exposed without TCP port",
        {
            "exposure_level": int(ExposureLevel.EXPOSED),
            "publish_information": ports((53, 53, "UDP", None)),
        },
        "publish_information",
    ),
    ("env name with =", {"environment_variables": {"A=B": "x"}}, "environment_variables['A=B']"),
    ("env name empty", {"environment_variables": {"": "x"}}, "environment_variables['']"),
    ("env name digit first", {"environment_variables": {"1A": "x"}}, "environment_variables['1A']"),
    (
        "cpu unparseable",
        {"resource_requirements": ResourceRequirements(cpu_request="lots")},
        "resource_requirements.cpu_request",
    ),
    (
        "memory negative",
        {"resource_requirements": ResourceRequirements(memory_limit="-1Gi")},
        "resource_requirements.memory_limit",
    ),
    (
        "memory bad suffix",
        {"resource_requirements": ResourceRequirements(memory_request="1GB")},
        "resource_requirements.memory_request",
    ),
    (
        "cpu request above limit",
        {"resource_requirements": ResourceRequirements(cpu_request="2", cpu_limit="500m")},
        "resource_requirements.cpu_request",
    ),
    (
        "memory request above limit",
        {"resource_requirements": ResourceRequirements(memory_request="2Gi", memory_limit="1Gi")},
        "resource_requirements.memory_request",
    ),
    (
        "ephemeral request above limit",
        {
            "resource_requirements": ResourceRequirements(
                ephemeral_request="2Gi", ephemeral_limit="1Mi"
            )
        },
        "resource_requirements.ephemeral_request",
    ),
    (
        "zero limit",
        {"resource_requirements": ResourceRequirements(cpu_limit="0")},
        "resource_requirements.cpu_limit",
    ),
    (
        "snapshot size unparseable",
        {"resource_requirements": ResourceRequirements(snapshot_size_limit="big")},
        "resource_requirements.snapshot_size_limit",
    ),
]


@pytest.mark.parametrize(
    ("changes", "field"), [c[1:] for c in INVALID], ids=[c[0] for c in INVALID]
)
def test_invalid_spec_names_the_field(changes: dict[str, Any], field: str) -> None:
    with pytest.raises(InvalidArgument) as info:
        validate_spec(make_spec(**changes), NODE_PORTS_ALLOWED)
    assert info.value.field == field
    assert info.value.code is StatusCode.INVALID_ARGUMENT
    assert field in str(info.value)


VALID: list[tuple[str, dict[str, Any]]] = [
    ("defaults", {}),
    ("internal without ports", {"exposure_level": 1, "publish_information": ()}),
    ("cluster local", {"exposure_level": 2}),
    ("exposed with udp and tcp", {
        "exposure_level": 4,
        "publish_information": ports((80, 8080, "TCP", None), (53, 53, "UDP", None)),
    }),
    ("same port number, other protocol", {
        "publish_information": ports((53, 53, "TCP", None), (53, 53, "UDP", None)),
    }),
    ("lowercase protocol", {"publish_information": ports((80, 8080, "tcp", None))}),
    ("sctp", {"publish_information": ports((80, 8080, "SCTP", None))}),
    ("node port in range", {"publish_information": ports((80, 8080, "TCP", 30080))}),
    ("name of 59 characters", {"container_name": "w" * 59}),
    ("namespace of 63 characters", {"network_name": "n" * 63}),
    ("registry with port and digest", {
        "image_name": "localhost:5000/team/app:v1.2@sha256:" + "a" * 64,
    }),
    ("nested repository", {"image_name": "registry.example.org/a/b/c"}),
    ("env names", {"environment_variables": {"PATH": "/bin", "my.var-1": "x", "_X": ""}}),
    ("all resources", {"resource_requirements": ResourceRequirements(
        cpu_request="250m", cpu_limit="2", memory_request="128Mi", memory_limit="512Mi",
        ephemeral_request="1Gi", ephemeral_limit="2Gi", snapshot_size_limit="5Gi",
    )}),
]  # fmt: skip


@pytest.mark.parametrize("changes", [c[1] for c in VALID], ids=[c[0] for c in VALID])
def test_valid_spec_passes(changes: dict[str, Any]) -> None:
    resources = validate_spec(make_spec(**changes), NODE_PORTS_ALLOWED)
    assert isinstance(resources, ContainerResources)


def test_defaults_come_from_the_design() -> None:
    assert validate_spec(make_spec(), SETTINGS) == ContainerResources(
        cpu_request="100m",
        cpu_limit="1",
        memory_request="256Mi",
        memory_limit="1Gi",
        ephemeral_request="512Mi",
        ephemeral_limit="1Gi",
        snapshot_size_limit="2Gi",
    )


def test_request_above_default_limit_raises_the_limit() -> None:
    resolved = resolve_resources(ResourceRequirements(memory_request="2Gi"), DEFAULT_RESOURCES)
    assert (resolved.memory_request, resolved.memory_limit) == ("2Gi", "2Gi")


def test_limit_below_default_request_lowers_the_request() -> None:
    resolved = resolve_resources(ResourceRequirements(cpu_limit="50m"), DEFAULT_RESOURCES)
    assert (resolved.cpu_request, resolved.cpu_limit) == ("50m", "50m")


def test_overrides_keep_other_defaults() -> None:
    resolved = resolve_resources(
        ResourceRequirements(cpu_limit="2", snapshot_size_limit="10Gi"), DEFAULT_RESOURCES
    )
    assert resolved.cpu_limit == "2"
    assert resolved.cpu_request == "100m"
    assert resolved.snapshot_size_limit == "10Gi"
    assert resolved.memory_limit == "1Gi"


@pytest.mark.parametrize("value", ["", "Ns", "a" * 64, "-a", "a_b"])
def test_namespace_names_rejected(value: str) -> None:
    with pytest.raises(InvalidArgument) as info:
        validate_namespace_name(value)
    assert info.value.field == "network_name"


@pytest.mark.parametrize(
    "value", ["", "x", "1234", "7D444840-9DC0-11D1-B245-5FFDCE74FAD2", "{7d444840-9dc0-11d1-b245}"]
)
def test_container_ids_rejected(value: str) -> None:
    with pytest.raises(InvalidArgument) as info:
        validate_container_id(value)
    assert info.value.field == "container_id"


def test_container_id_accepted() -> None:
    validate_container_id("7d444840-9dc0-11d1-b245-5ffdce74fad2")


# -- Ceilings ("Limits and quotas" settings) -----------------------------------------------


def many_ports(count: int) -> tuple[PublishInformation, ...]:
    return tuple(PublishInformation(publish_port=p, target_port=p) for p in range(1, count + 1))


def refusal(spec: ContainerSpec, settings: Settings = SETTINGS) -> InvalidArgument:
    with pytest.raises(InvalidArgument) as info:
        validate_spec(spec, settings)
    assert info.value.code is StatusCode.INVALID_ARGUMENT
    return info.value


def resources(**given: str) -> dict[str, Any]:
    return {"resource_requirements": ResourceRequirements(**given)}


CEILINGS: list[tuple[str, dict[str, Any], str, str]] = [
    # (case, changes to a valid spec, field named, text naming the limit)
    ("17 ports", {"publish_information": many_ports(17)}, "publish_information", "16"),
    ("2,800 ports", {"publish_information": many_ports(2800)}, "publish_information", "16"),
    ("40 KiB of environment", {"environment_variables": {f"V{i}": "x" * 4094 for i in range(10)}},
     "environment_variables", "32768 bytes (32 KiB)"),
    ("one 9000-byte value", {"environment_variables": {"BIG": "x" * 9000}},
     "environment_variables['BIG']", "8192 bytes (8 KiB)"),
    ("multi-byte characters count as bytes", {"environment_variables": {"U": "é" * 4097}},
     "environment_variables['U']", "8192"),
    ("cpu_limit 1000", resources(cpu_limit="1000"), "resource_requirements.cpu_limit", "4"),
    ("memory_limit 1e100", resources(memory_limit="1e100"),
     "resource_requirements.memory_limit", "8Gi"),
    ("memory_limit 1Ei", resources(memory_limit="1Ei"),
     "resource_requirements.memory_limit", "8Gi"),
    ("ephemeral_limit 100Ti", resources(ephemeral_limit="100Ti"),
     "resource_requirements.ephemeral_limit", "10Gi"),
    ("snapshot_size_limit 1Ti", resources(snapshot_size_limit="1Ti"),
     "resource_requirements.snapshot_size_limit", "10Gi"),
    ("cpu_request 0", resources(cpu_request="0"), "resource_requirements.cpu_request", "10m"),
    ("cpu_request below a millicore", resources(cpu_request="0.0001"),
     "resource_requirements.cpu_request", "10m"),
    ("memory_request 1", resources(memory_request="1"),
     "resource_requirements.memory_request", "16Mi"),
    ("ephemeral_request 1Ki", resources(ephemeral_request="1Ki"),
     "resource_requirements.ephemeral_request", "16Mi"),
    # A request alone raises its limit; the request is named, at the request's maximum.
    ("cpu_request 10000 alone", resources(cpu_request="10000"),
     "resource_requirements.cpu_request", "4"),
    # A limit alone lowers the default request below the minimum: the limit is named.
    ("cpu_limit 5m alone", resources(cpu_limit="5m"), "resource_requirements.cpu_limit", "10m"),
    ("malformed quantity", resources(memory_limit="lots"),
     "resource_requirements.memory_limit", "quantity"),
    ("negative quantity", resources(cpu_request="-1"),
     "resource_requirements.cpu_request", "quantity"),
    ("node port not allowed", {"publish_information": ports((80, 8080, "TCP", 30080))},
     "publish_information[0].node_port", "does not allow"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("changes", "field", "limit"), [c[1:] for c in CEILINGS], ids=[c[0] for c in CEILINGS]
)
def test_ceiling_violations_name_the_field_and_the_limit(
    changes: dict[str, Any], field: str, limit: str
) -> None:
    error = refusal(make_spec(**changes))
    assert error.field == field
    assert limit in error.reason, error.reason


def test_at_the_ceilings_passes() -> None:
    spec = make_spec(
        publish_information=many_ports(16),
        # 32 KiB exactly: 4 names of 2 bytes plus values of 8190 bytes.
        environment_variables={f"V{i}": "x" * 8190 for i in range(4)},
        resource_requirements=ResourceRequirements(
            cpu_request="10m",
            cpu_limit="4",
            memory_request="16Mi",
            memory_limit="8Gi",
            ephemeral_request="16Mi",
            ephemeral_limit="10Gi",
            snapshot_size_limit="10Gi",
        ),
    )
    assert validate_spec(spec, SETTINGS).cpu_limit == "4"


def test_the_design_defaults_pass_the_default_bounds() -> None:
    assert validate_spec(make_spec(), SETTINGS) == DEFAULT_RESOURCES


def test_oversized_request_is_refused_for_its_size_first() -> None:
    """2,800 ports that are also duplicates and node ports: the count is what is named."""
    infos = tuple(
        PublishInformation(publish_port=80, target_port=80, node_port=30000) for _ in range(2800)
    )
    assert refusal(make_spec(publish_information=infos)).field == "publish_information"


def test_node_ports_when_the_operator_allows_them() -> None:
    spec = make_spec(publish_information=ports((80, 8080, "TCP", 30080)))
    validate_spec(spec, NODE_PORTS_ALLOWED)


def test_operator_ceilings_apply() -> None:
    settings = Settings(
        max_ports=2,
        max_environment_bytes=10,
        max_resources=DEFAULT_RESOURCES.model_copy(update={"cpu_limit": "2", "cpu_request": "1"}),
    )
    assert refusal(make_spec(publish_information=many_ports(3)), settings).reason.startswith(
        "3 ports, more than the 2"
    )
    env = {"environment_variables": {"ABCDE": "123456"}}
    assert "10 bytes" in refusal(make_spec(**env), settings).reason
    error = refusal(make_spec(**resources(cpu_limit="3")), settings)
    assert "max_resources.cpu_limit" in error.reason
    # A snapshot of the default 2Gi is at this operator's maximum, so it passes.
    assert validate_spec(make_spec(), settings).snapshot_size_limit == "2Gi"


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        (
            {"min_resources": ContainerResources(cpu_request="200m")},
            "default_resources.cpu_request",
        ),
        (
            {"max_resources": DEFAULT_RESOURCES.model_copy(update={"memory_limit": "512Mi"})},
            "default_resources.memory_limit",
        ),
        (
            {"max_resources": DEFAULT_RESOURCES.model_copy(update={"cpu_request": "2"})},
            "max_resources.cpu_request must not exceed max_resources.cpu_limit",
        ),
        ({"max_resources": ContainerResources(cpu_limit="lots")}, "max_resources.cpu_limit"),
        ({"namespace_quota": {"count/pods": "many"}}, "namespace_quota.count/pods"),
    ],
)
def test_inconsistent_bounds_are_refused_at_startup(changes: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        Settings(**changes)
