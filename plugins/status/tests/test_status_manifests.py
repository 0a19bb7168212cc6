"""deploy/status-reporter.yaml and deploy/status-lease-policy.yaml agree with the status plugin
(pure: the files are read, not applied; test_api_status_access.py runs them on the cluster)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from container_maker.identity import object_name
from container_maker_status.report import REPORTER_ROLE, STATUS_ACCOUNT, report_name

DEPLOY = Path(__file__).resolve().parents[3] / "deploy"
POD_NAME_CLAIM = "authentication.kubernetes.io/pod-name"


def documents(name: str) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all((DEPLOY / name).read_text()) if d]


def test_the_reporter_role_is_lease_patch_and_nothing_else() -> None:
    (role,) = documents("status-reporter.yaml")
    assert (role["kind"], role["metadata"]["name"]) == ("ClusterRole", REPORTER_ROLE)
    assert role["rules"] == [
        {"apiGroups": ["coordination.k8s.io"], "resources": ["leases"], "verbs": ["patch"]}
    ]
    assert "aggregationRule" not in role


def test_both_ship_with_deploy() -> None:
    (kustomization,) = documents("kustomization.yaml")
    assert {"status-reporter.yaml", "status-lease-policy.yaml"} <= set(kustomization["resources"])


def test_the_policy_confines_the_namespaces_status_identity_to_its_pods_lease() -> None:
    policy, binding = documents("status-lease-policy.yaml")
    spec = policy["spec"]
    # It is the only thing confining the token to one Lease: an error must refuse.
    assert spec["failurePolicy"] == "Fail"
    assert binding["spec"] == {
        "policyName": policy["metadata"]["name"],
        "validationActions": ["Deny"],
    }
    constraints = spec["matchConstraints"]
    # Every Lease the identity writes, ours or not, in every operation that writes one.
    assert "objectSelector" not in constraints and "namespaceSelector" not in constraints
    (rule,) = constraints["resourceRules"]
    assert (rule["resources"], set(rule["operations"])) == (
        ["leases"],
        {"CREATE", "UPDATE", "DELETE"},
    )
    (condition,) = spec["matchConditions"]
    assert f"endsWith(':{STATUS_ACCOUNT}')" in condition["expression"]
    variables = {v["name"]: v["expression"] for v in spec["variables"]}
    assert f"'{POD_NAME_CLAIM}'" in variables["pods"]
    expressions = [v["expression"] for v in spec["validations"]]
    assert "size(variables.pods) == 1" in expressions  # no claim, no write
    # The Lease of the token's pod: pods are named like their container, Leases after it.
    assert object_name("pod", "web") == "web"
    suffix = report_name("")
    assert any(f"request.name == variables.pods[0] + '{suffix}'" in e for e in expressions), (
        expressions
    )
    assert any(f"':{STATUS_ACCOUNT}'" in e and "request.namespace" in e for e in expressions)
