"""The .proto files keep the published container-maker-spec's wire contract, and the committed
generated code is exactly what the pinned generator makes from them.

The expected names, types and numbers below are transcribed from ``shared/api-compat.md``; a
change here is a change of the wire contract and must not happen (extensions get new numbers).
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from google.protobuf.descriptor import Descriptor, FieldDescriptor

from container_maker._proto import service_pb2, types_pb2

ROOT = Path(__file__).resolve().parents[2]

T = FieldDescriptor
STRING, INT32, ENUM, MESSAGE = T.TYPE_STRING, T.TYPE_INT32, T.TYPE_ENUM, T.TYPE_MESSAGE
OPT, REP, PLAIN = "optional", "repeated", "plain"
RESOURCE_NAMES = [
    "cpu_request",
    "cpu_limit",
    "memory_request",
    "memory_limit",
    "ephemeral_request",
    "ephemeral_limit",
    "snapshot_size_limit",
]

# message -> [(field, number, type, cardinality, message or enum type name)]
SPEC: dict[str, list[tuple[str, int, int, str, str | None]]] = {
    "PublishInformation": [
        ("publish_port", 1, INT32, PLAIN, None),
        ("target_port", 2, INT32, PLAIN, None),
        ("protocol", 3, STRING, PLAIN, None),
        ("node_port", 4, INT32, OPT, None),
    ],
    "ResourceRequirements": [
        (name, i, STRING, OPT, None) for i, name in enumerate(RESOURCE_NAMES, 1)
    ],
    "CreateContainerRequest": [
        ("image_name", 1, STRING, PLAIN, None),
        ("container_name", 2, STRING, PLAIN, None),
        ("network_name", 3, STRING, PLAIN, None),
        ("exposure_level", 4, ENUM, PLAIN, "containermaker.ExposureLevel"),
        ("publish_information", 5, MESSAGE, REP, "containermaker.PublishInformation"),
        (
            "environment_variables",
            6,
            MESSAGE,
            REP,
            "containermaker.CreateContainerRequest.EnvironmentVariablesEntry",
        ),
        ("resource_requirements", 7, MESSAGE, OPT, "containermaker.ResourceRequirements"),
    ],
    "GetContainerRequest": [
        ("container_id", 1, STRING, PLAIN, None),
        ("network_name", 2, STRING, PLAIN, None),
    ],
    "DeleteContainerRequest": [
        ("container_id", 1, STRING, PLAIN, None),
        ("network_name", 2, STRING, PLAIN, None),
    ],
    "ListContainerRequest": [("network_name", 1, STRING, PLAIN, None)],
    "SaveContainerRequest": [
        ("container_id", 1, STRING, PLAIN, None),
        ("network_name", 2, STRING, PLAIN, None),
    ],
    "PortInformation": [
        ("name", 1, STRING, OPT, None),
        ("container_port", 2, INT32, PLAIN, None),
        ("protocol", 3, STRING, OPT, None),
    ],
    "ContainerResources": [
        (name, i, STRING, PLAIN, None) for i, name in enumerate(RESOURCE_NAMES, 1)
    ],
    "AssociatedResource": [
        ("resource_name", 1, STRING, PLAIN, None),
        ("resource_type", 2, STRING, PLAIN, None),
        ("container_resources", 3, MESSAGE, OPT, "containermaker.ContainerResources"),
        ("associated_resources", 4, MESSAGE, REP, "containermaker.AssociatedResource"),
    ],
    "ContainerResponse": [
        ("container_id", 1, STRING, PLAIN, None),
        ("container_name", 2, STRING, PLAIN, None),
        ("container_ip", 3, STRING, PLAIN, None),
        ("container_network", 4, STRING, PLAIN, None),
        ("ports", 5, MESSAGE, REP, "containermaker.PortInformation"),
        ("associated_resources", 6, MESSAGE, REP, "containermaker.AssociatedResource"),
    ],
    "ListContainerResponse": [
        ("containers", 1, MESSAGE, REP, "containermaker.ContainerResponse"),
    ],
    "DeleteContainerResponse": [
        ("container_id", 1, STRING, PLAIN, None),
        ("status", 2, STRING, PLAIN, None),
    ],
    "SavedPodResponse": [
        ("pod_name", 1, STRING, PLAIN, None),
        ("namespace_name", 2, STRING, PLAIN, None),
        ("image_name", 3, STRING, PLAIN, None),
    ],
    "SaveContainerResponse": [
        ("saved_pods", 1, MESSAGE, REP, "containermaker.SavedPodResponse"),
    ],
}

# Our extensions: new numbers only, never one of the spec's.
EXTENSIONS: dict[str, list[tuple[str, int, int, str, str | None]]] = {
    "ContainerResponse": [
        ("container_type", 7, STRING, PLAIN, None),
        ("exposure_level", 8, ENUM, PLAIN, "containermaker.ExposureLevel"),
        ("status", 9, MESSAGE, OPT, "containermaker.ContainerStatus"),
        ("published_ports", 10, MESSAGE, REP, "containermaker.PublishedPort"),
    ],
    "CreateContainerRequest": [("wait_until_ready", 8, T.TYPE_BOOL, PLAIN, None)],
}

# Messages that are ours alone (extensions); their numbers are fixed once published too.
OWN_MESSAGES: dict[str, list[tuple[str, int, int, str, str | None]]] = {
    "PublishedPort": [
        ("publish_port", 1, INT32, PLAIN, None),
        ("target_port", 2, INT32, PLAIN, None),
        ("protocol", 3, STRING, PLAIN, None),
        ("url", 4, STRING, PLAIN, None),
    ],
}

RPCS = {
    "listContainer": ("ListContainerRequest", "ListContainerResponse"),
    "createContainer": ("CreateContainerRequest", "ContainerResponse"),
    "getContainer": ("GetContainerRequest", "ContainerResponse"),
    "deleteContainer": ("DeleteContainerRequest", "DeleteContainerResponse"),
    "saveContainer": ("SaveContainerRequest", "SaveContainerResponse"),
}


def cardinality(field: FieldDescriptor) -> str:
    if field.is_repeated:
        return REP
    # proto3 `optional` fields track presence through a synthetic oneof.
    if field.has_presence and field.type != MESSAGE:
        return OPT
    if field.type == MESSAGE:
        # Message fields always have presence; the spec marks only some `optional`.
        return OPT
    return PLAIN


def describe(message: Descriptor) -> list[tuple[str, int, int, str, str | None]]:
    rows = []
    for field in message.fields:
        kind = field.message_type or field.enum_type
        rows.append(
            (field.name, field.number, field.type, cardinality(field), kind and kind.full_name)
        )
    return sorted(rows, key=lambda row: row[1])


def test_files_package_and_import() -> None:
    assert types_pb2.DESCRIPTOR.package == "containermaker"
    assert service_pb2.DESCRIPTOR.package == "containermaker"
    for path in (ROOT / "protos" / "containermaker").glob("*.proto"):
        assert 'syntax = "proto3";' in path.read_text()
    assert [d.name for d in service_pb2.DESCRIPTOR.dependencies] == ["containermaker/types.proto"]


@pytest.mark.parametrize("name", sorted(SPEC))
def test_message_matches_the_published_spec(name: str) -> None:
    message = types_pb2.DESCRIPTOR.message_types_by_name[name]
    expected = sorted(SPEC[name] + EXTENSIONS.get(name, []), key=lambda row: row[1])
    assert describe(message) == expected


@pytest.mark.parametrize("name", sorted(OWN_MESSAGES))
def test_own_message_keeps_its_numbers(name: str) -> None:
    message = types_pb2.DESCRIPTOR.message_types_by_name[name]
    assert describe(message) == OWN_MESSAGES[name]


def test_plain_spec_fields_have_no_presence() -> None:
    """Fields the spec declares without `optional` stay implicit-presence scalars."""
    for name, rows in SPEC.items():
        message = types_pb2.DESCRIPTOR.message_types_by_name[name]
        for field_name, _, field_type, card, _ in rows:
            field = message.fields_by_name[field_name]
            if card == PLAIN and field_type != MESSAGE:
                assert not field.has_presence, f"{name}.{field_name} must not be optional"
            if card == OPT and field_type != MESSAGE:
                assert field.has_presence, f"{name}.{field_name} must be optional"


def test_environment_variables_is_a_string_map() -> None:
    entry = types_pb2.CreateContainerRequest.DESCRIPTOR.fields_by_name[
        "environment_variables"
    ].message_type
    assert entry.GetOptions().map_entry
    assert [(f.name, f.type) for f in entry.fields] == [("key", STRING), ("value", STRING)]


def test_extensions_use_new_numbers() -> None:
    for name, rows in EXTENSIONS.items():
        spec_numbers = {row[1] for row in SPEC[name]}
        assert not spec_numbers & {row[1] for row in rows}


def test_exposure_level_enum() -> None:
    enum = types_pb2.DESCRIPTOR.enum_types_by_name["ExposureLevel"]
    assert [(v.name, v.number) for v in enum.values] == [
        ("EXPOSURE_LEVEL_UNSPECIFIED", 0),
        ("EXPOSURE_LEVEL_INTERNAL", 1),
        ("EXPOSURE_LEVEL_CLUSTER_LOCAL", 2),
        ("EXPOSURE_LEVEL_CLUSTER_EXTERNAL", 3),
        ("EXPOSURE_LEVEL_EXPOSED", 4),
    ]


def test_service_methods() -> None:
    service = service_pb2.DESCRIPTOR.services_by_name["ContainerMakerAPI"]
    assert service.full_name == "containermaker.ContainerMakerAPI"
    methods = {
        m.name: (m.input_type.name, m.output_type.name, m.client_streaming or m.server_streaming)
        for m in service.methods
    }
    assert methods == {
        **{name: (*types, False) for name, types in RPCS.items()},
        # Extension: a new, server-streaming method.
        "watchContainers": ("WatchContainersRequest", "ContainerEvent", True),
    }


def test_generated_code_is_up_to_date() -> None:
    """Regenerating with the pinned grpcio-tools changes nothing that is committed."""
    result = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "generate_protos.py"), "--check"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr


def test_drift_check_notices_an_edit(tmp_path: Path) -> None:
    """The drift check itself works: an edited copy of the generated package is reported."""
    copy = tmp_path / "_proto"
    shutil.copytree(ROOT / "core" / "src" / "container_maker" / "_proto", copy)
    edited = copy / "types_pb2.py"
    edited.write_text(edited.read_text() + "\n# edited by hand\n")
    result = subprocess.run(
        [
            sys.executable,
            str(ROOT / "scripts" / "generate_protos.py"),
            "--check",
            "--target",
            str(copy),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 1
    assert "types_pb2.py" in result.stderr
