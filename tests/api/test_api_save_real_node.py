"""saveContainer end to end on the real node, through gRPC: the snapshot agent really reads the
running container's filesystem and pushes an image to the node's registry, and new containers
really run from it."""

from __future__ import annotations

import base64
import gzip
import io
import json
import logging
import secrets
import tarfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
import pytest
from api_support import (
    SERVER_ACCOUNT,
    Running,
    delete_namespace,
    deployed_server_client,
    exec_in_pod,
    new_network_name,
    rpc_error,
    running_server,
    service_account_token,
    sidecar_settings,
    token_client,
)
from kubernetes import client
from snapshot_support import (
    SAVEAPP_PORT,
    AuthRegistry,
    Relay,
    attack_image,
    files_holding,
    saveapp_image,
)

from container_maker._proto import types_pb2 as pb
from container_maker.auth import LOCAL_IDENTITY
from container_maker.settings import LOCAL_INGRESS_DOMAIN, Settings
from container_maker.tenancy import assign_namespace
from container_maker_testcluster import images
from container_maker_testcluster.realnode import POD_GATEWAY

SNAPSHOT_DIR = Settings().snapshot_mount_path
LARGE_BYTES = 10 * 1024 * 1024


@dataclass
class SaveEnv:
    running: Running
    api: client.ApiClient
    registry: str
    saveapp: str
    saveapp_large: str
    relay: Relay
    settings: Settings
    server_api: client.ApiClient

    @property
    def stub(self) -> Any:
        return self.running.stub


ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def save_env(real_node_cluster: Any) -> Iterator[SaveEnv]:
    """The server runs with the deployed ServiceAccount's token: deploy/rbac.yaml is enough."""
    admin = real_node_cluster.api_client()
    api = deployed_server_client(real_node_cluster, admin)
    local = real_node_cluster.local
    registry = local.real_node.registry
    saveapp_ref = images.push(saveapp_image(), registry)
    large_ref = images.push(saveapp_image(LARGE_BYTES), registry)
    relay = Relay.to(registry)
    settings = sidecar_settings(
        registry,
        server_service_account=SERVER_ACCOUNT,  # it binds itself into each namespace
        ingress_domain=LOCAL_INGRESS_DOMAIN,  # as served_settings: EXPOSED containers here too
        registry=f"{registry}/saved",
        registry_endpoints={registry: relay.address},
    )
    try:
        with running_server(api, settings=settings) as running:
            yield SaveEnv(running, admin, registry, saveapp_ref, large_ref, relay, settings, api)
    finally:
        relay.close()
        api.close()
        admin.close()


@pytest.fixture
def network(save_env: SaveEnv) -> Iterator[str]:
    name = new_network_name("save")
    yield name
    delete_namespace(save_env.api, name)


def create(env: SaveEnv, network: str, image: str, name: str = "app") -> pb.ContainerResponse:
    request = pb.CreateContainerRequest(
        image_name=image,
        container_name=name,
        network_name=network,
        exposure_level=pb.EXPOSURE_LEVEL_INTERNAL,
        publish_information=[pb.PublishInformation(publish_port=80, target_port=SAVEAPP_PORT)],
        environment_variables={"FROM_REQUEST": "yes"},
        wait_until_ready=True,
    )
    response: pb.ContainerResponse = env.stub.createContainer(request, timeout=120)
    return response


