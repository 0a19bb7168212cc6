"""How the server finds its Kubernetes cluster: in-cluster or a kubeconfig, chosen automatically.

In order: an explicit kubeconfig (``--kubeconfig`` / ``CONTAINER_MAKER_KUBECONFIG``); the
in-cluster configuration when running in a pod (``KUBERNETES_SERVICE_HOST`` is set and the
ServiceAccount token is mounted); ``$KUBECONFIG``; ``~/.kube/config``. When none applies the
error says what was tried.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from kubernetes import client, config
from kubernetes.config.config_exception import ConfigException
from kubernetes.config.incluster_config import (
    SERVICE_CERT_FILENAME,
    SERVICE_HOST_ENV_NAME,
    SERVICE_TOKEN_FILENAME,
    InClusterConfigLoader,
)

from container_maker.errors import InvalidConfiguration


@dataclass(frozen=True)
class KubeTarget:
    """A ready API client and where its configuration came from (for the startup log)."""

    api_client: client.ApiClient
    source: str
    server: str


def load_api_client(
    kubeconfig: Path | None = None,
    *,
    environ: Mapping[str, str] | None = None,
    token_file: Path = Path(SERVICE_TOKEN_FILENAME),
    ca_file: Path = Path(SERVICE_CERT_FILENAME),
) -> KubeTarget:
    """An API client for the cluster to serve; raises InvalidConfiguration when there is none.

    ``token_file`` and ``ca_file`` are where a pod's ServiceAccount credentials are mounted
    (parameters so that the in-cluster path can be tested outside a pod).
    """
    env = os.environ if environ is None else environ
    if kubeconfig is not None:
        return _from_kubeconfig(kubeconfig, "--kubeconfig")
    if env.get(SERVICE_HOST_ENV_NAME) and token_file.is_file():
        configuration = client.Configuration()
        try:
            InClusterConfigLoader(
                token_filename=str(token_file), cert_filename=str(ca_file), environ=env
            ).load_and_set(configuration)  # type: ignore[no-untyped-call]
        except ConfigException as e:
            raise InvalidConfiguration(f"in-cluster Kubernetes configuration: {e}") from e
        return KubeTarget(client.ApiClient(configuration), "in-cluster", configuration.host)
    tried = [f"in-cluster ({SERVICE_HOST_ENV_NAME} unset or no token at {token_file})"]
    for path, origin in _kubeconfig_candidates(env):
        if path.is_file():
            return _from_kubeconfig(path, origin)
        tried.append(f"{origin} {path} (no such file)")
    raise InvalidConfiguration(
        "no Kubernetes configuration found; tried: "
        + "; ".join(tried)
        + ". Pass --kubeconfig, set KUBECONFIG or run inside a pod; to serve on a local test "
        "cluster instead, run `python -m container_maker_testcluster serve` (./dev serve)"
    )


def _kubeconfig_candidates(env: Mapping[str, str]) -> list[tuple[Path, str]]:
    candidates = [(Path(p), "KUBECONFIG") for p in env.get("KUBECONFIG", "").split(os.pathsep) if p]
    home = env.get("HOME")
    if home:
        candidates.append((Path(home) / ".kube" / "config", "default kubeconfig"))
    return candidates


def _from_kubeconfig(path: Path, origin: str) -> KubeTarget:
    if not path.is_file():
        raise InvalidConfiguration(f"kubeconfig {path} (from {origin}) does not exist")
    try:
        api_client = config.new_client_from_config(config_file=str(path))  # type: ignore[no-untyped-call]
    except (ConfigException, OSError, ValueError) as e:
        raise InvalidConfiguration(f"kubeconfig {path} (from {origin}) is unusable: {e}") from e
    server = str(api_client.configuration.host)
    return KubeTarget(api_client, f"kubeconfig {path}", server)
