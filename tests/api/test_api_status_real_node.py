"""Each pod reason of a container's status provoked for real on the real node, through gRPC.

The kubelet and containerd of the real node really fail to pull, really restart a container
that exits 1, and the kernel really OOM-kills a process over its cgroup's memory limit; the
status a client reads (createContainer, getContainer, listContainer, watchContainers) must say
so with Kubernetes' own reasons and the details (restarts, last exit code). The unschedulable
request is tested on the simulated nodes (``test_api_status.py``): scheduling is the same there.

The workloads are the ``testapp`` image's busybox layer (already in the node's registry) under
new image configs whose entrypoint does what each case needs: the API cannot override a
container's command, and the test images under ``cluster/`` stay as they are. Only the user's
container runs in the pods (the sidecar plugins are blocked: their images play no part here).
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import grpc
import pytest
from api_support import Running, delete_namespace, new_network_name, rpc_error, running_server
from kubernetes import client

from container_maker._proto import types_pb2 as pb
from container_maker.identity import label_selector
from container_maker.settings import Settings
from container_maker_testcluster import images
from container_maker_testcluster.net import free_port

# Seconds any one reason may take to appear (a bound, not an expectation). The kubelet's
# back-off starts at 10 s and doubles; a pod spec cannot shorten it.
REASON_TIMEOUT = 90.0
EXIT_1 = ["/bin/sh", "-c", "echo failing on purpose; exit 1"]
# The shell itself holds 100 MB in a variable (head and tr stream with small buffers), so the
# largest process of the cgroup, the one the OOM killer picks, is the container's main process.
MEMORY_HOG = ["/bin/sh", "-c", "x=$(head -c 100000000 /dev/zero | tr '\\0' a); sleep 3600"]
SMALL_MEMORY = pb.ResourceRequirements(memory_request="16Mi", memory_limit="32Mi")


def with_entrypoint(base: images.Image, name: str, entrypoint: list[str]) -> images.Image:
    """``base`` under a new image config whose entrypoint is ``entrypoint``: the layers are
    shared, only the config and the manifest are new (deterministic, like the base)."""

    def canonical(value: object) -> bytes:
        return json.dumps(value, sort_keys=True, separators=(",", ":")).encode()

    def digest(data: bytes) -> str:
        return "sha256:" + hashlib.sha256(data).hexdigest()

    manifest = json.loads(base.manifest)
    config = json.loads(base.blobs[manifest["config"]["digest"]])
    config["config"] = {**config["config"], "Entrypoint": entrypoint}
    config["history"] = [{"created_by": f"tests/api/test_api_status_real_node.py ({name})"}]
    config_bytes = canonical(config)
    manifest["config"] = {
        "mediaType": images.MEDIA_CONFIG,
        "digest": digest(config_bytes),
        "size": len(config_bytes),
    }
    blobs = {layer["digest"]: base.blobs[layer["digest"]] for layer in manifest["layers"]}
    blobs[digest(config_bytes)] = config_bytes
    return images.Image(name, "1", canonical(manifest), blobs)


@dataclass
class StatusEnv:
    running: Running
    api: client.ApiClient
    registry: str
    exit_1: str
    memory_hog: str
    created_at: dict[str, float] = field(default_factory=dict)

    @property
    def stub(self) -> Any:
        return self.running.stub


@pytest.fixture(scope="module")
def status_env(real_node_cluster: Any) -> Iterator[StatusEnv]:
    registry = real_node_cluster.local.real_node.registry
    testapp = images.build_testapp()
    exit_1 = images.push(with_entrypoint(testapp, "exit-1", EXIT_1), registry)
    hog = images.push(with_entrypoint(testapp, "memory-hog", MEMORY_HOG), registry)
    api = real_node_cluster.api_client()
    settings = Settings(blocked_plugins=("snapshot", "status"))
    try:
        with running_server(api, settings=settings) as running:
            yield StatusEnv(running, api, registry, exit_1, hog)
    finally:
        api.close()


@pytest.fixture
def network(status_env: StatusEnv) -> Iterator[str]:
    name = new_network_name("status")
    yield name
    delete_namespace(status_env.api, name)


def create(env: StatusEnv, network: str, image: str, name: str, **changes: Any) -> Any:
    request = pb.CreateContainerRequest(
        image_name=image,
        container_name=name,
        network_name=network,
        exposure_level=pb.EXPOSURE_LEVEL_INTERNAL,
        publish_information=[pb.PublishInformation(publish_port=80, target_port=8080)],
        **changes,
    )
    started = time.monotonic()
    created = env.stub.createContainer(request, timeout=60)
    env.created_at[created.container_id] = started
    return created


def get(env: StatusEnv, created: Any) -> Any:
    return env.stub.getContainer(
        pb.GetContainerRequest(
            container_id=created.container_id, network_name=created.container_network
        ),
        timeout=30,
    )


def reasons(response: Any) -> set[str]:
    return {c.reason for c in response.status.conditions}


def condition(response: Any, reason: str) -> Any:
    (found,) = [c for c in response.status.conditions if c.reason == reason]
    return found


def since_created(env: StatusEnv, created: Any) -> str:
    return f"{time.monotonic() - env.created_at[created.container_id]:.1f} s after create"


def poll(env: StatusEnv, created: Any, ready: Callable[[Any], bool]) -> Any:
    """getContainer every half second until ``ready`` accepts the answer (bounded)."""
    started = time.monotonic()
    while True:
        value = get(env, created)
        if ready(value):
            print(f"\n  get, {since_created(env, created)}: {reasons(value)}")
            return value
        assert time.monotonic() - started < REASON_TIMEOUT, f"never ready: {value}"
        time.sleep(0.5)


def watch_until(env: StatusEnv, created: Any, ready: Callable[[Any], bool]) -> Any:
    """The first container event of ``created``'s watch that ``ready`` accepts (bounded by
    the call's deadline)."""
    call = env.stub.watchContainers(
        pb.WatchContainersRequest(
            network_name=created.container_network, container_id=created.container_id
        ),
        timeout=REASON_TIMEOUT,
    )
    try:
        for event in call:
            if event.HasField("container") and ready(event.container):
                print(f"\n  watch, {since_created(env, created)}: {reasons(event.container)}")
                return event.container
    finally:
        call.cancel()
    raise AssertionError("the watch ended before the status was seen")