def fetch(ip: str, path: str, timeout: float = 30) -> str:
    """GET a file the workload serves, from its pod IP (a pod on our node), once it answers."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            url = f"http://{ip}:{SAVEAPP_PORT}/{path}"
            with urllib.request.urlopen(url, timeout=5) as response:
                return str(response.read().decode())
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.3)


def registry_json(env: SaveEnv, path: str, accept: str = images.MEDIA_MANIFEST) -> Any:
    request = urllib.request.Request(f"http://{env.registry}/v2/{path}", headers={"Accept": accept})
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.load(response)


def save(env: SaveEnv, created: pb.ContainerResponse, network: str) -> pb.SavedPodResponse:
    reply = env.stub.saveContainer(
        pb.SaveContainerRequest(container_id=created.container_id, network_name=network),
        timeout=180,
    )
    assert len(reply.saved_pods) == 1
    saved: pb.SavedPodResponse = reply.saved_pods[0]
    return saved


def test_save_round_trip_keeps_files_and_image_config(
    save_env: SaveEnv, network: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    original = create(save_env, network, save_env.saveapp)
    first_boot = fetch(original.container_ip, "first-boot.txt")
    assert first_boot.startswith("first boot in ")

    saved = save(save_env, original, network)
    # The agent's progress reaches the server's log as it goes (measured, then bytes sent).
    progress = [r.getMessage() for r in caplog.records if "save progress" in r.getMessage()]
    assert any('"phase":"captured"' in line for line in progress), progress
    assert saved.namespace_name == network
    assert saved.pod_name.startswith("app")
    repository, _, digest = saved.image_name.partition("@sha256:")
    assert repository.startswith(f"{save_env.registry}/saved/{network}/app")
    assert len(digest) == 64

    # What the registry holds: the original config kept, one squashed layer, our annotations.
    path = repository.removeprefix(save_env.registry + "/")
    manifest = registry_json(save_env, f"{path}/manifests/sha256:{digest}")
    assert len(manifest["layers"]) == 1
    assert manifest["annotations"]["io.container-maker.container-id"] == original.container_id
    assert manifest["annotations"]["io.container-maker.namespace"] == network
    config = registry_json(save_env, f"{path}/blobs/{manifest['config']['digest']}", "*/*")
    assert config["config"]["Entrypoint"] == ["/start"]
    assert config["config"]["Cmd"] == ["from-image-cmd"]
    assert config["config"]["User"] == "65534:65534"
    assert config["config"]["WorkingDir"] == "/www"
    assert "SAVEAPP_ORIGIN=image-config" in config["config"]["Env"]
    assert config["config"]["Labels"] == {"org.example.saveapp": "yes"}

    # A new container from the saved reference: the file written by the first container's
    # entrypoint is there (not rewritten), and the image's Cmd and Env are in force.
    copy = create(save_env, network, saved.image_name, name="copy")
    assert fetch(copy.container_ip, "first-boot.txt") == first_boot
    assert fetch(copy.container_ip, "args.txt").strip() == "from-image-cmd"
    env_lines = fetch(copy.container_ip, "env.txt").splitlines()
    assert "SAVEAPP_ORIGIN=image-config" in env_lines
    # The original keeps running, unharmed.
    assert fetch(original.container_ip, "first-boot.txt") == first_boot


def test_two_saves_give_two_references(save_env: SaveEnv, network: str) -> None:
    created = create(save_env, network, save_env.saveapp)
    first = save(save_env, created, network)
    second = save(save_env, created, network)
    assert first.image_name != second.image_name


def test_save_of_a_missing_container_is_not_found(save_env: SaveEnv, network: str) -> None:
    create(save_env, network, save_env.saveapp)
    error = rpc_error(
        save_env.stub.saveContainer,
        pb.SaveContainerRequest(
            container_id="00000000-0000-4000-8000-000000000000", network_name=network
        ),
    )
    assert error.code() is grpc.StatusCode.NOT_FOUND


def exec_in(env: SaveEnv, network: str, pod: str, container: str, *command: str) -> str:
    """Run a command in one of a pod's containers with the server's credentials (its token)."""
    return exec_in_pod(env.api, network, pod, container, *command)


def tags(env: SaveEnv, network: str, name: str) -> list[str]:
    try:
        listed = registry_json(env, f"saved/{network}/{name}/tags/list", "application/json")
    except urllib.error.HTTPError as e:
        if e.code == 404:
            return []
        raise
    return list(listed.get("tags") or [])


def test_save_over_the_size_limit_is_refused_before_writing(
    save_env: SaveEnv, network: str
) -> None:
    """busybox alone is about 2 MB: over a 1 MiB limit. Nothing is pushed; the container runs."""
    request = pb.CreateContainerRequest(
        image_name=save_env.saveapp,
        container_name="big",
        network_name=network,
        exposure_level=pb.EXPOSURE_LEVEL_INTERNAL,
        publish_information=[pb.PublishInformation(publish_port=80, target_port=SAVEAPP_PORT)],
        resource_requirements=pb.ResourceRequirements(snapshot_size_limit="1Mi"),
        wait_until_ready=True,
    )
    created = save_env.stub.createContainer(request, timeout=120)
    error = rpc_error(
        save_env.stub.saveContainer,
        pb.SaveContainerRequest(container_id=created.container_id, network_name=network),
        timeout=120,
    )
    assert error.code() is grpc.StatusCode.RESOURCE_EXHAUSTED, error.details()
    assert "over the snapshot size limit of 1048576 bytes" in error.details()
    assert tags(save_env, network, "big") == []
    assert fetch(created.container_ip, "first-boot.txt").startswith("first boot")
    pod = client.CoreV1Api(save_env.api).list_namespaced_pod(network).items[0].metadata.name
    # Nothing in the shared volume: the lock is in the sidecar's own.
    listing = exec_in(save_env, network, pod, "big", "ls", "-A", SNAPSHOT_DIR)
    assert listing.split() == []


def test_save_with_the_registry_unreachable_is_unavailable_and_harmless(
    save_env: SaveEnv, network: str
) -> None:
    created = create(save_env, network, save_env.saveapp)
    before = fetch(created.container_ip, "first-boot.txt")
    # The same cluster and agent, but the registry is reached at a port where nothing listens.
    settings = save_env.settings.model_copy(
        update={"registry_endpoints": {save_env.registry: f"{POD_GATEWAY}:1"}}
    )
    with running_server(save_env.server_api, settings=settings) as other:
        error = rpc_error(
            other.stub.saveContainer,
            pb.SaveContainerRequest(container_id=created.container_id, network_name=network),
            timeout=120,
        )
    assert error.code() is grpc.StatusCode.UNAVAILABLE, error.details()
    assert "unreachable" in error.details()
    assert fetch(created.container_ip, "first-boot.txt") == before
    pod = client.CoreV1Api(save_env.api).list_namespaced_pod(network).items[0]
    assert all(s.restart_count == 0 for s in pod.status.container_statuses)


def test_save_of_a_pod_that_is_not_running_is_failed_precondition(
    save_env: SaveEnv, network: str
) -> None:
    request = pb.CreateContainerRequest(
        image_name=f"{save_env.registry}/container-maker/absent:1",
        container_name="pending",
        network_name=network,
        exposure_level=pb.EXPOSURE_LEVEL_INTERNAL,
    )
    created = save_env.stub.createContainer(request, timeout=60)
    error = rpc_error(
        save_env.stub.saveContainer,
        pb.SaveContainerRequest(container_id=created.container_id, network_name=network),
        timeout=60,
    )
    assert error.code() is grpc.StatusCode.FAILED_PRECONDITION, error.details()
    assert "only a running container can be saved" in error.details()


def test_two_saves_at_once_one_is_refused_and_nothing_is_left_behind(
    save_env: SaveEnv, network: str
) -> None:
    created = create(save_env, network, save_env.saveapp_large, name="twice")
    request = pb.SaveContainerRequest(container_id=created.container_id, network_name=network)
    start = threading.Barrier(2)

    def attempt() -> grpc.StatusCode | str:
        start.wait()
        try:
            reply = save_env.stub.saveContainer(request, timeout=180)
            return str(reply.saved_pods[0].image_name)
        except grpc.RpcError as e:
            assert "another save of this container is in progress" in str(e.details())
            code: grpc.StatusCode = e.code()
            return code

    with ThreadPoolExecutor(2) as pool:
        outcomes = list(pool.map(lambda _: attempt(), range(2)))
    assert grpc.StatusCode.ABORTED in outcomes, outcomes
    assert any(isinstance(o, str) and "@sha256:" in o for o in outcomes), outcomes
    # No temporary files in the shared snapshot volume (the lock is in the sidecar's own).
    pod = client.CoreV1Api(save_env.api).list_namespaced_pod(network).items[0].metadata.name
    listing = exec_in(save_env, network, pod, "twice", "ls", "-A", SNAPSHOT_DIR)
    assert listing.split() == []


def test_an_image_without_shell_or_tar_is_saved_and_runs_again(
    save_env: SaveEnv, real_node_cluster: Any, network: str
) -> None:
    """The pause image is one static binary: the agent needs nothing from the user's image."""
    request = pb.CreateContainerRequest(
        image_name=real_node_cluster.image("pause"),
        container_name="bare",
        network_name=network,
        exposure_level=pb.EXPOSURE_LEVEL_INTERNAL,
        wait_until_ready=True,
    )
    created = save_env.stub.createContainer(request, timeout=120)
    saved = save(save_env, created, network)
    copy = pb.CreateContainerRequest(
        image_name=saved.image_name,
        container_name="bare-copy",
        network_name=network,
        exposure_level=pb.EXPOSURE_LEVEL_INTERNAL,
        wait_until_ready=True,
    )
    again = save_env.stub.createContainer(copy, timeout=120)
    assert again.status.ready


