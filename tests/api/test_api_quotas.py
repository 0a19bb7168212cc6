"""Ceilings and quotas through the gRPC API, on the test cluster (simulated KWOK nodes).

Every request over a per-container ceiling is INVALID_ARGUMENT naming the field and the limit,
and leaves nothing behind (not even the namespace). Each namespace Container Maker creates has a
ResourceQuota and a LimitRange; the create past a quota is RESOURCE_EXHAUSTED naming it, and
is rolled back. The review's NodePort exhaustion (finding 5) is run as the attacker would, once
against a server with the ceilings lifted (it works: the range is full) and once against the
default server (it is refused, and the cluster's NodePorts stay available).
"""

from __future__ import annotations

from typing import Any

import grpc
import pytest
from api_support import (
    create_request,
    delete_namespace,
    managed_objects,
    namespace_phase,
    new_network_name,
    rpc_error,
    running_server,
)
from kubernetes import client

from container_maker._proto import types_pb2 as pb
from container_maker.identity import label_selector, object_name
from container_maker.settings import DEFAULT_NAMESPACE_QUOTA, QUOTA_NAME, Settings
from container_maker.testing import eventually

pytestmark = pytest.mark.simulated

PORT = pb.PublishInformation
RESOURCES = pb.ResourceRequirements


def ports(count: int) -> list[pb.PublishInformation]:
    return [PORT(publish_port=p, target_port=p) for p in range(1, count + 1)]


CEILINGS: dict[str, tuple[str, str, dict[str, Any]]] = {
    # case: (field named, the limit named, request changes)
    "17 ports": ("publish_information", "16", {"publish_information": ports(17)}),
    "40 KiB of environment": (
        "environment_variables",
        "32768 bytes (32 KiB)",
        {"environment_variables": {f"VAR_{i}": "x" * 4090 for i in range(10)}},
    ),
    "one 10 KiB value": (
        "environment_variables['CERT']",
        "8192 bytes (8 KiB)",
        {"environment_variables": {"CERT": "x" * 10240}},
    ),
    "cpu_limit 1000": (
        "resource_requirements.cpu_limit",
        "max_resources.cpu_limit",
        {"resource_requirements": RESOURCES(cpu_limit="1000")},
    ),
    "memory_limit 1e100": (
        "resource_requirements.memory_limit",
        "8Gi",
        {"resource_requirements": RESOURCES(memory_limit="1e100")},
    ),
    "snapshot_size_limit 1Ti": (
        "resource_requirements.snapshot_size_limit",
        "10Gi",
        {"resource_requirements": RESOURCES(snapshot_size_limit="1Ti")},
    ),
    "cpu_request 0": (
        "resource_requirements.cpu_request",
        "10m",
        {"resource_requirements": RESOURCES(cpu_request="0")},
    ),
    "malformed quantity": (
        "resource_requirements.ephemeral_limit",
        "is not a Kubernetes quantity",
        {"resource_requirements": RESOURCES(ephemeral_limit="10 gigs")},
    ),
    "node port not allowed": (
        "publish_information[0].node_port",
        "does not allow choosing node ports",
        {
            "exposure_level": pb.EXPOSURE_LEVEL_CLUSTER_EXTERNAL,
            "publish_information": [PORT(publish_port=80, target_port=8080, node_port=30080)],
        },
    ),
}


@pytest.mark.parametrize("case", list(CEILINGS))
def test_over_a_ceiling_is_invalid_argument_naming_field_and_limit(
    case: str, stub: Any, admin_api: client.ApiClient, network: str
) -> None:
    field, limit, changes = CEILINGS[case]
    error = rpc_error(stub.createContainer, create_request(network, "big", **changes), timeout=30)
    assert error.code() is grpc.StatusCode.INVALID_ARGUMENT, error.details()
    assert error.details().startswith(f"{field}: "), error.details()
    assert limit in error.details(), error.details()
    # Refused before anything was made: not even the namespace exists.
    assert namespace_phase(admin_api, network) is None


