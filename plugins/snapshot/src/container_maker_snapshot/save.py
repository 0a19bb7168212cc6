"""``saveContainer`` on a pod: run the snapshot agent in the snapshot sidecar (pods/exec).

The server reads the pod (it must be Running, with the user's container and the sidecar
running), then executes ``/snapshot-agent save`` in the sidecar through the ``pods/exec``
subresource, the authenticated channel Kubernetes already offers into a container: no port is
opened in the pod and no token is handed to it. The agent's arguments name the container and
images only (credentials are a file mounted from a Secret into the sidecar). Its progress
lines (stderr) are logged as they arrive; its last stdout line is a JSON result or error, and
its exit code says which error (see ``snapshot-agent/main.go``).
"""

from __future__ import annotations

import json
import logging
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

from kubernetes import client
from kubernetes.client.exceptions import ApiException
from kubernetes.stream import stream
from kubernetes.utils import parse_quantity

from container_maker.sdk import (
    ID_KEY,
    NAME_KEY,
    SNAPSHOT_VOLUME,
    Aborted,
    ContainerMakerError,
    DeadlineExceeded,
    FailedPrecondition,
    InternalError,
    KubeContext,
    ObservedObject,
    PermissionDenied,
    ResourceExhausted,
    SavedImage,
    Unavailable,
    api_errors,
)

log = logging.getLogger(__name__)

AGENT = "/snapshot-agent"
AUTH_DIR = "/var/run/secrets/container-maker/registry"
AUTH_FILE = f"{AUTH_DIR}/config.json"
LOCK_DIR = "/var/lib/container-maker/snapshot-lock"  # the sidecar's own volume (plugin.py)
ANNOTATION_PREFIX = "io.container-maker"

# Exit codes of the agent -> error classes.
_ERRORS: dict[int, type[ContainerMakerError]] = {
    3: ResourceExhausted,
    4: Unavailable,
    5: FailedPrecondition,
    6: Aborted,
    7: FailedPrecondition,  # the registry refused the credentials: a configuration matter
}


def _strip_scheme(container_id: str) -> str:
    return container_id.split("://", 1)[-1]


def _running(statuses: list[Any] | None, name: str) -> Any:
    for status in statuses or []:
        if status.name == name and status.state is not None and status.state.running:
            return status
    return None


def _size_limit(pod: Any) -> int:
    for volume in pod.spec.volumes or []:
        if volume.name == SNAPSHOT_VOLUME and volume.empty_dir and volume.empty_dir.size_limit:
            return int(parse_quantity(volume.empty_dir.size_limit))  # type: ignore[no-untyped-call]  # kubernetes.utils is untyped
    return 0


def unique_tag(container_id: str, now: datetime | None = None) -> str:
    """A tag no other save uses: the container, the second, and random bits."""
    moment = (now or datetime.now(UTC)).strftime("%Y%m%dT%H%M%SZ")
    return f"{container_id[:8]}-{moment}-{secrets.token_hex(4)}"


def agent_command(
    *,
    container_id: str,
    base: str,
    target: str,
    size_limit: int,
    lock_dir: str,
    endpoints: dict[str, str],
    insecure: tuple[str, ...] = (),
    annotations: dict[str, str],
    timeout: float,
) -> list[str]:
    """The agent's command line: names and numbers only, never a credential.

    ``insecure`` names the registries that may get credentials over plain HTTP.
    """
    command = [
        AGENT,
        "save",
        f"--container-id={container_id}",
        f"--base={base}",
        f"--target={target}",
        f"--size-limit={size_limit}",
        f"--lock-dir={lock_dir}",
        f"--auth-file={AUTH_FILE}",
        f"--timeout={max(1, int(timeout))}s",
    ]
    command += [f"--endpoint={name}={address}" for name, address in sorted(endpoints.items())]
    command += [f"--registry-insecure={name}" for name in sorted(insecure)]
    command += [f"--annotation={k}={v}" for k, v in sorted(annotations.items())]
    return command


