"""The network policy plugin against the real API server (simulated nodes: nothing enforces
the policies here; the real-node tests in tests/api/test_api_network_real_node.py do)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from kubernetes import client

from container_maker.context import BuildContext
from container_maker.manager import ContainerManager
from container_maker.models import ContainerSpec, ExposureLevel, PublishInformation
from container_maker.plugins import create_plugin_manager
from container_maker.settings import DEFAULT_RESOURCES, Settings
from container_maker.testing import managed_objects
from container_maker_namespace.policy_manifests import container_policy, default_deny
from container_maker_namespace.policy_settings import PolicyPeer

ID = "0b7a8f5e-0c57-4d1e-9a39-0c8a8e0d6a21"


def spec(
    namespace: str, name: str = "web", level: ExposureLevel = ExposureLevel.INTERNAL
) -> ContainerSpec:
    return ContainerSpec(
        image_name="testapp:1",
        container_name=name,
        network_name=namespace,
        exposure_level=int(level),
        publish_information=(PublishInformation(publish_port=80, target_port=8080),),
    )


def policies(api: client.ApiClient, namespace: str) -> dict[str, Any]:
    found = client.NetworkingV1Api(api).list_namespaced_network_policy(namespace)
    return {p.metadata.name: p for p in found.items}


def test_a_namespace_we_make_gets_a_default_deny_and_each_container_its_policy(
    container_manager: ContainerManager, fresh_namespace_name: str, kube_api_client: Any
) -> None:
    ns = fresh_namespace_name
    web = container_manager.create(spec(ns))
    db = container_manager.create(spec(ns, "db", ExposureLevel.CLUSTER_LOCAL))
    made = policies(kube_api_client, ns)
    assert sorted(made) == ["cm-default-deny", "db-net", "web-net"]
    deny = made["cm-default-deny"]
    assert deny.metadata.labels["app.kubernetes.io/managed-by"] == "container-maker"
    assert deny.spec.pod_selector.match_labels is None
    assert deny.spec.policy_types == ["Ingress", "Egress"] and not deny.spec.ingress
    own = made["web-net"]
    assert own.metadata.labels["container-maker.io/id"] == web.container_id
    assert own.spec.pod_selector.match_labels["container-maker.io/id"] == web.container_id
    (ingress,) = own.spec.ingress
    assert [(p.protocol, p.port) for p in ingress.ports] == [("TCP", 8080)]
    internet = own.spec.egress[0].to
    assert internet[0].ip_block.cidr == "0.0.0.0/0"
    assert "169.254.0.0/16" in internet[0].ip_block._except
    # The pod the policy selects is the container's, and only it.
    core = client.CoreV1Api(kube_api_client)
    selector = ",".join(f"{k}={v}" for k, v in own.spec.pod_selector.match_labels.items())
    assert [
        p.metadata.name for p in core.list_namespaced_pod(ns, label_selector=selector).items
    ] == ["web"]

    container_manager.delete(web.container_id, ns)
    assert sorted(policies(kube_api_client, ns)) == ["cm-default-deny", "db-net"]
    container_manager.delete(db.container_id, ns)
    # The last container took the namespace, and the default-deny goes with it.
    assert managed_objects(kube_api_client, ns) == []


def test_a_namespace_we_did_not_make_gets_no_namespace_wide_policy(
    container_manager: ContainerManager, namespace: str, kube_api_client: Any
) -> None:
    created = container_manager.create(spec(namespace))
    assert sorted(policies(kube_api_client, namespace)) == ["web-net"]
    container_manager.delete(created.container_id, namespace)
    assert policies(kube_api_client, namespace) == {}


def test_blocking_the_plugin_makes_no_policy(
    kube_api_client: Any, fresh_namespace_name: str
) -> None:
    manager = ContainerManager(
        kube_api_client, plugin_manager=create_plugin_manager(blocked=("networkpolicy",))
    )
    created = manager.create(spec(fresh_namespace_name))
    assert policies(kube_api_client, fresh_namespace_name) == {}
    manager.delete(created.container_id, fresh_namespace_name)


CONFIGURATIONS = {
    "defaults": Settings(),
    "everything": Settings(
        ingress_peers=(
            PolicyPeer(namespace_labels={"kubernetes.io/metadata.name": "gateway"}),
            PolicyPeer(namespace_labels={"team": "edge"}, pod_labels={"app": "envoy"}),
            PolicyPeer(cidr="192.0.2.0/24"),
            PolicyPeer(cidr="2001:db8::/32"),
        ),
        egress_denied_cidrs=("10.0.0.0/8", "198.51.100.0/24", "fc00::/7"),
        api_server_endpoints=("198.51.100.10:6443", "[2001:db8::1]:443"),
        registry="127.0.0.1:5000",
        registry_endpoints={"127.0.0.1:5000": "10.245.0.1:41000"},
    ),
    "nothing-outside": Settings(
        egress_denied_cidrs=("0.0.0.0/0", "::/0"), egress_cluster_dns=False
    ),
}


@pytest.mark.parametrize("name", CONFIGURATIONS)
@pytest.mark.parametrize("level", list(ExposureLevel)[1:], ids=lambda level: level.name)
def test_every_configuration_passes_the_api_servers_strict_validation(
    name: str, level: ExposureLevel, kube_api_client: Any, namespace: str
) -> None:
    """Server-side dry run with strict field validation: no unknown field, every block and
    exception valid (the API server, not our code, is the judge)."""
    context = BuildContext(
        container_id=ID, tenant="local", resources=DEFAULT_RESOURCES, settings=CONFIGURATIONS[name]
    )
    built = container_policy(spec(namespace, level=level), context, ("198.51.100.10:6443",))
    api = client.NetworkingV1Api(kube_api_client)
    for body in (built, default_deny(namespace)):
        api.create_namespaced_network_policy(
            namespace, body, dry_run="All", field_validation="Strict"
        )


@pytest.fixture
def api_server_slice(kube_api_client: Any) -> Iterator[str]:
    """The ``kubernetes`` EndpointSlice, made by hand: the simulated cluster's API server
    advertises a loopback address and so publishes none. A documentation address (never
    connected to: it only goes into a policy)."""
    discovery = client.DiscoveryV1Api(kube_api_client)
    body: Any = {
        "metadata": {"name": "kubernetes", "labels": {"kubernetes.io/service-name": "kubernetes"}},
        "addressType": "IPv4",
        "endpoints": [{"addresses": ["203.0.113.77"]}],
        "ports": [{"name": "https", "port": 6443, "protocol": "TCP"}],
    }
    discovery.create_namespaced_endpoint_slice("default", body)
    yield "203.0.113.77"
    discovery.delete_namespaced_endpoint_slice("kubernetes", "default")


def test_the_api_server_endpoint_is_read_from_the_endpointslice(
    container_manager: ContainerManager,
    namespace: str,
    kube_api_client: Any,
    api_server_slice: str,
) -> None:
    created = container_manager.create(spec(namespace))
    own = policies(kube_api_client, namespace)["web-net"]
    rules = [
        (r.to[0].ip_block.cidr, r.ports[0].port)
        for r in own.spec.egress
        if r.ports and r.to and r.to[0].ip_block
    ]
    assert (f"{api_server_slice}/32", 6443) in rules
    container_manager.delete(created.container_id, namespace)


def test_without_the_status_plugin_no_api_server_rule(
    kube_api_client: Any, namespace: str, api_server_slice: str
) -> None:
    settings = Settings(blocked_plugins=("status",))
    manager = ContainerManager(
        kube_api_client,
        settings=settings,
        plugin_manager=create_plugin_manager(blocked=settings.blocked_plugins),
    )
    created = manager.create(spec(namespace))
    own = policies(kube_api_client, namespace)["web-net"]
    blocks = [p.ip_block.cidr for r in own.spec.egress for p in r.to or () if p.ip_block]
    assert f"{api_server_slice}/32" not in blocks
    manager.delete(created.container_id, namespace)