def test_the_design_defaults_pass(stub: Any, network: str) -> None:
    created = stub.createContainer(create_request(network, "plain"), timeout=90)
    (pod,) = created.associated_resources
    user = next(c for c in pod.associated_resources if c.resource_name == "plain")
    assert user.container_resources.cpu_limit == "1"
    assert user.container_resources.snapshot_size_limit == "2Gi"


def test_created_namespace_has_a_resource_quota_and_a_limit_range(
    stub: Any, admin_api: client.ApiClient, network: str
) -> None:
    stub.createContainer(create_request(network, "web", "CLUSTER_LOCAL"), timeout=90)
    core = client.CoreV1Api(admin_api)
    (quota,) = core.list_namespaced_resource_quota(network).items
    assert quota.metadata.name == QUOTA_NAME
    assert quota.metadata.labels["app.kubernetes.io/managed-by"] == "container-maker"
    assert quota.spec.hard == {**DEFAULT_NAMESPACE_QUOTA, "services.nodeports": "0"}
    # The quota counts the container: its pod (user container and two sidecars) and Service.
    counted = eventually(
        lambda: core.read_namespaced_resource_quota(QUOTA_NAME, network).status.used,
        lambda used: used.get("count/pods") == "1",
    )
    assert counted["services"] == "1"
    assert counted["requests.cpu"] == "120m"  # 100m + 10m per sidecar
    (limit_range,) = core.list_namespaced_limit_range(network).items
    assert limit_range.metadata.name == QUOTA_NAME
    (item,) = limit_range.spec.limits
    assert item.type == "Container"
    assert item.max == {"cpu": "4", "memory": "8Gi", "ephemeral-storage": "10Gi"}
    assert item.min == {"cpu": "10m", "memory": "16Mi", "ephemeral-storage": "16Mi"}


def container_objects(admin_api: client.ApiClient, network: str, name: str) -> list[str]:
    return managed_objects(admin_api, network, label_selector(container_name=name))


@pytest.mark.parametrize(
    ("entry", "level"),
    [("count/pods", "INTERNAL"), ("services.loadbalancers", "CLUSTER_EXTERNAL")],
)
def test_past_the_quota_is_resource_exhausted_and_rolled_back(
    entry: str, level: str, admin_api: client.ApiClient, network: str
) -> None:
    """Quota 2: two containers fit, the third is refused by the API server's quota admission
    (for pods after the status objects were made, for load balancers after the pod too), and
    is rolled back; the first two are untouched."""
    settings = Settings(namespace_quota={**DEFAULT_NAMESPACE_QUOTA, entry: "2"})
    with running_server(admin_api, settings=settings) as running:
        stub = running.stub
        first = [
            stub.createContainer(create_request(network, name, level), timeout=90)
            for name in ("one", "two")
        ]
        before = managed_objects(admin_api, network)
        error = rpc_error(stub.createContainer, create_request(network, "three", level), timeout=90)
        assert error.code() is grpc.StatusCode.RESOURCE_EXHAUSTED, error.details()
        details = error.details()
        assert f"ResourceQuota {QUOTA_NAME} is used up" in details, details
        assert f"limited to {entry}=2" in details, details
        assert "ask the operator to raise the quota" in details
        # Nothing of the third is left; the first two are as they were.
        eventually(lambda: container_objects(admin_api, network, "three"), lambda left: not left)
        assert managed_objects(admin_api, network) == before
        listed = stub.listContainer(pb.ListContainerRequest(network_name=network), timeout=30)
        assert sorted(c.container_id for c in listed.containers) == sorted(
            c.container_id for c in first
        )
        # Room again once one is deleted (the quota counts a pod until it is gone).
        stub.deleteContainer(
            pb.DeleteContainerRequest(container_id=first[0].container_id, network_name=network),
            timeout=90,
        )
        eventually(
            lambda: (
                client.CoreV1Api(admin_api)
                .read_namespaced_resource_quota(QUOTA_NAME, network)
                .status.used[entry]
            ),
            lambda used: used == "1",
        )
        stub.createContainer(create_request(network, "three", level), timeout=90)


