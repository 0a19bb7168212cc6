"""The pure parts of tenancy: network -> namespace mapping, reserved names, the tenant label,
the containers-per-tenant admission and the tenancy settings."""

from __future__ import annotations

import threading

import pytest

from container_maker.errors import InvalidArgument, ResourceExhausted
from container_maker.identity import TENANT_KEY
from container_maker.settings import Settings
from container_maker.tenancy import (
    TenantAdmission,
    belongs_to,
    is_reserved,
    namespace_for,
    network_name_of,
    refused_namespace,
)

PREFIXED = Settings(namespace_prefix="cm-")


def test_no_prefix_maps_a_network_to_itself() -> None:
    assert namespace_for("demo", Settings()) == "demo"
    assert network_name_of("demo", Settings()) == "demo"


def test_the_prefix_goes_in_front_and_comes_off_again() -> None:
    assert namespace_for("demo", PREFIXED) == "cm-demo"
    assert network_name_of("cm-demo", PREFIXED) == "demo"


def test_the_length_limit_counts_the_prefix() -> None:
    assert namespace_for("a" * 60, PREFIXED) == "cm-" + "a" * 60
    with pytest.raises(InvalidArgument) as error:
        namespace_for("a" * 61, PREFIXED)
    assert error.value.field == "network_name"
    assert "at most 60 characters, got 61" in error.value.message
    assert "'cm-'" in error.value.message


@pytest.mark.parametrize("bad", ["", "Demo", "-x", "a_b", "a" * 64])
def test_bad_names_are_invalid_argument_naming_network_name(bad: str) -> None:
    with pytest.raises(InvalidArgument) as error:
        namespace_for(bad, Settings())
    assert error.value.field == "network_name"


@pytest.mark.parametrize(
    "name", ["kube-system", "kube-public", "kube-node-lease", "kube-x", "default"]
)
def test_kube_and_default_are_reserved(name: str) -> None:
    assert is_reserved(name, Settings())


def test_the_server_namespace_is_reserved_whatever_it_is_called() -> None:
    assert is_reserved("container-maker-system", Settings())
    assert not is_reserved("container-maker-system", Settings(server_namespace="cm-server"))
    assert is_reserved("cm-server", Settings(server_namespace="cm-server"))


@pytest.mark.parametrize("name", ["kubernetes", "kube", "defaults", "demo", "cm-default"])
def test_other_names_are_not_reserved(name: str) -> None:
    assert not is_reserved(name, Settings())


def test_a_namespace_belongs_to_the_tenant_of_its_label_only() -> None:
    assert belongs_to({TENANT_KEY: "a"}, "a")
    assert not belongs_to({TENANT_KEY: "b"}, "a")
    assert not belongs_to({}, "a")
    assert not belongs_to(None, "a")


def test_the_refusal_names_the_network_not_the_owner() -> None:
    error = refused_namespace("cm-demo", "a", PREFIXED)
    assert error.code.value == "PERMISSION_DENIED"
    assert "network demo is not available to tenant a" in error.message
    assert "cm-demo" not in error.message


@pytest.mark.parametrize("prefix", ["cm-", "a", "team1-", "x" * 62])
def test_good_prefixes(prefix: str) -> None:
    assert Settings(namespace_prefix=prefix).namespace_prefix == prefix


@pytest.mark.parametrize("prefix", ["-cm", "CM-", "cm_", "kube-", "x" * 63])
def test_bad_prefixes_are_refused(prefix: str) -> None:
    with pytest.raises(ValueError, match="namespace_prefix"):
        Settings(namespace_prefix=prefix)


def test_tenancy_settings_from_the_environment() -> None:
    settings = Settings.from_env(
        {
            "CONTAINER_MAKER_NAMESPACE_PREFIX": "cm-",
            "CONTAINER_MAKER_SERVER_NAMESPACE": "cm-system",
            "CONTAINER_MAKER_MAX_CONTAINERS_PER_TENANT": "7",
        }
    )
    assert (settings.namespace_prefix, settings.server_namespace) == ("cm-", "cm-system")
    assert settings.max_containers_per_tenant == 7
    assert Settings().max_containers_per_tenant == 100
    with pytest.raises(ValueError, match="MAX_CONTAINERS_PER_TENANT"):
        Settings.from_env({"CONTAINER_MAKER_MAX_CONTAINERS_PER_TENANT": "many"})


def test_admission_counts_the_cluster_and_the_creates_in_flight() -> None:
    admission = TenantAdmission(limit=2)
    with admission.admit("a", "id-1", lambda: set()):
        # id-1 is not visible in the cluster yet, but counts.
        with admission.admit("a", "id-2", lambda: set()):
            with pytest.raises(ResourceExhausted) as error, admission.admit("a", "id-3", set):
                pass
            assert "max_containers_per_tenant" in error.value.message
            assert "limit" in error.value.message
        # Another tenant has its own count.
        with admission.admit("b", "id-4", lambda: {"id-5"}):
            pass
    # Once visible, a container counts once, not twice.
    with admission.admit("a", "id-2", lambda: {"id-1"}):
        pass
    with pytest.raises(ResourceExhausted), admission.admit("a", "id-3", lambda: {"id-1", "id-2"}):
        pass


def test_concurrent_admissions_of_one_tenant_never_overshoot() -> None:
    admission = TenantAdmission(limit=5)
    live: set[str] = set()
    lock = threading.Lock()
    refused: list[str] = []
    start = threading.Barrier(20)

    def create(container_id: str) -> None:
        start.wait()
        try:
            with admission.admit("a", container_id, lambda: set(live)), lock:
                live.add(container_id)  # becomes visible while still in flight
        except ResourceExhausted:
            refused.append(container_id)

    threads = [threading.Thread(target=create, args=(f"id-{i}",)) for i in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(live) == 5
    assert len(refused) == 15
