"""The example third-party distribution (examples/disruption-budget), installed as a user
installs it: a fresh virtual environment, the product from its directories (constrained to
the workspace's lock), the example from its own directory. Then the product lists it, its own
test suite runs there against this run's cluster, and a served API makes, shows and removes
its objects with the container.

The environment is made once per module (about 5 s with a warm uv cache; the module about
25 s, a third of it starting the cluster).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import time
import uuid
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest
from kubernetes import client

from container_maker._proto import service_pb2_grpc
from container_maker._proto import types_pb2 as pb
from container_maker.testing import KUBECONFIG_ENV

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "disruption-budget"
PRODUCT = [
    ROOT / "core",
    *sorted(p for p in (ROOT / "plugins").iterdir() if (p / "pyproject.toml").exists()),
]
KIND = "disruption-budget"


def run(*args: str | Path, **kwargs: Any) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        [str(a) for a in args], capture_output=True, text=True, timeout=600, **kwargs
    )
    assert result.returncode == 0, f"{args}:\n{result.stdout}\n{result.stderr}"
    return result


def user_environment(**values: str) -> dict[str, str]:
    """This process's environment without what points at the workspace's own environment
    (or at a cluster), plus ``values``."""
    dropped = {"VIRTUAL_ENV", "UV_PROJECT_ENVIRONMENT", "PYTHONPATH", KUBECONFIG_ENV}
    return {**{k: v for k, v in os.environ.items() if k not in dropped}, **values}


@pytest.fixture(scope="module")
def venv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A new environment with the product and the example (with its ``test`` extra)."""
    uv = shutil.which("uv")
    assert uv, "uv is not on PATH"
    where = tmp_path_factory.mktemp("user")
    constraints = where / "constraints.txt"
    env = user_environment()
    run(uv, "export", "--frozen", "--no-hashes", "--all-packages", "--no-emit-workspace",
        "--quiet", "-o", constraints, cwd=ROOT, env=env)  # fmt: skip
    run(uv, "venv", "--quiet", "--python", "python3", where / "venv", env=env)
    python = where / "venv" / "bin" / "python"
    # --no-sources: the members' workspace sources would install the core editable from here.
    run(uv, "pip", "install", "--quiet", "--no-sources", "--python", python, "-c", constraints,
        *PRODUCT, f"{EXAMPLE}[test]", cwd=where, env=env)  # fmt: skip
    return where / "venv"


def test_the_product_lists_the_example_plugin(venv: Path) -> None:
    listed = json.loads(
        run(
            venv / "bin" / "container-maker", "plugins", "-o", "json", env=user_environment()
        ).stdout
    )
    (budget,) = [p for p in listed if p["name"] == KIND]
    assert budget["distribution"] == "container-maker-disruption-budget"
    assert budget["version"] == "0.1.0"
    assert budget["kinds"] == [KIND]
    assert budget["hooks"] == ["cm_register_resources"]
    assert not budget["blocked"]
    # The product itself is there, installed into the environment (not this workspace's).
    assert {p["name"] for p in listed} >= {"namespace", "pod", "service", "ingress"}
    where = run(
        venv / "bin" / "python",
        "-c",
        "import container_maker as c, cm_disruption_budget as b; print(c.__file__, b.__file__)",
        cwd=venv,
        env=user_environment(),
    ).stdout.split()
    assert all(Path(f).is_relative_to(venv) for f in where), where


