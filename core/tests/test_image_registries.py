"""The image settings (pull policy, registry allow-list) and the allow-list check (pure)."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from container_maker import cli
from container_maker.errors import InvalidArgument, InvalidConfiguration, StatusCode
from container_maker.models import ContainerSpec, ExposureLevel
from container_maker.settings import Settings
from container_maker.validation import (
    image_registry_and_path,
    validate_image_registry,
    validate_spec,
)

DIGEST = "sha256:" + "ab" * 32


@pytest.mark.parametrize(
    ("image", "registry", "path"),
    [
        ("nginx:1.27", "docker.io", "library/nginx"),
        ("nginx", "docker.io", "library/nginx"),
        ("team/app:1", "docker.io", "team/app"),
        ("docker.io/nginx:1.27", "docker.io", "library/nginx"),
        (f"index.docker.io/library/nginx@{DIGEST}", "docker.io", "library/nginx"),
        ("localhost/app", "localhost", "app"),
        ("localhost:5000/a/b:t", "localhost:5000", "a/b"),
        (f"127.0.0.1:5000/saved/ns/c@{DIGEST}", "127.0.0.1:5000", "saved/ns/c"),
        ("Registry.Example.com/team/app:1", "registry.example.com", "team/app"),
        ("[::1]:5000/app:1", "[::1]:5000", "app"),
        (f"reg.example/a/b/c:tag@{DIGEST}", "reg.example", "a/b/c"),
    ],
)
def test_the_registry_of_an_image_is_where_a_runtime_pulls_it(
    image: str, registry: str, path: str
) -> None:
    assert image_registry_and_path(image) == (registry, path)


def refused(image: str, settings: Settings) -> InvalidArgument:
    with pytest.raises(InvalidArgument) as caught:
        validate_image_registry(image, settings)
    return caught.value


def test_no_allow_list_allows_any_registry() -> None:
    validate_image_registry("10.0.0.1:5000/x:1", Settings())


def test_a_host_entry_allows_that_host_and_port_only() -> None:
    settings = Settings(image_registries=("reg.example", "127.0.0.1:5000"))
    validate_image_registry("reg.example/team/app:1", settings)
    validate_image_registry("REG.example/app", settings)
    validate_image_registry(f"127.0.0.1:5000/app@{DIGEST}", settings)
    for image in ("reg.example:5000/app", "127.0.0.1:5001/app", "evil.reg.example/app"):
        error = refused(image, settings)
        assert error.code is StatusCode.INVALID_ARGUMENT
        assert error.field == "image_name"
        assert "allowed registries: reg.example, 127.0.0.1:5000" in error.message, error.message


def test_the_review_s_address_is_refused_naming_field_and_allowed_registries() -> None:
    error = refused("10.0.0.1:5000/x", Settings(image_registries=("registry.example.com",)))
    assert error.message == (
        "image_name: '10.0.0.1:5000/x' is from registry '10.0.0.1:5000' (10.0.0.1:5000/x), "
        "which this server does not pull from; allowed registries: registry.example.com"
    )


def test_docker_hub_short_names_are_docker_io() -> None:
    hub = Settings(image_registries=("docker.io",))
    for image in ("nginx:1.27", "team/app", "index.docker.io/library/nginx", f"nginx@{DIGEST}"):
        validate_image_registry(image, hub)
    quay = Settings(image_registries=("quay.io",))
    assert "registry 'docker.io'" in refused("nginx:1.27", quay).message
    refused("quay.io/nginx", hub)


def test_a_path_prefix_matches_whole_components() -> None:
    settings = Settings(image_registries=("reg.example/team", "docker.io/library"))
    validate_image_registry("reg.example/team/app:1", settings)
    validate_image_registry("reg.example/team", settings)
    validate_image_registry("nginx:1.27", settings)  # docker.io/library/nginx
    for image in ("reg.example/teams/app", "reg.example/app", "someone/nginx"):
        refused(image, settings)


def test_saved_images_stay_creatable_under_an_allow_list() -> None:
    settings = Settings(image_registries=("docker.io",), registry="127.0.0.1:5000/saved")
    validate_image_registry(f"127.0.0.1:5000/saved/team-a/web@{DIGEST}", settings)
    error = refused("127.0.0.1:5000/other/web:1", settings)
    assert "allowed registries: docker.io, 127.0.0.1:5000/saved" in error.message


def test_validate_spec_checks_the_registry() -> None:
    spec = ContainerSpec(
        image_name="10.0.0.1:5000/x",
        container_name="web",
        network_name="team-a",
        exposure_level=int(ExposureLevel.INTERNAL),
    )
    validate_spec(spec, Settings())
    with pytest.raises(InvalidArgument) as caught:
        validate_spec(spec, Settings(image_registries=("docker.io",)))
    assert caught.value.field == "image_name"


@pytest.mark.parametrize("entry", ["http://reg.example", "reg.example/", "reg example", ""])
def test_an_allow_list_entry_must_be_a_registry(entry: str) -> None:
    with pytest.raises(ValidationError, match="is not a registry"):
        Settings(image_registries=(entry,))


def test_image_settings_from_the_environment() -> None:
    assert Settings().image_registries == ()
    settings = Settings.from_env(
        {"CONTAINER_MAKER_IMAGE_REGISTRIES": "docker.io, 127.0.0.1:5000/team ,"}
    )
    assert settings.image_registries == ("docker.io", "127.0.0.1:5000/team")
    assert Settings.from_env({"CONTAINER_MAKER_IMAGE_REGISTRIES": ""}).image_registries == ()


def test_flags_win_over_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CONTAINER_MAKER_IMAGE_REGISTRIES", "quay.io")
    assert cli._settings({}).image_registries == ("quay.io",)
    overrides: dict[str, Any] = {"image_registries": ("docker.io", "reg.example:5000")}
    settings = cli._settings(overrides)
    assert settings.image_registries == ("docker.io", "reg.example:5000")
    with pytest.raises(InvalidConfiguration, match="image_registries"):
        cli._settings({"image_registries": ("https://reg.example",)})