def pod_of(env: StatusEnv, created: Any) -> Any:
    (pod,) = (
        client.CoreV1Api(env.api)
        .list_namespaced_pod(
            created.container_network,
            label_selector=label_selector(created.container_id),
        )
        .items
    )
    return pod


def kernel_log() -> list[str]:
    """The kernel's message buffer (the real node runs as root on this machine)."""
    result = subprocess.run(["dmesg"], capture_output=True, text=True, check=True, timeout=30)
    return result.stdout.splitlines()


PULL_REASONS = ("ErrImagePull", "ImagePullBackOff")


def pull_failure(env: StatusEnv, created: Any, name: str) -> tuple[Any, Any]:
    """Once the container ``name`` reports a pull error: the response and that condition,
    checked for what every pull failure says (FAILED, not ready, naming the user's container)."""
    got = poll(env, created, lambda r: bool(reasons(r) & set(PULL_REASONS)))
    assert got.status.phase == pb.CONTAINER_PHASE_FAILED
    assert got.status.ready is False
    (pull,) = [c for c in got.status.conditions if c.reason in PULL_REASONS]
    assert (pull.resource_type, pull.resource_name) == ("pod_container", name)
    assert "cannot be pulled" in pull.message
    return got, pull


def test_a_nonexistent_image_is_failed_with_the_pull_error(
    status_env: StatusEnv, network: str
) -> None:
    image = f"{status_env.registry}/container-maker/does-not-exist:1"
    created = create(status_env, network, image, "missing")
    got, _ = pull_failure(status_env, created, "missing")
    assert got.status.restart_count == 0
    assert not got.status.HasField("last_exit_code")
    # The kubelet's back-off follows the first failure: ImagePullBackOff, still FAILED.
    backoff = poll(status_env, created, lambda r: "ImagePullBackOff" in reasons(r))
    assert backoff.status.phase == pb.CONTAINER_PHASE_FAILED
    assert "does-not-exist" in condition(backoff, "ImagePullBackOff").message
    listed = status_env.stub.listContainer(
        pb.ListContainerRequest(network_name=network), timeout=30
    )
    (only,) = listed.containers
    assert only.status.phase == pb.CONTAINER_PHASE_FAILED
    assert reasons(only) & {"ErrImagePull", "ImagePullBackOff"}


