"""The snapshot plugin's settings (pure): the sidecar image and the push credentials."""

from __future__ import annotations

from container_maker.settings import Settings
from container_maker_snapshot.settings import SnapshotSettings


def test_image_and_secret_from_the_environment_and_empty_means_none() -> None:
    given = Settings.from_env(
        {
            "CONTAINER_MAKER_SNAPSHOT_IMAGE": "reg.example/snap:2",
            "CONTAINER_MAKER_REGISTRY_SECRET": "push-creds",
        },
        models=[SnapshotSettings],
    ).of(SnapshotSettings)
    assert (given.snapshot_image, given.registry_secret) == ("reg.example/snap:2", "push-creds")
    empty = Settings.from_env(
        {"CONTAINER_MAKER_REGISTRY_SECRET": ""}, models=[SnapshotSettings]
    ).of(SnapshotSettings)
    assert empty.registry_secret is None
    assert empty.snapshot_image == SnapshotSettings().snapshot_image
