"""saveContainer on the real node with all of deploy/'s policies in force.

test_api_save_real_node.py runs the server under the deployed ServiceAccount's token with
deploy/'s RBAC only; test_api_admission.py shows, on simulated nodes, that the pods/exec policy
admits the agent's command as ``agent_command`` builds it from made-up values. Here both meet:
deploy/'s RBAC, status Lease policy and admission policies applied, the policies' parameters
set to the node's registry settings (as an operator keeps them in step with the server's
flags), and a real save: the command carries what only a real node gives (the runtime's
container id, the image the kubelet reports, the relay's endpoint, the clock), and the pushed
image is in the node's registry. A module of its own: its real-node cluster (and so the
policies, which cannot be removed and made again reliably, see api_support.KEPT_MANIFESTS) is
gone with it, and the other save tests, which push where these parameters do not allow, never
run under them.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import grpc
import pytest
import test_api_save_real_node as saving
from api_support import (
    SERVERLESS_MANIFESTS,
    apply_deployed,
    denied_by,
    remove_deployed,
    restore_policy_parameters,
    rpc_error,
    set_policy_parameters,
)
from kubernetes import client
from test_api_admission import EXEC, PODS, SIDECAR, exec_post, outcome, pod, save_command
from test_api_save_real_node import SaveEnv, create, fetch, registry_json, save

from container_maker._proto import types_pb2 as pb
from container_maker.settings import Settings
from container_maker.testing import eventually
from container_maker_ingress.settings import IngressSettings
from container_maker_snapshot.settings import SnapshotSettings

NAMESPACES = "container-maker-namespaces"

# That module's fixtures, here too: the server under the deployed token on this module's real
# node (registry, images, relay and settings as the save tests have them), and a network.
save_env = saving.save_env
network = saving.network


def policy_parameters(settings: Settings) -> dict[str, str]:
    """The policies' parameters for a server with ``settings`` (deploy/admission.yaml's
    comment: the flags and environment variables each one must agree with)."""
    endpoints = sorted(settings.registry_endpoints.items())
    return {
        "ingressDomain": settings.of(IngressSettings).ingress_domain or "",
        "registry": settings.registry or "",
        "registryEndpoints": ",".join(f"{name}={address}" for name, address in endpoints),
        "registryInsecure": ",".join(settings.registry_insecure),
        "registrySecret": settings.of(SnapshotSettings).registry_secret or "",
    }


def refused_by(policy: str) -> Any:
    return lambda refused: refused is not None and denied_by(refused, policy)


@pytest.fixture(scope="module")
def deployed(save_env: SaveEnv, real_node_cluster: Any) -> Iterator[SaveEnv]:
    """save_env's server (the deployed ServiceAccount's token) with deploy/'s policies applied
    and their parameters set to its settings, once the namespaces policy is in force."""
    admin = save_env.api
    try:
        apply_deployed(real_node_cluster)
        set_policy_parameters(admin, **policy_parameters(save_env.settings))
        core = client.CoreV1Api(save_env.server_api)
        unlabelled = {"metadata": {"name": "probe-unlabelled"}}
        eventually(
            lambda: outcome(lambda: core.create_namespace(unlabelled, dry_run="All")),
            refused_by(NAMESPACES),
            60,
        )
        yield save_env
    finally:
        restore_policy_parameters(admin)
        remove_deployed(real_node_cluster, list(SERVERLESS_MANIFESTS))


def shaped(env: SaveEnv, network: str) -> list[str]:
    """The agent's command as test_api_admission.py makes it up, with ``env``'s registry
    settings: what the policy admits in ``network`` with our parameters."""
    settings = env.settings
    return save_command(
        network,
        target=f"{settings.registry}/{network}/app:0a1b2c3d-20250101T000000Z-abcd1234",
        endpoints=settings.registry_endpoints,
        insecure=settings.registry_insecure,
    )


def wait_until_enforced(env: SaveEnv, network: str) -> None:
    """The pods and pods/exec policies enforce in ``network`` with our parameters. The exec
    probes name a pod that does not exist (``web``): admission judges a CONNECT before the pod
    is looked up, so a shell is the policy's 403 and the agent's command, shaped with our
    parameters, is the absent pod's 404 once the parameters are in force."""
    api = env.server_api
    core = client.CoreV1Api(api)
    # What the policy alone refuses: the namespace's baseline Pod Security allows it.
    automounted = pod(automountServiceAccountToken=True)
    eventually(
        lambda: outcome(lambda: core.create_namespaced_pod(network, automounted, dry_run="All")),
        refused_by(PODS),
        60,
    )
    eventually(
        lambda: outcome(lambda: exec_post(api, network, SIDECAR, ["/bin/sh"])),
        refused_by(EXEC),
        60,
    )
    eventually(
        lambda: outcome(lambda: exec_post(api, network, SIDECAR, shaped(env, network))),
        lambda refused: refused is not None and refused.status == 404,
        60,
    )


def test_a_real_save_passes_the_deployed_policies(deployed: SaveEnv, network: str) -> None:
    env = deployed
    original = create(env, network, env.saveapp)
    first_boot = fetch(original.container_ip, "first-boot.txt")
    wait_until_enforced(env, network)

    try:
        saved = save(env, original, network)
    except grpc.RpcError as e:  # the policy's refusal is PERMISSION_DENIED, with its message
        pytest.fail(f"saveContainer under deploy/'s policies: {e.code()}: {e.details()}")
    repository, _, digest = saved.image_name.partition("@sha256:")
    assert repository.startswith(f"{env.registry}/saved/{network}/app")
    assert len(digest) == 64
    path = repository.removeprefix(env.registry + "/")
    manifest = registry_json(env, f"{path}/manifests/sha256:{digest}")
    assert len(manifest["layers"]) == 1
    assert manifest["annotations"]["io.container-maker.container-id"] == original.container_id
    assert manifest["annotations"]["io.container-maker.namespace"] == network

    # The pods policy in force (shown above): a container from the saved image is admitted and
    # runs with the file the first one's entrypoint wrote.
    copy = create(env, network, saved.image_name, name="copy")
    assert fetch(copy.container_ip, "first-boot.txt") == first_boot

    # And it was the policy that let it through: with another endpoint in the parameters the
    # same save is refused, naming the one argument the parameters no longer allow.
    endpoint = next(f"--endpoint={n}={a}" for n, a in env.settings.registry_endpoints.items())
    set_policy_parameters(env.api, registryEndpoints="registry.invalid=192.0.2.1:5000")
    eventually(
        lambda: outcome(lambda: exec_post(env.server_api, network, SIDECAR, shaped(env, network))),
        refused_by(EXEC),
        60,
    )
    error = rpc_error(
        env.stub.saveContainer,
        pb.SaveContainerRequest(container_id=original.container_id, network_name=network),
        timeout=120,
    )
    assert error.code() is grpc.StatusCode.PERMISSION_DENIED, error.details()
    assert f"ValidatingAdmissionPolicy '{EXEC}'" in error.details(), error.details()
    assert f"the snapshot agent may not be run with {endpoint}" in error.details()