@dataclass
class PasswordRegistry:
    """A registry of the test's own that wants a password, with the Secret in ``network`` and a
    server configured to push there (``env``)."""

    env: SaveEnv
    auth: AuthRegistry
    relay: Relay
    user: str
    password: str
    secret: str  # the Secret's .dockerconfigjson, as the sidecar's file holds it

    @property
    def needles(self) -> list[bytes]:
        """What must never leave the sidecar: the password, its base64 forms, the file."""
        return [
            self.password.encode(),
            b64(f"{self.user}:{self.password}").encode(),
            b64(self.password).encode(),
            self.secret.encode(),
        ]


@contextmanager
def password_registry(
    save_env: SaveEnv, network: str, *, insecure: bool = True
) -> Iterator[PasswordRegistry]:
    user, password = "pusher", secrets.token_urlsafe(18)
    auth = AuthRegistry(user, password)
    relay = Relay.to(auth.address)
    core = client.CoreV1Api(save_env.api)
    try:
        core.create_namespace({"metadata": {"name": network}})
        # Made by an admin (to hold the Secret first): assigned to the server's tenant.
        assign_namespace(save_env.api, network, LOCAL_IDENTITY.tenant)
        config = json.dumps({"auths": {auth.address: {"auth": b64(f"{user}:{password}")}}})
        core.create_namespaced_secret(
            network,
            {
                "metadata": {"name": "push-creds"},
                "type": "kubernetes.io/dockerconfigjson",
                "data": {".dockerconfigjson": b64(config)},
            },
        )
        settings = save_env.settings.model_copy(
            update={
                "registry": f"{auth.address}/saved",
                "registry_secret": "push-creds",
                "registry_endpoints": {
                    **save_env.settings.registry_endpoints,
                    auth.address: relay.address,
                },
                # The relay and the registry speak plain HTTP: named insecure, as an operator
                # must, unless the test is about the refusal.
                "registry_insecure": (auth.address,) if insecure else (),
            }
        )
        with running_server(save_env.server_api, settings=settings) as server:
            env = SaveEnv(
                server, save_env.api, save_env.registry, save_env.saveapp,
                save_env.saveapp_large, relay, settings, save_env.server_api,
            )  # fmt: skip
            yield PasswordRegistry(env, auth, relay, user, password, config)
    finally:
        relay.close()
        auth.close()


