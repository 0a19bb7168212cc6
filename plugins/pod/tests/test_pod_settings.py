"""The pod plugin's settings (pure): the pull policy and the grace period."""

from __future__ import annotations

import pytest

from container_maker.errors import InvalidConfiguration
from container_maker.settings import Settings
from container_maker_pod.settings import PodSettings


def test_pull_policy_and_grace_from_the_environment() -> None:
    assert Settings().of(PodSettings) == PodSettings(
        image_pull_policy="Always", pod_grace_period_seconds=5
    )
    given = Settings.from_env(
        {
            "CONTAINER_MAKER_IMAGE_PULL_POLICY": "IfNotPresent",
            "CONTAINER_MAKER_POD_GRACE_PERIOD_SECONDS": "0",
        },
        models=[PodSettings],
    ).of(PodSettings)
    assert (given.image_pull_policy, given.pod_grace_period_seconds) == ("IfNotPresent", 0)


@pytest.mark.parametrize(
    ("name", "value"),
    [("image_pull_policy", "sometimes"), ("pod_grace_period_seconds", "-1")],
)
def test_a_bad_value_is_refused_naming_the_setting(name: str, value: str) -> None:
    env = {f"CONTAINER_MAKER_{name.upper()}": value}
    with pytest.raises(InvalidConfiguration, match=name):
        Settings.from_env(env, models=[PodSettings]).of(PodSettings)
