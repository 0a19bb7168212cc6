"""The real node's images are built reproducibly from Debian's files (no cluster needed)."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import tarfile

from container_maker_testcluster import images


def test_images_are_reproducible_byte_for_byte() -> None:
    first, second = images.build_all(), images.build_all()
    assert [i.digest for i in first] == [i.digest for i in second]
    assert [i.blobs for i in first] == [i.blobs for i in second]


def test_manifest_references_exactly_its_blobs_with_valid_digests() -> None:
    for image in images.build_all():
        manifest = json.loads(image.manifest)
        assert manifest["mediaType"] == images.MEDIA_MANIFEST
        referenced = [manifest["config"]] + manifest["layers"]
        assert {d["digest"] for d in referenced} == set(image.blobs)
        for descriptor in referenced:
            blob = image.blobs[descriptor["digest"]]
            assert descriptor["size"] == len(blob)
            assert descriptor["digest"] == "sha256:" + hashlib.sha256(blob).hexdigest()
        config = json.loads(image.blobs[manifest["config"]["digest"]])
        layer_tar = gzip.decompress(image.blobs[manifest["layers"][0]["digest"]])
        assert config["rootfs"]["diff_ids"] == ["sha256:" + hashlib.sha256(layer_tar).hexdigest()]


def test_layers_are_deterministic_tars() -> None:
    testapp = images.build_testapp()
    manifest = json.loads(testapp.manifest)
    layer = testapp.blobs[manifest["layers"][0]["digest"]]
    assert layer[4:8] == b"\0\0\0\0"  # gzip header mtime
    with tarfile.open(fileobj=io.BytesIO(gzip.decompress(layer))) as tar:
        members = tar.getmembers()
    names = [m.name for m in members]
    assert names == sorted(names)
    assert {m.mtime for m in members} == {0}
    assert {m.uname for m in members} == {""}
    by_name = {m.name: m for m in members}
    assert by_name["bin/httpd"].issym() and by_name["bin/httpd"].linkname == "busybox"
    assert by_name["serve"].mode == 0o755
    assert by_name["www"].uid == images.NOBODY  # the entrypoint (as nobody) writes there
    config = json.loads(testapp.blobs[manifest["config"]["digest"]])["config"]
    assert config["Entrypoint"] == ["/serve"]
    assert config["User"] == f"{images.NOBODY}:{images.NOBODY}"