def test_credentials_come_from_the_secret_and_appear_nowhere_else(
    save_env: SaveEnv, network: str, caplog: pytest.LogCaptureFixture
) -> None:
    """Pushing to a registry that wants a password: with the configured Secret in the
    namespace the save succeeds; the password is in no pod spec and no log line; without the
    Secret the registry's refusal is FAILED_PRECONDITION."""
    caplog.set_level(logging.DEBUG)
    core = client.CoreV1Api(save_env.api)
    bare = new_network_name("save-noauth")
    try:
        with password_registry(save_env, network) as reg:
            env, auth, password = reg.env, reg.auth, reg.password
            created = create(env, network, save_env.saveapp)
            saved = save(env, created, network)
            assert saved.image_name.startswith(f"{auth.address}/saved/{network}/app@sha256:")
            path = saved.image_name.removeprefix(auth.address + "/").replace("@", "/manifests/")
            manifest = json.loads(auth.get(path, reg.user, password, images.MEDIA_MANIFEST))
            assert manifest["annotations"]["io.container-maker.namespace"] == network
            assert reg.relay.saw_authorization  # named insecure: the credentials went

            other = create(env, bare, save_env.saveapp)
            error = rpc_error(
                env.stub.saveContainer,
                pb.SaveContainerRequest(container_id=other.container_id, network_name=bare),
                timeout=120,
            )
            assert error.code() is grpc.StatusCode.FAILED_PRECONDITION, error.details()
            assert "refused our credentials" in error.details()
        pods = core.list_namespaced_pod(network).items
        assert password not in json.dumps(save_env.api.sanitize_for_serialization(pods))
        assert all(password not in record.getMessage() for record in caplog.records)
        assert password not in error.details()
    finally:
        delete_namespace(save_env.api, bare)


