import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class ExposureLevel(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    EXPOSURE_LEVEL_UNSPECIFIED: _ClassVar[ExposureLevel]
    EXPOSURE_LEVEL_INTERNAL: _ClassVar[ExposureLevel]
    EXPOSURE_LEVEL_CLUSTER_LOCAL: _ClassVar[ExposureLevel]
    EXPOSURE_LEVEL_CLUSTER_EXTERNAL: _ClassVar[ExposureLevel]
    EXPOSURE_LEVEL_EXPOSED: _ClassVar[ExposureLevel]

class ContainerEventType(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    CONTAINER_EVENT_TYPE_UNSPECIFIED: _ClassVar[ContainerEventType]
    CONTAINER_EVENT_TYPE_ADDED: _ClassVar[ContainerEventType]
    CONTAINER_EVENT_TYPE_MODIFIED: _ClassVar[ContainerEventType]
    CONTAINER_EVENT_TYPE_DELETED: _ClassVar[ContainerEventType]
    CONTAINER_EVENT_TYPE_SYNCED: _ClassVar[ContainerEventType]

class ContainerPhase(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    CONTAINER_PHASE_UNSPECIFIED: _ClassVar[ContainerPhase]
    CONTAINER_PHASE_PENDING: _ClassVar[ContainerPhase]
    CONTAINER_PHASE_STARTING: _ClassVar[ContainerPhase]
    CONTAINER_PHASE_RUNNING: _ClassVar[ContainerPhase]
    CONTAINER_PHASE_READY: _ClassVar[ContainerPhase]
    CONTAINER_PHASE_FAILED: _ClassVar[ContainerPhase]
    CONTAINER_PHASE_TERMINATING: _ClassVar[ContainerPhase]

class PortState(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    PORT_STATE_UNSPECIFIED: _ClassVar[PortState]
    PORT_STATE_UNKNOWN: _ClassVar[PortState]
    PORT_STATE_LISTENING: _ClassVar[PortState]
    PORT_STATE_NOT_LISTENING: _ClassVar[PortState]
EXPOSURE_LEVEL_UNSPECIFIED: ExposureLevel
EXPOSURE_LEVEL_INTERNAL: ExposureLevel
EXPOSURE_LEVEL_CLUSTER_LOCAL: ExposureLevel
EXPOSURE_LEVEL_CLUSTER_EXTERNAL: ExposureLevel
EXPOSURE_LEVEL_EXPOSED: ExposureLevel
CONTAINER_EVENT_TYPE_UNSPECIFIED: ContainerEventType
CONTAINER_EVENT_TYPE_ADDED: ContainerEventType
CONTAINER_EVENT_TYPE_MODIFIED: ContainerEventType
CONTAINER_EVENT_TYPE_DELETED: ContainerEventType
CONTAINER_EVENT_TYPE_SYNCED: ContainerEventType
CONTAINER_PHASE_UNSPECIFIED: ContainerPhase
CONTAINER_PHASE_PENDING: ContainerPhase
CONTAINER_PHASE_STARTING: ContainerPhase
CONTAINER_PHASE_RUNNING: ContainerPhase
CONTAINER_PHASE_READY: ContainerPhase
CONTAINER_PHASE_FAILED: ContainerPhase
CONTAINER_PHASE_TERMINATING: ContainerPhase
PORT_STATE_UNSPECIFIED: PortState
PORT_STATE_UNKNOWN: PortState
PORT_STATE_LISTENING: PortState
PORT_STATE_NOT_LISTENING: PortState

class PublishInformation(_message.Message):
    __slots__ = ("publish_port", "target_port", "protocol", "node_port")
    PUBLISH_PORT_FIELD_NUMBER: _ClassVar[int]
    TARGET_PORT_FIELD_NUMBER: _ClassVar[int]
    PROTOCOL_FIELD_NUMBER: _ClassVar[int]
    NODE_PORT_FIELD_NUMBER: _ClassVar[int]
    publish_port: int
    target_port: int
    protocol: str
    node_port: int
    def __init__(self, publish_port: _Optional[int] = ..., target_port: _Optional[int] = ..., protocol: _Optional[str] = ..., node_port: _Optional[int] = ...) -> None: ...

class ResourceRequirements(_message.Message):
    __slots__ = ("cpu_request", "cpu_limit", "memory_request", "memory_limit", "ephemeral_request", "ephemeral_limit", "snapshot_size_limit")
    CPU_REQUEST_FIELD_NUMBER: _ClassVar[int]
    CPU_LIMIT_FIELD_NUMBER: _ClassVar[int]
    MEMORY_REQUEST_FIELD_NUMBER: _ClassVar[int]
    MEMORY_LIMIT_FIELD_NUMBER: _ClassVar[int]
    EPHEMERAL_REQUEST_FIELD_NUMBER: _ClassVar[int]
    EPHEMERAL_LIMIT_FIELD_NUMBER: _ClassVar[int]
    SNAPSHOT_SIZE_LIMIT_FIELD_NUMBER: _ClassVar[int]
    cpu_request: str
    cpu_limit: str
    memory_request: str
    memory_limit: str
    ephemeral_request: str
    ephemeral_limit: str
    snapshot_size_limit: str
    def __init__(self, cpu_request: _Optional[str] = ..., cpu_limit: _Optional[str] = ..., memory_request: _Optional[str] = ..., memory_limit: _Optional[str] = ..., ephemeral_request: _Optional[str] = ..., ephemeral_limit: _Optional[str] = ..., snapshot_size_limit: _Optional[str] = ...) -> None: ...

class CreateContainerRequest(_message.Message):
    __slots__ = ("image_name", "container_name", "network_name", "exposure_level", "publish_information", "environment_variables", "resource_requirements", "wait_until_ready")
    class EnvironmentVariablesEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    IMAGE_NAME_FIELD_NUMBER: _ClassVar[int]
    CONTAINER_NAME_FIELD_NUMBER: _ClassVar[int]
    NETWORK_NAME_FIELD_NUMBER: _ClassVar[int]
    EXPOSURE_LEVEL_FIELD_NUMBER: _ClassVar[int]
    PUBLISH_INFORMATION_FIELD_NUMBER: _ClassVar[int]
    ENVIRONMENT_VARIABLES_FIELD_NUMBER: _ClassVar[int]
    RESOURCE_REQUIREMENTS_FIELD_NUMBER: _ClassVar[int]
    WAIT_UNTIL_READY_FIELD_NUMBER: _ClassVar[int]
    image_name: str
    container_name: str
    network_name: str
    exposure_level: ExposureLevel
    publish_information: _containers.RepeatedCompositeFieldContainer[PublishInformation]
    environment_variables: _containers.ScalarMap[str, str]
    resource_requirements: ResourceRequirements
    wait_until_ready: bool
    def __init__(self, image_name: _Optional[str] = ..., container_name: _Optional[str] = ..., network_name: _Optional[str] = ..., exposure_level: _Optional[_Union[ExposureLevel, str]] = ..., publish_information: _Optional[_Iterable[_Union[PublishInformation, _Mapping]]] = ..., environment_variables: _Optional[_Mapping[str, str]] = ..., resource_requirements: _Optional[_Union[ResourceRequirements, _Mapping]] = ..., wait_until_ready: _Optional[bool] = ...) -> None: ...

class GetContainerRequest(_message.Message):
    __slots__ = ("container_id", "network_name")
    CONTAINER_ID_FIELD_NUMBER: _ClassVar[int]
    NETWORK_NAME_FIELD_NUMBER: _ClassVar[int]
    container_id: str
    network_name: str
    def __init__(self, container_id: _Optional[str] = ..., network_name: _Optional[str] = ...) -> None: ...

class DeleteContainerRequest(_message.Message):
    __slots__ = ("container_id", "network_name")
    CONTAINER_ID_FIELD_NUMBER: _ClassVar[int]
    NETWORK_NAME_FIELD_NUMBER: _ClassVar[int]
    container_id: str
    network_name: str
    def __init__(self, container_id: _Optional[str] = ..., network_name: _Optional[str] = ...) -> None: ...

class ListContainerRequest(_message.Message):
    __slots__ = ("network_name",)
    NETWORK_NAME_FIELD_NUMBER: _ClassVar[int]
    network_name: str
    def __init__(self, network_name: _Optional[str] = ...) -> None: ...

class SaveContainerRequest(_message.Message):
    __slots__ = ("container_id", "network_name")
    CONTAINER_ID_FIELD_NUMBER: _ClassVar[int]
    NETWORK_NAME_FIELD_NUMBER: _ClassVar[int]
    container_id: str
    network_name: str
    def __init__(self, container_id: _Optional[str] = ..., network_name: _Optional[str] = ...) -> None: ...

class PortInformation(_message.Message):
    __slots__ = ("name", "container_port", "protocol")
    NAME_FIELD_NUMBER: _ClassVar[int]
    CONTAINER_PORT_FIELD_NUMBER: _ClassVar[int]
    PROTOCOL_FIELD_NUMBER: _ClassVar[int]
    name: str
    container_port: int
    protocol: str
    def __init__(self, name: _Optional[str] = ..., container_port: _Optional[int] = ..., protocol: _Optional[str] = ...) -> None: ...

class ContainerResources(_message.Message):
    __slots__ = ("cpu_request", "cpu_limit", "memory_request", "memory_limit", "ephemeral_request", "ephemeral_limit", "snapshot_size_limit")
    CPU_REQUEST_FIELD_NUMBER: _ClassVar[int]
    CPU_LIMIT_FIELD_NUMBER: _ClassVar[int]
    MEMORY_REQUEST_FIELD_NUMBER: _ClassVar[int]
    MEMORY_LIMIT_FIELD_NUMBER: _ClassVar[int]
    EPHEMERAL_REQUEST_FIELD_NUMBER: _ClassVar[int]
    EPHEMERAL_LIMIT_FIELD_NUMBER: _ClassVar[int]
    SNAPSHOT_SIZE_LIMIT_FIELD_NUMBER: _ClassVar[int]
    cpu_request: str
    cpu_limit: str
    memory_request: str
    memory_limit: str
    ephemeral_request: str
    ephemeral_limit: str
    snapshot_size_limit: str
    def __init__(self, cpu_request: _Optional[str] = ..., cpu_limit: _Optional[str] = ..., memory_request: _Optional[str] = ..., memory_limit: _Optional[str] = ..., ephemeral_request: _Optional[str] = ..., ephemeral_limit: _Optional[str] = ..., snapshot_size_limit: _Optional[str] = ...) -> None: ...

class AssociatedResource(_message.Message):
    __slots__ = ("resource_name", "resource_type", "container_resources", "associated_resources")
    RESOURCE_NAME_FIELD_NUMBER: _ClassVar[int]
    RESOURCE_TYPE_FIELD_NUMBER: _ClassVar[int]
    CONTAINER_RESOURCES_FIELD_NUMBER: _ClassVar[int]
    ASSOCIATED_RESOURCES_FIELD_NUMBER: _ClassVar[int]
    resource_name: str
    resource_type: str
    container_resources: ContainerResources
    associated_resources: _containers.RepeatedCompositeFieldContainer[AssociatedResource]
    def __init__(self, resource_name: _Optional[str] = ..., resource_type: _Optional[str] = ..., container_resources: _Optional[_Union[ContainerResources, _Mapping]] = ..., associated_resources: _Optional[_Iterable[_Union[AssociatedResource, _Mapping]]] = ...) -> None: ...

class ContainerResponse(_message.Message):
    __slots__ = ("container_id", "container_name", "container_ip", "container_network", "ports", "associated_resources", "container_type", "exposure_level", "status", "published_ports")
    CONTAINER_ID_FIELD_NUMBER: _ClassVar[int]
    CONTAINER_NAME_FIELD_NUMBER: _ClassVar[int]
    CONTAINER_IP_FIELD_NUMBER: _ClassVar[int]
    CONTAINER_NETWORK_FIELD_NUMBER: _ClassVar[int]
    PORTS_FIELD_NUMBER: _ClassVar[int]
    ASSOCIATED_RESOURCES_FIELD_NUMBER: _ClassVar[int]
    CONTAINER_TYPE_FIELD_NUMBER: _ClassVar[int]
    EXPOSURE_LEVEL_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    PUBLISHED_PORTS_FIELD_NUMBER: _ClassVar[int]
    container_id: str
    container_name: str
    container_ip: str
    container_network: str
    ports: _containers.RepeatedCompositeFieldContainer[PortInformation]
    associated_resources: _containers.RepeatedCompositeFieldContainer[AssociatedResource]
    container_type: str
    exposure_level: ExposureLevel
    status: ContainerStatus
    published_ports: _containers.RepeatedCompositeFieldContainer[PublishedPort]
    def __init__(self, container_id: _Optional[str] = ..., container_name: _Optional[str] = ..., container_ip: _Optional[str] = ..., container_network: _Optional[str] = ..., ports: _Optional[_Iterable[_Union[PortInformation, _Mapping]]] = ..., associated_resources: _Optional[_Iterable[_Union[AssociatedResource, _Mapping]]] = ..., container_type: _Optional[str] = ..., exposure_level: _Optional[_Union[ExposureLevel, str]] = ..., status: _Optional[_Union[ContainerStatus, _Mapping]] = ..., published_ports: _Optional[_Iterable[_Union[PublishedPort, _Mapping]]] = ...) -> None: ...

class PublishedPort(_message.Message):
    __slots__ = ("publish_port", "target_port", "protocol", "url")
    PUBLISH_PORT_FIELD_NUMBER: _ClassVar[int]
    TARGET_PORT_FIELD_NUMBER: _ClassVar[int]
    PROTOCOL_FIELD_NUMBER: _ClassVar[int]
    URL_FIELD_NUMBER: _ClassVar[int]
    publish_port: int
    target_port: int
    protocol: str
    url: str
    def __init__(self, publish_port: _Optional[int] = ..., target_port: _Optional[int] = ..., protocol: _Optional[str] = ..., url: _Optional[str] = ...) -> None: ...

class WatchContainersRequest(_message.Message):
    __slots__ = ("network_name", "container_id")
    NETWORK_NAME_FIELD_NUMBER: _ClassVar[int]
    CONTAINER_ID_FIELD_NUMBER: _ClassVar[int]
    network_name: str
    container_id: str
    def __init__(self, network_name: _Optional[str] = ..., container_id: _Optional[str] = ...) -> None: ...

class ContainerEvent(_message.Message):
    __slots__ = ("type", "container")
    TYPE_FIELD_NUMBER: _ClassVar[int]
    CONTAINER_FIELD_NUMBER: _ClassVar[int]
    type: ContainerEventType
    container: ContainerResponse
    def __init__(self, type: _Optional[_Union[ContainerEventType, str]] = ..., container: _Optional[_Union[ContainerResponse, _Mapping]] = ...) -> None: ...

class ContainerCondition(_message.Message):
    __slots__ = ("reason", "message", "resource_type", "resource_name")
    REASON_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    RESOURCE_TYPE_FIELD_NUMBER: _ClassVar[int]
    RESOURCE_NAME_FIELD_NUMBER: _ClassVar[int]
    reason: str
    message: str
    resource_type: str
    resource_name: str
    def __init__(self, reason: _Optional[str] = ..., message: _Optional[str] = ..., resource_type: _Optional[str] = ..., resource_name: _Optional[str] = ...) -> None: ...

class ContainerStatus(_message.Message):
    __slots__ = ("phase", "ready", "conditions", "restart_count", "last_exit_code", "ports", "last_activity_time", "report_time")
    PHASE_FIELD_NUMBER: _ClassVar[int]
    READY_FIELD_NUMBER: _ClassVar[int]
    CONDITIONS_FIELD_NUMBER: _ClassVar[int]
    RESTART_COUNT_FIELD_NUMBER: _ClassVar[int]
    LAST_EXIT_CODE_FIELD_NUMBER: _ClassVar[int]
    PORTS_FIELD_NUMBER: _ClassVar[int]
    LAST_ACTIVITY_TIME_FIELD_NUMBER: _ClassVar[int]
    REPORT_TIME_FIELD_NUMBER: _ClassVar[int]
    phase: ContainerPhase
    ready: bool
    conditions: _containers.RepeatedCompositeFieldContainer[ContainerCondition]
    restart_count: int
    last_exit_code: int
    ports: _containers.RepeatedCompositeFieldContainer[PortStatus]
    last_activity_time: _timestamp_pb2.Timestamp
    report_time: _timestamp_pb2.Timestamp
    def __init__(self, phase: _Optional[_Union[ContainerPhase, str]] = ..., ready: _Optional[bool] = ..., conditions: _Optional[_Iterable[_Union[ContainerCondition, _Mapping]]] = ..., restart_count: _Optional[int] = ..., last_exit_code: _Optional[int] = ..., ports: _Optional[_Iterable[_Union[PortStatus, _Mapping]]] = ..., last_activity_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., report_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class PortStatus(_message.Message):
    __slots__ = ("port", "protocol", "state")
    PORT_FIELD_NUMBER: _ClassVar[int]
    PROTOCOL_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    port: int
    protocol: str
    state: PortState
    def __init__(self, port: _Optional[int] = ..., protocol: _Optional[str] = ..., state: _Optional[_Union[PortState, str]] = ...) -> None: ...

class ListContainerResponse(_message.Message):
    __slots__ = ("containers",)
    CONTAINERS_FIELD_NUMBER: _ClassVar[int]
    containers: _containers.RepeatedCompositeFieldContainer[ContainerResponse]
    def __init__(self, containers: _Optional[_Iterable[_Union[ContainerResponse, _Mapping]]] = ...) -> None: ...

class DeleteContainerResponse(_message.Message):
    __slots__ = ("container_id", "status")
    CONTAINER_ID_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    container_id: str
    status: str
    def __init__(self, container_id: _Optional[str] = ..., status: _Optional[str] = ...) -> None: ...

class SavedPodResponse(_message.Message):
    __slots__ = ("pod_name", "namespace_name", "image_name")
    POD_NAME_FIELD_NUMBER: _ClassVar[int]
    NAMESPACE_NAME_FIELD_NUMBER: _ClassVar[int]
    IMAGE_NAME_FIELD_NUMBER: _ClassVar[int]
    pod_name: str
    namespace_name: str
    image_name: str
    def __init__(self, pod_name: _Optional[str] = ..., namespace_name: _Optional[str] = ..., image_name: _Optional[str] = ...) -> None: ...

class SaveContainerResponse(_message.Message):
    __slots__ = ("saved_pods",)
    SAVED_PODS_FIELD_NUMBER: _ClassVar[int]
    saved_pods: _containers.RepeatedCompositeFieldContainer[SavedPodResponse]
    def __init__(self, saved_pods: _Optional[_Iterable[_Union[SavedPodResponse, _Mapping]]] = ...) -> None: ...
