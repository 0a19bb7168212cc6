"""The NetworkPolicies of a container and of a namespace (pure)."""

from __future__ import annotations

from typing import Any

import pytest

from container_maker.context import BuildContext
from container_maker.errors import InvalidConfiguration
from container_maker.models import ContainerSpec, ExposureLevel, PublishInformation
from container_maker.settings import DEFAULT_RESOURCES, Settings
from container_maker_namespace.policy_manifests import (
    container_policy,
    default_deny,
    internet,
    registry_endpoints,
)
from container_maker_namespace.policy_settings import PolicyPeer, PolicySettings

ID = "6f1c2a52-6f55-4b8e-9f0e-0a3c3d1f0b11"
GATEWAY = PolicyPeer(namespace_labels={"kubernetes.io/metadata.name": "gateway"})


def spec(level: ExposureLevel = ExposureLevel.CLUSTER_LOCAL, **kw: Any) -> ContainerSpec:
    values: dict[str, Any] = {
        "image_name": "testapp:1",
        "container_name": "web",
        "network_name": "team-a",
        "exposure_level": int(level),
        "publish_information": (
            PublishInformation(publish_port=80, target_port=8080),
            PublishInformation(publish_port=53, target_port=5353, protocol="udp"),
        ),
    }
    values.update(kw)
    return ContainerSpec(**values)


def context(**settings: Any) -> BuildContext:
    return BuildContext(
        container_id=ID, tenant="local", resources=DEFAULT_RESOURCES, settings=Settings(**settings)
    )


def egress_to(policy: dict[str, Any]) -> list[Any]:
    return [rule.get("to") for rule in policy["spec"]["egress"]]


def test_default_deny_selects_every_pod_and_allows_nothing() -> None:
    deny = default_deny("team-a")
    assert deny["metadata"]["name"] == "cm-default-deny"
    assert deny["metadata"]["labels"]["app.kubernetes.io/managed-by"] == "container-maker"
    assert "container-maker.io/id" not in deny["metadata"]["labels"]
    assert deny["spec"] == {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]}


def test_ingress_only_on_published_target_ports_from_the_network_and_the_gateway() -> None:
    policy = container_policy(spec(), context(ingress_peers=(GATEWAY,)))
    assert policy["metadata"]["name"] == "web-net"
    assert policy["metadata"]["labels"]["container-maker.io/id"] == ID
    assert policy["spec"]["podSelector"] == {
        "matchLabels": {
            "app.kubernetes.io/managed-by": "container-maker",
            "container-maker.io/id": ID,
        }
    }
    assert policy["spec"]["policyTypes"] == ["Ingress", "Egress"]
    (rule,) = policy["spec"]["ingress"]
    assert rule["ports"] == [{"port": 5353, "protocol": "UDP"}, {"port": 8080, "protocol": "TCP"}]
    assert rule["from"] == [
        {"podSelector": {"matchLabels": {"app.kubernetes.io/managed-by": "container-maker"}}},
        {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "gateway"}}},
    ]


def test_no_published_port_no_ingress() -> None:
    policy = container_policy(spec(publish_information=()), context(ingress_peers=(GATEWAY,)))
    assert policy["spec"]["ingress"] == []


def test_a_load_balancer_port_is_open_to_every_address() -> None:
    policy = container_policy(spec(ExposureLevel.CLUSTER_EXTERNAL), context())
    open_rule = policy["spec"]["ingress"][1]
    assert open_rule["from"] == [{"ipBlock": {"cidr": "0.0.0.0/0"}}, {"ipBlock": {"cidr": "::/0"}}]
    assert [p["port"] for p in open_rule["ports"]] == [5353, 8080]
    # An Ingress is reached through the controller only.
    exposed = container_policy(spec(ExposureLevel.EXPOSED), context())
    assert len(exposed["spec"]["ingress"]) == 1


def test_egress_to_the_internet_but_not_the_denied_ranges() -> None:
    v4, v6 = internet(PolicySettings().egress_denied_cidrs)
    assert v4["ipBlock"]["cidr"] == "0.0.0.0/0"
    for cidr in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10"):
        assert cidr in v4["ipBlock"]["except"]
    assert "169.254.0.0/16" in v4["ipBlock"]["except"]
    assert v6["ipBlock"] == {
        "cidr": "::/0",
        "except": ["::1/128", "fc00::/7", "fe80::/10"],
    }