def test_credentials_never_go_over_plain_http_to_a_registry_not_named_insecure(
    save_env: SaveEnv, network: str
) -> None:
    """The same registry, plain HTTP, but the operator did not name it insecure: the save is
    FAILED_PRECONDITION naming the flag, and no request with credentials reached it."""
    with password_registry(save_env, network, insecure=False) as reg:
        created = create(reg.env, network, save_env.saveapp)
        error = rpc_error(
            reg.env.stub.saveContainer,
            pb.SaveContainerRequest(container_id=created.container_id, network_name=network),
            timeout=120,
        )
        assert error.code() is grpc.StatusCode.FAILED_PRECONDITION, error.details()
        assert (
            f"refusing to send registry credentials over plain HTTP to {reg.auth.address}"
            in error.details()
        )
        assert "--registry-insecure" in error.details()
        assert not reg.relay.saw_authorization
        assert files_holding(reg.auth.dir / "data", reg.needles) == []
        assert reg.password not in error.details()


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def test_a_container_running_as_root_is_saved_too(save_env: SaveEnv, network: str) -> None:
    """The agent keeps the runtime's default capabilities, a strict superset of the user's
    (which drops NET_RAW and MKNOD): what the kernel asks for to read /proc/<pid>/root."""
    image = images.push(saveapp_image(user="0:0"), save_env.registry)
    original = create(save_env, network, image)
    first_boot = fetch(original.container_ip, "first-boot.txt")
    saved = save(save_env, original, network)
    copy = create(save_env, network, saved.image_name, name="copy")
    assert fetch(copy.container_ip, "first-boot.txt") == first_boot
    # The other way round is closed: the sidecar's process is non-dumpable, so even a root user
    # container (same uid, same capabilities) cannot open its files or environment.
    pod = client.CoreV1Api(save_env.api).list_namespaced_pod(network).items
    name = next(p.metadata.name for p in pod if p.metadata.name.startswith("app"))
    probe = (
        "for p in /proc/[0-9]*; do "
        "tr '\\0' ' ' < $p/cmdline 2>/dev/null | grep -q '^/snapshot-agent idle' && "
        "{ echo pid=${p#/proc/}; ls $p/root/ >/dev/null 2>&1 && echo root-readable; "
        "cat $p/environ >/dev/null 2>&1 && echo environ-readable; }; done; true"
    )
    output = exec_in(save_env, network, name, "app", "sh", "-c", probe)
    assert output.count("pid=") == 1, output  # the sidecar's idle process, found
    assert "readable" not in output, output