def test_an_image_whose_registry_is_down_is_failed_naming_the_refused_connection(
    status_env: StatusEnv, network: str
) -> None:
    """A registry on a loopback port where nothing listens (a port just found free, below the
    ephemeral range so no outgoing connection takes it): containerd's pull is refused, on
    loopback, and the user reads the pull error with the reason why."""
    down = f"127.0.0.1:{free_port()}"
    image = f"{down}/container-maker/testapp:1"
    created = create(status_env, network, image, "unreachable")
    _, pull = pull_failure(status_env, created, "unreachable")
    print(f"  {pull.reason}: {pull.message}")
    # The kubelet's own words, carried through: which registry, and that it refused (containerd
    # reaches a loopback registry without a hosts.toml over plain HTTP, as the message shows).
    assert down in pull.message
    assert "connection refused" in pull.message
    # Still so once the kubelet backs off.
    backoff = poll(status_env, created, lambda r: "ImagePullBackOff" in reasons(r))
    assert backoff.status.phase == pb.CONTAINER_PHASE_FAILED
    print(f"  ImagePullBackOff: {condition(backoff, 'ImagePullBackOff').message}")
    assert down in condition(backoff, "ImagePullBackOff").message
    assert "connection refused" in condition(backoff, "ImagePullBackOff").message


def test_an_image_that_exits_1_is_a_crash_loop_with_restarts_and_exit_code(
    status_env: StatusEnv, network: str
) -> None:
    created = create(status_env, network, status_env.exit_1, "crashing")
    seen = watch_until(status_env, created, lambda c: "CrashLoopBackOff" in reasons(c))
    assert seen.status.phase == pb.CONTAINER_PHASE_FAILED
    assert seen.status.ready is False
    assert seen.status.restart_count >= 1
    assert seen.status.last_exit_code == 1
    loop = condition(seen, "CrashLoopBackOff")
    assert (loop.resource_type, loop.resource_name) == ("pod_container", "crashing")
    assert "exit code 1" in loop.message
    assert f"restarted {seen.status.restart_count} times" in loop.message
    assert "OOMKilled" not in reasons(seen)
    # getContainer and listContainer say the same (the restarts may have gone on meanwhile).
    got = poll(status_env, created, lambda r: "CrashLoopBackOff" in reasons(r))
    assert got.status.phase == pb.CONTAINER_PHASE_FAILED
    assert got.status.last_exit_code == 1
    assert got.status.restart_count >= seen.status.restart_count
    listed = status_env.stub.listContainer(
        pb.ListContainerRequest(network_name=network), timeout=30
    )
    (only,) = listed.containers
    assert only.status.last_exit_code == 1
    # What the kubelet itself recorded: a plain error exit, not an OOM kill.
    (cs,) = pod_of(status_env, created).status.container_statuses
    assert cs.last_state.terminated.exit_code == 1
    assert cs.last_state.terminated.reason == "Error"


