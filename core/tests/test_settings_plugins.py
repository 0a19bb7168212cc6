"""Plugins own their settings: declared as models, read with Settings.of, documented (no cluster).

Every setting is documented: the core's in the Settings docstring, each plugin's in its field's
description, which ``serve --help`` shows with the option and its environment variable under
the plugin's own heading (the installed console script is run, as an operator would).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from pydantic import Field

from container_maker import hookimpl
from container_maker.errors import InternalError, InvalidConfiguration
from container_maker.plugins import Hooks, create_plugin_manager
from container_maker.settings import PluginSettings, Settings, env_name, option_name

COMMAND = Path(sys.executable).with_name("container-maker")


class BudgetSettings(PluginSettings):
    budget_max_unavailable: int = Field(default=0, ge=0, description="Pods that may go.")
    budget_labels: tuple[str, ...] = Field(default=(), description="Extra labels.")
    budget_note: str | None = Field(default=None, description="A note.")
    budget_enabled: bool = Field(default=True, description="Whether to make budgets.")


class Budget:
    @hookimpl
    def cm_settings_model(self) -> type[PluginSettings]:
        return BudgetSettings


def serve_help() -> str:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("CONTAINER_MAKER_")}
    result = subprocess.run(
        [str(COMMAND), "serve", "--help"],
        env={**clean, "COLUMNS": "400", "TERM": "dumb", "NO_COLOR": "1"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_every_core_setting_is_documented_in_the_settings_docstring() -> None:
    doc = Settings.__doc__ or ""
    missing = [name for name in Settings.model_fields if f"``{name}``" not in doc]
    assert not missing, f"Settings' docstring does not document {missing}"


def test_every_plugin_setting_is_described_and_in_serve_help() -> None:
    models = Hooks(create_plugin_manager()).settings_models()
    assert {"ingress", "status"} <= set(models)
    text = serve_help()
    for plugin, model in models.items():
        # Its own heading, or one it shares with the plugins returning the same model.
        heading = rf"Plugins? ([-\w]+, )*{re.escape(plugin)}\b"
        assert re.search(heading, text), f"no heading for plugin {plugin}"
        for name, field in model.model_fields.items():
            assert (field.description or "").strip(), f"{plugin}: describe {name}"
            flag = option_name(name, field)
            assert flag in text, f"{flag} is not in serve --help"
            assert env_name(name) in text, f"{env_name(name)} is not in serve --help"


def test_a_plugin_reads_its_settings_converted_and_validated() -> None:
    given = Settings.from_env(
        {
            "CONTAINER_MAKER_BUDGET_MAX_UNAVAILABLE": "2",
            "CONTAINER_MAKER_BUDGET_LABELS": "a, b",
            "CONTAINER_MAKER_BUDGET_NOTE": "",
            "CONTAINER_MAKER_BUDGET_ENABLED": "no",
        },
        models=[BudgetSettings],
    )
    budget = given.of(BudgetSettings)
    assert budget == BudgetSettings(
        budget_max_unavailable=2, budget_labels=("a", "b"), budget_note=None, budget_enabled=False
    )
    # A copy with other values reads those (nothing is kept from the original).
    copied = given.model_copy(update={"budget_max_unavailable": 3})
    assert copied.of(BudgetSettings).budget_max_unavailable == 3
    assert given.of(BudgetSettings) == budget
    assert Settings().of(BudgetSettings) == BudgetSettings()  # defaults
    with pytest.raises(InvalidConfiguration, match="budget_max_unavailable"):
        Settings(budget_max_unavailable="-1").of(BudgetSettings)


def test_a_manager_refuses_bad_plugin_settings_at_startup_naming_the_plugin() -> None:
    hooks = Hooks(create_plugin_manager(plugins=[("budget", Budget())]))
    assert hooks.settings_models()["budget"] is BudgetSettings
    hooks.check_settings(Settings(budget_max_unavailable=1))
    with pytest.raises(InvalidConfiguration, match=r"plugin budget: .*budget_max_unavailable"):
        hooks.check_settings(Settings(budget_max_unavailable="many"))
    with pytest.raises(InvalidConfiguration, match=r"plugin ingress: .*not a lowercase DNS"):
        hooks.check_settings(Settings(ingress_domain="Not.A.Domain"))


def test_a_setting_name_has_one_owner() -> None:
    class Clash(PluginSettings):
        operation_timeout: float = Field(default=1.0, description="Taken by the core.")

    class Again(PluginSettings):
        ingress_domain: str | None = Field(default=None, description="The ingress plugin's.")

    for model, owner in ((Clash, "the core"), (Again, "plugin 'ingress'")):
        # Plugins are asked in name order: "claims" before "ingress" would own the name, so
        # the test plugin is named to come last.

        class Claims:
            @hookimpl
            def cm_settings_model(self) -> type[PluginSettings]:
                return model  # noqa: B023  (called before the loop moves on)

        hooks = Hooks(create_plugin_manager(plugins=[("zz-claims", Claims())]))
        with pytest.raises(InvalidConfiguration, match=f"by {owner} and by plugin 'zz-claims'"):
            hooks.settings_models()


def test_a_setting_of_a_type_the_command_line_cannot_carry_is_refused() -> None:
    class Nested(PluginSettings):
        budget_map: dict[str, str] = Field(default_factory=dict, description="Not a setting.")

    class Wrong:
        @hookimpl
        def cm_settings_model(self) -> object:
            return Nested

    class NotAModel:
        @hookimpl
        def cm_settings_model(self) -> object:
            return dict

    with pytest.raises(InvalidConfiguration, match="budget_map"):
        Hooks(create_plugin_manager(plugins=[("wrong", Wrong())])).settings_models()
    with pytest.raises(InternalError, match="expected a PluginSettings subclass"):
        Hooks(create_plugin_manager(plugins=[("nota", NotAModel())])).settings_models()