def test_without_pods_exec_rights_save_is_permission_denied(
    save_env: SaveEnv, network: str
) -> None:
    """The deployed rules (the cluster-wide role and the namespaced one, here granted
    cluster-wide) minus pods/exec: the save names what is missing."""
    rbac = client.RbacAuthorizationV1Api(save_env.api)
    core = client.CoreV1Api(save_env.api)
    name = f"cm-noexec-{secrets.token_hex(3)}"
    deployed = [
        *rbac.read_cluster_role("container-maker").rules,
        *rbac.read_cluster_role("container-maker-namespaced").rules,
    ]
    rules = [
        save_env.api.sanitize_for_serialization(r)
        for r in deployed
        if "pods/exec" not in (r.resources or [])
    ]
    assert len(rules) == len(deployed) - 1
    server_ns = "container-maker-system"
    subject = {"kind": "ServiceAccount", "name": name, "namespace": server_ns}
    ref = {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": name}
    try:
        rbac.create_cluster_role({"metadata": {"name": name}, "rules": rules})
        core.create_namespaced_service_account(server_ns, {"metadata": {"name": name}})
        rbac.create_cluster_role_binding(
            {"metadata": {"name": name}, "roleRef": ref, "subjects": [subject]}
        )
        created = create(save_env, network, save_env.saveapp)
        api = token_client(save_env.api, service_account_token(save_env.api, server_ns, name, 600))
        try:
            with running_server(api, settings=save_env.settings) as other:
                error = rpc_error(
                    other.stub.saveContainer,
                    pb.SaveContainerRequest(
                        container_id=created.container_id, network_name=network
                    ),
                    timeout=60,
                )
        finally:
            api.close()
        assert error.code() is grpc.StatusCode.PERMISSION_DENIED, error.details()
        assert "pods/exec" in error.details()
    finally:
        rbac.delete_cluster_role_binding(name)
        rbac.delete_cluster_role(name)
        core.delete_namespaced_service_account(name, server_ns)


def pod_names(resources: Any) -> list[str]:
    """The pods in a container's associated-resources tree, at any depth."""
    names: list[str] = []
    for resource in resources:
        if resource.resource_type == "pod":
            names.append(resource.resource_name)
        names += pod_names(resource.associated_resources)
    return names


@pytest.mark.parametrize(
    ("level", "top"),
    [(pb.EXPOSURE_LEVEL_CLUSTER_LOCAL, "service"), (pb.EXPOSURE_LEVEL_EXPOSED, "ingress")],
)
def test_a_container_of_any_exposure_level_saves_its_one_pod(
    save_env: SaveEnv, network: str, level: int, top: str
) -> None:
    created = save_env.stub.createContainer(
        pb.CreateContainerRequest(
            image_name=save_env.saveapp,
            container_name="app",
            network_name=network,
            exposure_level=level,
            publish_information=[pb.PublishInformation(publish_port=80, target_port=SAVEAPP_PORT)],
        ),
        timeout=120,
    )
    assert created.container_type == top
    [pod] = pod_names(created.associated_resources)
    # The real node has no load balancer or ingress controller, so an EXPOSED container stays
    # short of READY (its address never comes); its pod runs, which is what a save needs.
    deadline = time.monotonic() + 120
    request = pb.GetContainerRequest(container_id=created.container_id, network_name=network)
    while save_env.stub.getContainer(request, timeout=30).status.phase not in (
        pb.CONTAINER_PHASE_RUNNING,
        pb.CONTAINER_PHASE_READY,
    ):
        assert time.monotonic() < deadline, "the container's pod never ran"
        time.sleep(0.5)

    saved = save(save_env, created, network)
    assert saved.pod_name == pod
    assert saved.namespace_name == network
    assert "@sha256:" in saved.image_name


# --- Review finding 2, run as the attacker would ---------------------------------------------

SECRET_DIR = "/var/run/secrets/container-maker/registry"  # in the snapshot sidecar only

SWAP_ON_OPEN = f"""#!/bin/sh
# ..0big sorts before config.json: the agent opens it first, and the swap happens right then.
mkdir -p /x/..data
head -c 16777216 /dev/zero > /x/..data/..0big
echo "the user's own" > /x/..data/config.json
/swap_on_open /x/..data/..0big /x /x.old {SECRET_DIR} > /www/swap.txt 2>&1 &
exec /start "$@"
"""

RENAME_RACE = f"""#!/bin/sh
mkdir -p /r
/rename_race /r 10000 "$SECRET_SIZE" {SECRET_DIR}/config.json 300 /www/race-ready.txt \\
  > /www/race.txt 2>&1 &
exec /start "$@"
"""


def fetch_until(ip: str, path: str, text: str, timeout: float = 60) -> str:
    """The file the workload serves, once it holds ``text`` (or as it is at the deadline)."""
    deadline = time.monotonic() + timeout
    while text not in (content := fetch(ip, path)) and time.monotonic() < deadline:
        time.sleep(0.3)
    return content


def layer_tars(reg: PasswordRegistry, image_name: str) -> list[bytes]:
    """Every layer blob of the pushed manifest, fetched from the registry and gunzipped."""
    repository, _, digest = image_name.partition("@")
    path = repository.removeprefix(reg.auth.address + "/")
    manifest = json.loads(
        reg.auth.get(f"{path}/manifests/{digest}", reg.user, reg.password, images.MEDIA_MANIFEST)
    )
    blobs = [
        reg.auth.get(f"{path}/blobs/{layer['digest']}", reg.user, reg.password, "*/*")
        for layer in manifest["layers"]
    ]
    assert blobs
    return [gzip.decompress(blob) for blob in blobs]


def attack_outcome(reg: PasswordRegistry, created: pb.ContainerResponse, network: str) -> Any:
    """saveContainer during the attack: the reply, or the FAILED_PRECONDITION it may give."""
    try:
        saved = save(reg.env, created, network)
    except grpc.RpcError as e:
        logging.getLogger(__name__).info("save under attack refused: %s", e.details())
        assert e.code() is grpc.StatusCode.FAILED_PRECONDITION, e.details()
        assert "changed while saving" in str(e.details()), e.details()
        return e
    logging.getLogger(__name__).info("save under attack pushed %s", saved.image_name)
    return saved


def assert_no_secret_left(reg: PasswordRegistry, outcome: Any) -> dict[str, tarfile.TarInfo]:
    """No byte of the password (nor its base64, nor the Secret's file) in any pushed layer nor
    anywhere in the registry's storage (partial uploads included); the layer's entries."""
    assert files_holding(reg.auth.dir / "data", reg.needles) == []
    if isinstance(outcome, grpc.RpcError):
        return {}
    entries: dict[str, tarfile.TarInfo] = {}
    for data in layer_tars(reg, outcome.image_name):
        assert not any(needle in data for needle in reg.needles), "the secret is in a layer"
        with tarfile.open(fileobj=io.BytesIO(data)) as tar:
            entries.update((m.name.rstrip("/"), m) for m in tar.getmembers())
    return entries


def test_an_inotify_symlink_swap_never_puts_the_registry_secret_in_the_snapshot(
    save_env: SaveEnv, network: str
) -> None:
    """Root in the user's container swaps /x for a symlink to the sidecar's Secret directory at
    the moment the agent opens /x/..data/..0big (the review's experiment, in a real pod)."""
    image = images.push(
        attack_image("attack-swap", SWAP_ON_OPEN, ("swap_on_open",)), save_env.registry
    )
    with password_registry(save_env, network) as reg:
        created = create(reg.env, network, image)
        said = fetch_until(created.container_ip, "swap.txt", "armed on /x/..data/..0big")
        assert said.startswith("armed on"), said
        outcome = attack_outcome(reg, created, network)
        # The attack ran: the agent's open fired it.
        assert "swapped /x" in fetch_until(created.container_ip, "swap.txt", "swapped /x")
        entries = assert_no_secret_left(reg, outcome)
        if entries:
            # Read through the descriptors taken before the swap: the user's own files, or x
            # as the link it became; never the sidecar's.
            x = entries["x"]
            assert x.isdir() or (x.issym() and x.linkname == SECRET_DIR), x
            if x.isdir():
                assert entries["x/..data/config.json"].size == len("the user's own\n")


def test_a_rename_race_over_many_files_never_puts_the_registry_secret_in_the_snapshot(
    save_env: SaveEnv, network: str
) -> None:
    """Root in the user's container keeps renaming, over 10,000 files of exactly the Secret's
    size, an absolute symlink to the Secret and a regular file again, while the save runs."""
    image = images.push(
        attack_image("attack-race", RENAME_RACE, ("rename_race",)), save_env.registry
    )
    with password_registry(save_env, network) as reg:
        request = pb.CreateContainerRequest(
            image_name=image,
            container_name="app",
            network_name=network,
            exposure_level=pb.EXPOSURE_LEVEL_INTERNAL,
            publish_information=[pb.PublishInformation(publish_port=80, target_port=SAVEAPP_PORT)],
            environment_variables={"SECRET_SIZE": str(len(reg.secret))},
            wait_until_ready=True,
        )
        created = reg.env.stub.createContainer(request, timeout=120)
        fetch(created.container_ip, "race-ready.txt", timeout=120)  # the race is on
        before = int(fetch(created.container_ip, "race-ready.txt.progress", timeout=60))
        outcome = attack_outcome(reg, created, network)
        after = int(fetch(created.container_ip, "race-ready.txt.progress", timeout=60))
        # The attack ran while the save walked: whole passes of renames ended during the call
        # (how many names the walk caught as links is up to the scheduler).
        assert after > before, (before, after)
        entries = assert_no_secret_left(reg, outcome)
        files = {name: e for name, e in entries.items() if name.startswith("r/f")}
        links = [e for e in files.values() if e.issym()]
        assert all(e.linkname == f"{SECRET_DIR}/config.json" for e in links)
        if entries:
            # Every name is there, as the user's own file or as the link it was when read.
            assert len(files) == 10000, (len(files), len(links))
        logging.getLogger(__name__).info(
            "rename race: %d swaps during the save, %d names caught as links",
            after - before,
            len(links),
        )
        assert all(
            e.size == len(reg.secret)
            for n, e in entries.items()
            if n.startswith("r/f") and e.isreg()
        )
