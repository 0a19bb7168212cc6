"""The Ingress manifest and the host scheme (pure): one host per container and port, each rule
``/`` Prefix to that port of the container's Service; DNS length limits; TLS; class; owner."""

from __future__ import annotations

import re
from typing import Any

import pytest
from kubernetes.client import (
    V1HTTPIngressPath,
    V1HTTPIngressRuleValue,
    V1Ingress,
    V1IngressBackend,
    V1IngressRule,
    V1IngressServiceBackend,
    V1IngressSpec,
    V1IngressTLS,
    V1ServiceBackendPort,
)

from container_maker.errors import FailedPrecondition, InvalidConfiguration
from container_maker.models import ContainerSpec, ObjectRef, PublishInformation
from container_maker.settings import Settings
from container_maker.testing import build_context, container_spec
from container_maker_ingress import plugin
from container_maker_ingress.hosts import host_hash, host_label, ingress_host
from container_maker_ingress.manifests import build_ingress

OWNER = ObjectRef(kind="pod", namespace="net", name="web", uid="pod-uid")
ID = "0f8fad5b-d9cb-469f-a165-70867728950e"
OTHER_ID = "7c9e6679-7425-40de-944b-e07fc1f90ae7"
DOMAIN = "sandbox.example.test"
# A DNS label (RFC 1123): letters, digits and '-', 1-63 characters, no '-' at either end.
LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")
PORTS = (
    PublishInformation(publish_port=80, target_port=8080),
    PublishInformation(publish_port=443, target_port=8443, protocol="TCP"),
    PublishInformation(publish_port=53, target_port=53, protocol="UDP"),
)


def make(
    name: str = "web",
    namespace: str = "net",
    container_id: str = ID,
    ports: tuple[PublishInformation, ...] = PORTS,
    **settings: Any,
) -> dict[str, Any]:
    spec = container_spec(
        image_name="nginx",
        container_name=name,
        network_name=namespace,
        exposure_level=4,
        publish_information=ports,
    )
    config = Settings.model_validate({"ingress_domain": DOMAIN, **settings})
    return build_ingress(spec, build_context(spec, config, container_id=container_id, owner=OWNER))


def hosts(ingress: dict[str, Any]) -> list[str]:
    return [rule["host"] for rule in ingress["spec"]["rules"]]


def test_one_rule_per_tcp_port_on_its_own_host_to_the_service() -> None:
    ingress = make()
    first, second = hosts(ingress)
    assert ingress["spec"]["rules"] == [
        {
            "host": host,
            "http": {
                "paths": [
                    {
                        "path": "/",
                        "pathType": "Prefix",
                        "backend": {"service": {"name": "web-svc", "port": {"number": port}}},
                    }
                ]
            },
        }
        for host, port in ((first, 80), (second, 443))
    ]
    # UDP is not HTTP: the Ingress has no rule for port 53 (the Service publishes it).
    assert first == f"80-web-net-{host_hash(ID, 'net', 'web', 80)}.{DOMAIN}"
    assert second == f"443-web-net-{host_hash(ID, 'net', 'web', 443)}.{DOMAIN}"
    assert "tls" not in ingress["spec"]


def test_two_ports_two_hosts_and_two_containers_two_hosts() -> None:
    ours = hosts(make())
    assert len(set(ours)) == 2
    neighbour = hosts(make("api", "net", OTHER_ID))
    other_tenant = hosts(make("web", "other", OTHER_ID))
    assert not set(ours) & set(neighbour)
    assert not set(ours) & set(other_tenant)
    assert not set(neighbour) & set(other_tenant)


def test_hosts_are_deterministic() -> None:
    assert make() == make()
    assert hosts(make()) == hosts(make(ingress_class="nginx"))
    assert host_label(ID, "net", "web", 80) == host_label(ID, "net", "web", 80)


def test_names_that_read_alike_get_different_hosts() -> None:
    """web-a in namespace b and web in namespace a-b have the same readable part."""
    one = host_label(ID, "b", "web-a", 80)
    two = host_label(ID, "a-b", "web", 80)
    assert one.rsplit("-", 1)[0] == two.rsplit("-", 1)[0] == "80-web-a-b"
    assert one != two


def test_a_container_made_again_under_its_name_gets_a_new_origin() -> None:
    assert host_label(ID, "net", "web", 80) != host_label(OTHER_ID, "net", "web", 80)