def test_a_memory_hog_over_its_limit_is_oom_killed(status_env: StatusEnv, network: str) -> None:
    created = create(
        status_env, network, status_env.memory_hog, "hog", resource_requirements=SMALL_MEMORY
    )
    got = poll(status_env, created, lambda r: "OOMKilled" in reasons(r))
    oom = condition(got, "OOMKilled")
    assert (oom.resource_type, oom.resource_name) == ("pod_container", "hog")
    assert "exceeding its memory limit" in oom.message
    assert "exit code 137" in oom.message  # SIGKILL
    assert got.status.last_exit_code == 137
    # Seen while the container was dead (not ready) or once the kubelet had restarted it and
    # the hog was filling its memory again (running, so READY: Kubernetes itself says Ready
    # then); the reason is kept from the last termination either way.
    assert got.status.ready is (got.status.phase == pb.CONTAINER_PHASE_READY)
    # The memory limit really is the pod's: the kubelet recorded the kernel's OOM kill.
    pod = pod_of(status_env, created)
    assert pod.spec.containers[0].resources.limits["memory"] == "32Mi"
    (cs,) = pod.status.container_statuses
    ended = (cs.state.terminated if cs.state else None) or cs.last_state.terminated
    assert (ended.reason, ended.exit_code) == ("OOMKilled", 137)
    # And the kernel's OOM killer did it, within this pod's memory cgroup (cgroup v1 here).
    kills = [line for line in kernel_log() if "oom-kill:constraint=CONSTRAINT_MEMCG" in line]
    assert any(f"/pod{pod.metadata.uid}" in line and "task=sh" in line for line in kills), kills
    # Restarted and killed again: a crash loop whose last exit is the OOM kill.
    looping = poll(
        status_env,
        created,
        lambda r: {"CrashLoopBackOff", "OOMKilled"} <= reasons(r),
    )
    assert looping.status.phase == pb.CONTAINER_PHASE_FAILED
    assert looping.status.restart_count >= 1
    assert looping.status.last_exit_code == 137
    assert "OOMKilled" in condition(looping, "CrashLoopBackOff").message


def wait_error(env: StatusEnv, network: str, image: str, name: str) -> grpc.RpcError:
    """createContainer(wait_until_ready=True)'s error, with the seconds it took printed."""
    request = pb.CreateContainerRequest(
        image_name=image,
        container_name=name,
        network_name=network,
        exposure_level=pb.EXPOSURE_LEVEL_INTERNAL,
        publish_information=[pb.PublishInformation(publish_port=80, target_port=8080)],
        wait_until_ready=True,
    )
    started = time.monotonic()
    error = rpc_error(env.stub.createContainer, request, timeout=REASON_TIMEOUT)
    print(f"\n  wait_until_ready: {error.code().name} after {time.monotonic() - started:.1f} s")
    return error


def test_waiting_for_a_nonexistent_image_fails_naming_the_pull_error(
    status_env: StatusEnv, network: str
) -> None:
    image = f"{status_env.registry}/container-maker/does-not-exist:1"
    error = wait_error(status_env, network, image, "waited")
    assert error.code() == grpc.StatusCode.FAILED_PRECONDITION, error
    details = error.details() or ""
    assert "ErrImagePull" in details or "ImagePullBackOff" in details
    assert "does-not-exist" in details
    assert "was created and kept" in details
    # The container is kept, under the id the error names.
    listed = status_env.stub.listContainer(
        pb.ListContainerRequest(network_name=network), timeout=30
    )
    (kept,) = listed.containers
    assert kept.container_id in details
    assert kept.status.phase == pb.CONTAINER_PHASE_FAILED


def test_waiting_for_an_image_that_exits_1_fails_naming_the_reasons(
    status_env: StatusEnv, network: str
) -> None:
    """Waiting on a container already in its crash loop ends at once with the reasons."""
    created = create(status_env, network, status_env.exit_1, "waited")
    watch_until(status_env, created, lambda c: "CrashLoopBackOff" in reasons(c))
    # The same spec again (waiting is not part of it): the same container, waited for.
    error = wait_error(status_env, network, status_env.exit_1, "waited")
    assert error.code() == grpc.StatusCode.FAILED_PRECONDITION, error
    details = error.details() or ""
    assert created.container_id in details
    assert "was created and kept" in details
    assert "CrashLoopBackOff" in details
    assert "last exit: exit code 1" in details


def test_waiting_from_the_start_for_an_image_that_exits_1_never_ends_ready(
    status_env: StatusEnv, network: str
) -> None:
    """The kubelet reports a container that exits at once as running for a moment; without a
    readiness probe the pod was Ready then, and a wait begun at create answered READY. The
    user's container is now probed on its first TCP port, which this one never opens."""
    error = wait_error(status_env, network, status_env.exit_1, "waited-early")
    assert error.code() == grpc.StatusCode.FAILED_PRECONDITION, error
    details = error.details() or ""
    assert "CrashLoopBackOff" in details or "exit code 1" in details, details
    assert "was created and kept" in details