def save_pod(pod_ref: ObservedObject, sidecar: str, context: KubeContext) -> SavedImage:
    """Save the user's container of ``pod_ref`` through the agent in container ``sidecar``."""
    settings = context.settings
    if not settings.registry:
        raise FailedPrecondition("saving is not configured (no registry)")
    core = client.CoreV1Api(context.api_client)
    with api_errors(f"reading pod {pod_ref.name} in {pod_ref.namespace}"):
        pod = core.read_namespaced_pod(
            pod_ref.name, pod_ref.namespace, _request_timeout=context.request_timeout()
        )
    user = next((c.name for c in pod_ref.containers if c.role == "user"), None)
    if user is None:
        raise InternalError(f"pod {pod_ref.name} has no user container")
    phase = pod.status.phase if pod.status else None
    statuses = pod.status.container_statuses if pod.status else None
    status = _running(statuses, user)
    if phase != "Running" or status is None or not status.container_id:
        raise FailedPrecondition(
            f"pod {pod_ref.name} is {phase or 'unknown'} and its container {user} is not "
            "running: only a running container can be saved"
        )
    if _running(statuses, sidecar) is None:
        raise FailedPrecondition(
            f"the snapshot sidecar {sidecar} of pod {pod_ref.name} is not running"
        )
    # The image actually running, by digest when the runtime knows it.
    base = status.image_id if "@" in (status.image_id or "") else status.image
    container_id = pod_ref.labels.get(ID_KEY, "")
    tag = unique_tag(container_id or pod_ref.uid)
    target = f"{settings.registry}/{pod_ref.namespace}/{user}:{tag}"
    annotations = {
        f"{ANNOTATION_PREFIX}.container-id": container_id,
        f"{ANNOTATION_PREFIX}.container-name": pod_ref.labels.get(NAME_KEY, user),
        f"{ANNOTATION_PREFIX}.namespace": pod_ref.namespace,
        f"{ANNOTATION_PREFIX}.pod": pod_ref.name,
        # Unique per save: two saves of an unchanged filesystem within one second would
        # otherwise be the same manifest, so the same digest and reference.
        f"{ANNOTATION_PREFIX}.tag": tag,
        f"{ANNOTATION_PREFIX}.saved-at": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
    }
    command = agent_command(
        container_id=_strip_scheme(status.container_id),
        base=base,
        target=target,
        size_limit=_size_limit(pod),
        lock_dir=LOCK_DIR,
        endpoints=settings.registry_endpoints,
        insecure=settings.registry_insecure,
        annotations=annotations,
        timeout=context.remaining(),
    )
    code, out = _exec(pod_ref, sidecar, command, context)
    result = _last_json(out)
    if code != 0:
        message = str(result.get("error") or f"the snapshot agent exited with code {code}")
        error = _ERRORS.get(code, InternalError)
        raise error(f"saving pod {pod_ref.name}: {message}")
    try:
        return SavedImage(
            pod_name=pod_ref.name,
            namespace=pod_ref.namespace,
            image_name=str(result["reference"]),
            tag=tag,
            size_bytes=int(result.get("bytes", 0)),
            seconds=float(result.get("seconds", 0.0)),
        )
    except (KeyError, TypeError, ValueError) as e:
        raise InternalError(f"the snapshot agent answered {out[-500:]!r}") from e


def _last_json(out: str) -> dict[str, Any]:
    for line in reversed(out.strip().splitlines()):
        try:
            value = json.loads(line)
        except ValueError:
            continue
        if isinstance(value, dict):
            return value
    return {}


@contextmanager
def _refused_handshake(what: str) -> Iterator[None]:
    """The websocket client reports a refused upgrade as an ApiException without a status."""
    try:
        yield
    except ApiException as e:
        if e.status == 0 and "Handshake status 403" in str(e.reason):
            raise PermissionDenied(f"{what}: pods/exec is forbidden: {e.reason}") from e
        raise


def _exec(
    pod: ObservedObject, container: str, command: list[str], context: KubeContext
) -> tuple[int, str]:
    """Run ``command`` in ``container``; log its stderr progress; return (exit code, stdout).

    A fresh ApiClient: ``kubernetes.stream`` swaps the request method of the client it is
    given while it runs, which must not disturb concurrent calls on the shared one.
    """
    api = client.ApiClient(context.api_client.configuration)
    core = client.CoreV1Api(api)
    what = f"running the snapshot agent in pod {pod.name}"
    with api_errors(what), _refused_handshake(what):
        response = stream(
            core.connect_get_namespaced_pod_exec,
            pod.name,
            pod.namespace,
            container=container,
            command=command,
            stdin=False,
            stdout=True,
            stderr=True,
            tty=False,
            _preload_content=False,
        )
    out: list[str] = []
    try:
        while response.is_open():
            if context.remaining() <= 0:
                raise DeadlineExceeded(
                    f"saving pod {pod.name} did not finish before the deadline; the agent is "
                    "stopped with the exec stream"
                )
            response.update(timeout=1)
            if response.peek_stdout():
                out.append(response.read_stdout())
            if response.peek_stderr():
                for line in response.read_stderr().splitlines():
                    log.info("save progress pod=%s %s", pod.name, line)
        out.append(response.read_stdout() if response.peek_stdout() else "")
        code = response.returncode
    except ContainerMakerError:
        raise
    except Exception as e:  # the websocket broke: the API server or kubelet went away
        raise Unavailable(f"the exec stream to pod {pod.name} broke: {e}") from e
    finally:
        response.close()
        api.close()  # type: ignore[no-untyped-call]  # the client is untyped
    if code is None:
        raise Unavailable(f"the exec stream to pod {pod.name} ended without an exit status")
    return int(code), "".join(out)


__all__ = ["agent_command", "save_pod", "unique_tag"]