def test_an_operator_may_deny_a_whole_family() -> None:
    assert internet(("0.0.0.0/0", "fc00::/7")) == [
        {"ipBlock": {"cidr": "::/0", "except": ["fc00::/7"]}}
    ]


def test_status_sidecar_reaches_the_api_server_endpoint_unless_blocked() -> None:
    endpoints = ("198.51.100.10:6443",)
    rule = {
        "to": [{"ipBlock": {"cidr": "198.51.100.10/32"}}],
        "ports": [{"protocol": "TCP", "port": 6443}],
    }
    assert rule in container_policy(spec(), context(), endpoints)["spec"]["egress"]
    blocked = container_policy(spec(), context(blocked_plugins=("status",)), endpoints)
    assert rule not in blocked["spec"]["egress"]


def test_snapshot_sidecar_reaches_the_registry_endpoints() -> None:
    settings = Settings(
        registry="127.0.0.1:5000/saved",
        registry_endpoints={"127.0.0.1:5000": "10.245.0.1:41000", "registry.example": "x:1"},
    )
    # Loopback is the pod's own and a host name cannot be an ipBlock: only the mapped address.
    assert registry_endpoints(settings) == ("10.245.0.1:41000",)
    assert registry_endpoints(Settings()) == ()
    assert registry_endpoints(Settings(registry="10.0.0.5:5000")) == ("10.0.0.5:5000",)
    assert (
        registry_endpoints(Settings(registry="10.0.0.5:5000", blocked_plugins=("snapshot",))) == ()
    )
    policy = container_policy(
        spec(),
        BuildContext(
            container_id=ID, tenant="local", resources=DEFAULT_RESOURCES, settings=settings
        ),
    )
    assert [{"ipBlock": {"cidr": "10.245.0.1/32"}}] in egress_to(policy)


def test_cluster_dns_is_a_setting() -> None:
    dns = [
        {
            "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "kube-system"}},
            "podSelector": {"matchLabels": {"k8s-app": "kube-dns"}},
        }
    ]
    assert dns in egress_to(container_policy(spec(), context()))
    assert dns not in egress_to(container_policy(spec(), context(egress_cluster_dns=False)))


@pytest.mark.parametrize(
    ("values", "problem"),
    [
        ({"cidr": "10.0.0.1/8"}, "host bits"),
        ({"cidr": "10.0.0.0/8", "namespace_labels": {"a": "b"}}, "not both"),
        ({"pod_labels": {"app": "gw"}}, "needs a cidr or namespace_labels"),
    ],
)
def test_bad_peers_are_refused(values: dict[str, Any], problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        PolicyPeer.model_validate(values)


def test_settings_from_the_environment() -> None:
    settings = Settings.from_env(
        {
            "CONTAINER_MAKER_INGRESS_PEERS": '[{"namespace_labels": {"k": "v"}}, '
            '{"cidr": "192.0.2.0/24"}]',
            "CONTAINER_MAKER_EGRESS_DENIED_CIDRS": "10.0.0.0/8, 198.51.100.0/24",
            "CONTAINER_MAKER_API_SERVER_ENDPOINTS": "198.51.100.10:6443,[2001:db8::1]:443",
            "CONTAINER_MAKER_EGRESS_CLUSTER_DNS": "false",
        },
        models=[PolicySettings],
    ).of(PolicySettings)
    assert settings.ingress_peers == (
        PolicyPeer(namespace_labels={"k": "v"}),
        PolicyPeer(cidr="192.0.2.0/24"),
    )
    assert settings.egress_denied_cidrs == ("10.0.0.0/8", "198.51.100.0/24")
    assert settings.api_server_endpoints == ("198.51.100.10:6443", "[2001:db8::1]:443")
    assert settings.egress_cluster_dns is False
    with pytest.raises(InvalidConfiguration, match="not a network"):
        Settings(egress_denied_cidrs=("10.0.0.0/33",)).of(PolicySettings)
    with pytest.raises(InvalidConfiguration, match="IPv4-mapped"):
        Settings(egress_denied_cidrs=("::ffff:10.0.0.0/104",)).of(PolicySettings)
    with pytest.raises(InvalidConfiguration, match="ip:port"):
        Settings(api_server_endpoints=("kubernetes:443",)).of(PolicySettings)
    with pytest.raises(InvalidConfiguration, match="bad --ingress-peers: ingress peers must"):
        Settings(ingress_peers="gateway").of(PolicySettings)