def test_load_balancers_get_no_node_ports_but_an_address(
    stub: Any, admin_api: client.ApiClient, network: str
) -> None:
    """allocateLoadBalancerNodePorts is off; the (simulated) load balancer still assigns the
    address, and the container becomes ready."""
    request = create_request(network, "lb", "CLUSTER_EXTERNAL", wait_until_ready=True)
    created = stub.createContainer(request, timeout=90)
    assert created.container_ip.startswith("203.0.113.")  # the simulated load balancer
    service = client.CoreV1Api(admin_api).read_namespaced_service(
        object_name("service", "lb"), network
    )
    assert service.spec.allocate_load_balancer_node_ports is False
    assert [p.node_port for p in service.spec.ports] == [None]


def test_allowed_node_port_is_kept(admin_api: client.ApiClient, network: str) -> None:
    settings = Settings(allow_node_ports=True)
    with running_server(admin_api, settings=settings) as running:
        request = create_request(
            network,
            "np",
            "CLUSTER_EXTERNAL",
            publish_information=[PORT(publish_port=80, target_port=8080, node_port=31234)],
        )
        running.stub.createContainer(request, timeout=90)
    service = client.CoreV1Api(admin_api).read_namespaced_service(
        object_name("service", "np"), network
    )
    assert [p.node_port for p in service.spec.ports] == [31234]
    quota = client.CoreV1Api(admin_api).read_namespaced_resource_quota(QUOTA_NAME, network)
    assert quota.spec.hard["services.nodeports"] == "80"  # 16 ports x 5 load balancers


# -- The review's NodePort exhaustion, run as the attacker would --------------------------


def probe(kube_cluster: Any, namespace: str) -> Any:
    """What another team does: a NodePort Service of its own."""
    return kube_cluster.kubectl(
        "create", "service", "nodeport", "probe", "--tcp=80", "-n", namespace, check=False
    )


def test_with_the_ceilings_lifted_the_attack_fills_the_node_port_range(
    kube_cluster: Any, admin_api: client.ApiClient, namespace: str
) -> None:
    """The control: the attack of the review works on a server without our ceilings, so the
    test below can fail. Containers of 1,000, then 100, 10 and 1 ports are created until the
    API server answers "range is full" at each size: then no port of the range is left,
    whatever other Services held some already."""
    # The namespace quota alone would stop it too (limits.cpu after 22 containers): lift it.
    lifted = Settings(max_ports=100_000, load_balancer_node_ports=True, namespace_quota={})
    network = new_network_name("attack")
    held = 0
    try:
        with running_server(admin_api, settings=lifted) as running:
            for size in (1000, 100, 10, 1):
                while True:
                    request = create_request(
                        network, f"hog-{held}", "CLUSTER_EXTERNAL", publish_information=ports(size)
                    )
                    try:
                        running.stub.createContainer(request, timeout=120)
                    except grpc.RpcError as error:
                        assert "range is full" in error.details(), error.details()
                        break
                    held += 1
            refused = probe(kube_cluster, namespace)
            assert refused.returncode != 0
            assert "range is full" in refused.stderr, refused.stderr
    finally:
        delete_namespace(admin_api, network)
    assert held >= 2
    # The ports come back once the attacker's Services are gone.
    eventually(lambda: probe(kube_cluster, namespace), lambda r: r.returncode == 0, timeout=120)


def test_one_create_cannot_exhaust_the_node_port_range(
    kube_cluster: Any, stub: Any, admin_api: client.ApiClient, namespace: str, network: str
) -> None:
    """The regression test of the review: the same attack on the default server, with 2,800
    ports and with the control's first size."""
    for count in (2800, 1000):
        request = create_request(
            network, "hog", "CLUSTER_EXTERNAL", publish_information=ports(count)
        )
        error = rpc_error(stub.createContainer, request, timeout=60)
        assert error.code() is grpc.StatusCode.INVALID_ARGUMENT
        assert error.details().startswith(f"publish_information: {count} ports, more than the 16")
    assert namespace_phase(admin_api, network) is None
    created = probe(kube_cluster, namespace)
    assert created.returncode == 0, created.stderr