@pytest.mark.parametrize(
    ("name", "namespace", "port"),
    [
        ("w" * 59, "n" * 63, 65535),  # the longest name and namespace, a five-digit port
        ("w" * 59, "ns", 8),
        ("web", "n" * 63, 80),
        ("a" * 21 + "-" + "b" * 37, "c" * 21 + "-" + "d" * 41, 443),  # cuts ending in '-'
    ],
)
def test_long_names_are_shortened_to_a_dns_label(name: str, namespace: str, port: int) -> None:
    label = host_label(ID, namespace, name, port)
    assert LABEL.match(label), label
    assert len(label) <= 63
    assert label.startswith(f"{port}-") and label.endswith(host_hash(ID, namespace, name, port))
    assert "--" not in label
    # Both the name and the namespace are still recognisable at the front of the label.
    assert name[:10] in label and namespace[:10] in label


def test_long_names_that_share_a_prefix_still_differ() -> None:
    base = "w" * 50
    one = host_label(ID, "n" * 63, base + "a", 80)
    two = host_label(ID, "n" * 63, base + "b", 80)
    assert one.rsplit("-", 1)[0] == two.rsplit("-", 1)[0]  # the readable parts were cut alike
    assert one != two


def test_a_host_stays_within_253_characters() -> None:
    longest_domain = ".".join(["a" * 63, "b" * 63, "c" * 61])
    host = ingress_host(longest_domain, ID, "n" * 63, "w" * 59, 65535)
    assert len(host) <= 253
    assert all(LABEL.match(label) for label in host.split("."))
    spec = make("w" * 59, "n" * 63, ingress_domain=longest_domain)["spec"]
    assert all(len(rule["host"]) <= 253 for rule in spec["rules"])


def test_tls_entry_for_the_hosts_with_a_configured_secret() -> None:
    ingress = make(ingress_tls_secret="wildcard-cert")
    assert ingress["spec"]["tls"] == [{"hosts": hosts(ingress), "secretName": "wildcard-cert"}]


def test_class_from_settings() -> None:
    assert "ingressClassName" not in make()["spec"]
    assert make(ingress_class="nginx")["spec"]["ingressClassName"] == "nginx"


def test_no_domain_no_ingress() -> None:
    with pytest.raises(InvalidConfiguration, match="--ingress-domain"):
        make(ingress_domain=None)


def test_preflight_refuses_exposed_without_a_domain_only() -> None:
    spec = ContainerSpec(image_name="i", container_name="w", network_name="n", exposure_level=4)
    exposed = ("namespace", "status", "pod", "service", "ingress")
    with pytest.raises(FailedPrecondition) as refused:
        plugin.cm_preflight(spec=spec, kinds=exposed, settings=Settings())
    assert "--ingress-domain" in refused.value.message
    assert "CONTAINER_MAKER_INGRESS_DOMAIN" in refused.value.message
    assert plugin.cm_preflight(spec=spec, kinds=exposed[:-1], settings=Settings()) is None
    with_domain = Settings(ingress_domain=DOMAIN)
    assert plugin.cm_preflight(spec=spec, kinds=exposed, settings=with_domain) is None


def test_owned_by_the_pod() -> None:
    meta = make()["metadata"]
    assert meta["name"] == "web-ing"
    assert meta["ownerReferences"][0]["uid"] == "pod-uid"


def rule(host: str | None, port: int, path: str = "/") -> V1IngressRule:
    backend = V1IngressBackend(
        service=V1IngressServiceBackend(name="web-svc", port=V1ServiceBackendPort(number=port))
    )
    return V1IngressRule(
        host=host,
        http=V1HTTPIngressRuleValue(
            paths=[V1HTTPIngressPath(path=path, path_type="Prefix", backend=backend)]
        ),
    )


def test_urls_read_from_the_ingress() -> None:
    ingress = V1Ingress(
        spec=V1IngressSpec(
            rules=[rule("80-a.example", 80), rule("443-a.example", 443)],
            tls=[V1IngressTLS(hosts=["443-a.example"], secret_name="cert")],
        )
    )
    assert [(p.publish_port, p.protocol, p.url) for p in plugin.published_ports(ingress)] == [
        (80, "TCP", "http://80-a.example/"),
        (443, "TCP", "https://443-a.example/"),
    ]


def test_an_ingress_of_the_old_shared_host_scheme_reports_what_it_routes() -> None:
    """Ingresses made before hosts per port stay until their container is made again."""
    old = V1Ingress(
        spec=V1IngressSpec(rules=[rule("apps.example", 80, "/ns/web/80"), rule(None, 81, "/x")])
    )
    assert [(p.publish_port, p.url) for p in plugin.published_ports(old)] == [
        (80, "http://apps.example/ns/web/80"),
        (81, ""),  # no host: whatever the controller serves; the Service's URL stands
    ]
