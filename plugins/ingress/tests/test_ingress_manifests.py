"""The Ingress manifest (pure): a unique path per TCP port, host and class, owner."""

from __future__ import annotations

from container_maker.context import BuildContext
from container_maker.models import ContainerSpec, ObjectRef, PublishInformation
from container_maker.settings import Settings
from container_maker.validation import validate_spec
from container_maker_ingress.manifests import build_ingress

OWNER = ObjectRef(kind="pod", namespace="net", name="web", uid="pod-uid")


def make(name: str = "web", namespace: str = "net", **settings: str) -> dict[str, object]:
    spec = ContainerSpec(
        image_name="nginx",
        container_name=name,
        network_name=namespace,
        exposure_level=4,
        publish_information=(
            PublishInformation(publish_port=80, target_port=8080),
            PublishInformation(publish_port=443, target_port=8443, protocol="TCP"),
            PublishInformation(publish_port=53, target_port=53, protocol="UDP"),
        ),
    )
    config = Settings.model_validate(settings)
    context = BuildContext(
        container_id="id-1", resources=validate_spec(spec, config), settings=config, owner=OWNER
    )
    return build_ingress(spec, context)


def paths(ingress: dict[str, object]) -> list[dict[str, object]]:
    rules = ingress["spec"]["rules"]  # type: ignore[index]
    return rules[0]["http"]["paths"]  # type: ignore[no-any-return]


def test_one_path_per_tcp_port_to_the_service() -> None:
    ingress = make()
    assert paths(ingress) == [
        {
            "path": "/net/web/80",
            "pathType": "Prefix",
            "backend": {"service": {"name": "web-svc", "port": {"number": 80}}},
        },
        {
            "path": "/net/web/443",
            "pathType": "Prefix",
            "backend": {"service": {"name": "web-svc", "port": {"number": 443}}},
        },
    ]


def test_paths_of_two_containers_never_collide() -> None:
    ours = {p["path"] for p in paths(make("web", "net"))}
    theirs = {p["path"] for p in paths(make("web", "other"))}
    neighbour = {p["path"] for p in paths(make("api", "net"))}
    assert not ours & theirs
    assert not ours & neighbour


def test_host_and_class_from_settings() -> None:
    plain = make()
    assert "host" not in plain["spec"]["rules"][0]  # type: ignore[index]
    assert "ingressClassName" not in plain["spec"]  # type: ignore[operator]
    configured = make(ingress_host="apps.example.test", ingress_class="nginx")
    assert configured["spec"]["rules"][0]["host"] == "apps.example.test"  # type: ignore[index]
    assert configured["spec"]["ingressClassName"] == "nginx"  # type: ignore[index]


def test_owned_by_the_pod() -> None:
    meta = make()["metadata"]
    assert meta["name"] == "web-ing"  # type: ignore[index]
    assert meta["ownerReferences"][0]["uid"] == "pod-uid"  # type: ignore[index]