def test_the_example_suite_passes_against_the_cluster(
    venv: Path, kube_cluster: Any, tmp_path: Path
) -> None:
    """Its own tests, with the kit alone (no test-cluster plugin in that environment): the
    cluster is the kubeconfig in CONTAINER_MAKER_TEST_KUBECONFIG. Nothing may be skipped."""
    report = tmp_path / "report.xml"
    result = subprocess.run(
        [str(venv / "bin" / "python"), "-m", "pytest", "-q", "-rs", f"--junitxml={report}"],
        cwd=EXAMPLE,
        env=user_environment(**{KUBECONFIG_ENV: str(kube_cluster.kubeconfig)}),
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    suite = ET.parse(report).getroot()
    suite = suite if suite.tag == "testsuite" else suite.find("testsuite")  # type: ignore[assignment]
    assert suite is not None
    counts = {k: int(suite.get(k, "0")) for k in ("tests", "skipped", "failures", "errors")}
    assert counts["tests"] >= 9, result.stdout
    assert (counts["skipped"], counts["failures"], counts["errors"]) == (0, 0, 0), result.stdout
    cluster_tests = [
        c for c in suite.iter("testcase") if c.get("classname", "").endswith("cluster")
    ]
    assert len(cluster_tests) >= 4, result.stdout


@pytest.fixture
def served(venv: Path, kube_cluster: Any) -> Iterator[str]:
    """``container-maker serve`` of the environment on the cluster; its address."""
    process = subprocess.Popen(
        [
            str(venv / "bin" / "container-maker"),
            "serve",
            "--kubeconfig",
            str(kube_cluster.kubeconfig),
            "--port",
            "0",
        ],
        env=user_environment(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stderr is not None
        deadline = time.monotonic() + 60
        serving: dict[str, Any] = {}
        for line in process.stderr:
            assert time.monotonic() < deadline, "serve did not start"
            if line.startswith("{") and json.loads(line).get("event") == "serving":
                serving = json.loads(line)
                break
        assert serving, f"serve exited with {process.wait()}"
        assert KIND in serving["kinds"] and KIND in serving["plugins"], serving
        yield f"127.0.0.1:{serving['port']}"
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def tree(nodes: Any) -> list[Any]:
    return [(n.resource_type, n.resource_name, tree(n.associated_resources)) for n in nodes]


def read_budget(api: client.ApiClient, namespace: str) -> Any:
    try:
        return client.PolicyV1Api(api).read_namespaced_pod_disruption_budget("web-pdb", namespace)
    except client.ApiException as e:
        if e.status == 404:
            return None
        raise


def test_served_api_makes_shows_and_removes_the_budget(
    served: str, kube_api_client: client.ApiClient
) -> None:
    network = f"pdb-{uuid.uuid4().hex[:8]}"  # Container Maker makes it, and removes it last
    stub = service_pb2_grpc.ContainerMakerAPIStub(grpc.insecure_channel(served))
    try:
        created = stub.createContainer(
            pb.CreateContainerRequest(
                image_name="nginx:1.27",
                container_name="web",
                network_name=network,
                exposure_level=pb.EXPOSURE_LEVEL_CLUSTER_LOCAL,
                publish_information=[pb.PublishInformation(publish_port=80, target_port=8080)],
            ),
            timeout=120,
        )
        budget = read_budget(kube_api_client, network)
        assert budget is not None and budget.spec.max_unavailable == 0
        got = stub.getContainer(
            pb.GetContainerRequest(container_id=created.container_id, network_name=network),
            timeout=30,
        )
        # Where it declared: under the pod (after its containers), the pod under the service.
        ((service_type, _, (pod,)),) = tree(got.associated_resources)
        assert service_type == "service"
        assert pod[:2] == ("pod", "web") and pod[2][-1] == (KIND, "web-pdb", [])
        listed = stub.listContainer(pb.ListContainerRequest(network_name=network), timeout=30)
        assert [tree(c.associated_resources) for c in listed.containers] == [
            tree(got.associated_resources)
        ]
        deleted = stub.deleteContainer(
            pb.DeleteContainerRequest(container_id=created.container_id, network_name=network),
            timeout=120,
        )
        assert deleted.status == "Deleted"
        assert read_budget(kube_api_client, network) is None
    finally:
        try:
            client.CoreV1Api(kube_api_client).delete_namespace(network)
        except client.ApiException as e:
            if e.status not in (404, 409):  # gone, or already going
                raise
