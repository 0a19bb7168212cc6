"""``python -m container_maker_testcluster serve``: its options and defaults (no cluster needed).

Serving on the local cluster it starts, with its signals and its stop, is proven in
tests/api/test_api_server.py.
"""

from __future__ import annotations

from typing import Any

from typer.main import get_command

from container_maker import cli as core_cli
from container_maker.settings import LOCAL_INGRESS_DOMAIN
from container_maker_testcluster import cli
from container_maker_testcluster.serve import local_options


def options_of(command: Any) -> set[str]:
    return {p.name for p in command.params}


def test_serve_has_every_option_of_container_maker_serve_but_the_kubeconfig() -> None:
    local = get_command(cli.app).commands["serve"]  # type: ignore[attr-defined]
    served = get_command(core_cli.app).commands["serve"]  # type: ignore[attr-defined]
    assert "kubeconfig" in options_of(served)
    assert options_of(local) == options_of(served) - {"kubeconfig"}
    assert "local cluster is stopped" in " ".join((local.help or "").split())


def test_the_local_sandbox_domain_and_reflection_unless_given() -> None:
    defaults = local_options({"plugin_settings": {}, "reflection": None, "port": 0})
    assert defaults == {
        "plugin_settings": {"ingress_domain": LOCAL_INGRESS_DOMAIN},
        "reflection": True,
        "port": 0,
    }
    empty = local_options({"plugin_settings": {"ingress_domain": ""}, "reflection": None})
    # Empty is none, as in container-maker serve.
    assert empty["plugin_settings"]["ingress_domain"] == LOCAL_INGRESS_DOMAIN
    given = local_options(
        {"plugin_settings": {"ingress_domain": "sandbox.example.net"}, "reflection": False}
    )
    assert given == {
        "plugin_settings": {"ingress_domain": "sandbox.example.net"},
        "reflection": False,
    }
