"""The Store write API of docs/write-protocol.md, on memory, local disk and moto S3.

Exclusive create (never overwrites, right Content-Type and Cache-Control),
versioned read and conditional whole replacement of the only replaceable
things (a manifest JSON, a metadata's ``alt``), and stems that are one name
whatever their extension and letter case.
"""

from __future__ import annotations

import json
import threading

import pytest

from blog_images_tui import layout
from blog_images_tui.backend import cache_control_for
from blog_images_tui.errors import BadInput, Conflict
from blog_images_tui.ids import SectionRef
from blog_images_tui.storage import open_store
from blog_images_tui.testing.fake_images_api import make_png

SECTION = SectionRef(7, "intro")
RAW = layout.raw_dir(SECTION)
PNG = make_png(8, 8)
MANIFEST = "content/posts/7/manifest.json"


def metadata(**extra) -> dict:
    return {"post_id": 7, "section_id": "intro", "prompt": "a fox", "image_path": "x", **extra}


def test_create_is_exclusive_and_returns_the_display_path(store_url):
    store = open_store(store_url)
    shown = store.create(f"{RAW}/hero.png", PNG, "image/png")
    assert shown == store.display_path(f"{RAW}/hero.png")
    with pytest.raises(FileExistsError):
        store.create(f"{RAW}/hero.png", b"other", "image/png")
    assert store.read_bytes(f"{RAW}/hero.png") == PNG


def test_replace_succeeds_on_the_read_version_and_returns_a_new_one(store_url):
    store = open_store(store_url)
    store.create(MANIFEST, b'{"v": 1}', "application/json")
    data, version = store.read_versioned(MANIFEST)
    assert data == b'{"v": 1}'
    new_version = store.replace(MANIFEST, b'{"v": 2}', "application/json", version)
    assert new_version != version
    data, again = store.read_versioned(MANIFEST)
    assert data == b'{"v": 2}' and again == new_version


def test_replace_on_a_stale_version_is_a_conflict_and_writes_nothing(store_url):
    store = open_store(store_url)
    store.create(MANIFEST, b'{"v": 1}', "application/json")
    _, stale = store.read_versioned(MANIFEST)
    _, current = store.read_versioned(MANIFEST)
    store.replace(MANIFEST, b'{"v": 2, "by": "first"}', "application/json", current)
    with pytest.raises(Conflict):
        store.replace(MANIFEST, b'{"v": 2, "by": "second"}', "application/json", stale)
    assert json.loads(store.read_bytes(MANIFEST))["by"] == "first"


def test_replace_of_a_removed_object_is_a_conflict(store_url):
    store = open_store(store_url)
    store.create(MANIFEST, b"{}", "application/json")
    _, version = store.read_versioned(MANIFEST)
    store.remove_file(MANIFEST)
    with pytest.raises(Conflict):
        store.replace(MANIFEST, b'{"v": 2}', "application/json", version)
    assert not store.exists(MANIFEST)


def test_only_json_is_ever_replaced(store_url):
    store = open_store(store_url)
    store.create(f"{RAW}/hero.png", PNG, "image/png")
    _, version = store.read_versioned(f"{RAW}/hero.png")
    with pytest.raises(BadInput):
        store.replace(f"{RAW}/hero.png", make_png(9, 9), "image/png", version)
    assert store.read_bytes(f"{RAW}/hero.png") == PNG


def test_concurrent_replacers_of_one_version_only_one_wins(store_url):
    store = open_store(store_url)
    store.create(MANIFEST, b'{"v": 0}', "application/json")
    _, version = store.read_versioned(MANIFEST)
    outcomes: list[str] = []

    def replace(n: int) -> None:
        try:
            open_store(store_url).replace(MANIFEST, json.dumps({"v": n}).encode(), "application/json", version)
            outcomes.append(f"won {n}")
        except Conflict:
            outcomes.append("conflict")

    threads = [threading.Thread(target=replace, args=(n,)) for n in range(1, 5)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    # moto's conditional PUT is check-then-act: on S3 the real server decides; locally and in memory one wins.
    winners = [o for o in outcomes if o.startswith("won")]
    if not store_url.startswith("s3://"):
        assert len(winners) == 1, outcomes
    assert winners, outcomes
    assert json.loads(store.read_bytes(MANIFEST))["v"] in range(1, 5)


def test_replace_metadata_alt_changes_only_alt(store_url):
    store = open_store(store_url)
    store.save(SECTION, "hero", "png", PNG, metadata(model="gpt-image-2"))
    stored = store.replace_metadata_alt(SECTION, "hero", "A fox in snow")
    assert stored["alt"] == "A fox in snow"
    again = store.read_metadata(SECTION, "hero")
    assert again == {**metadata(model="gpt-image-2"), "alt": "A fox in snow"}
    store.replace_metadata_alt(SECTION, "hero", None)
    assert "alt" not in store.read_metadata(SECTION, "hero")


@pytest.mark.parametrize("taker", ["Hero.png", "hero.jpg", "HERO.webp", "hero_metadata.json", "hero.txt"])
def test_a_stem_is_taken_whatever_its_extension_and_case(store_url, taker):
    store = open_store(store_url)
    store.create(f"{RAW}/{taker}", b"x", "application/octet-stream")
    assert store.name_taken(SECTION, "hero", "png")
    assert store.stem_holders(SECTION, "hero") == [taker]
    with pytest.raises(FileExistsError):
        store.save(SECTION, "hero", "jpeg", PNG, metadata())
    assert store.names_in(RAW) == [taker]  # nothing written beside it
    assert not store.name_taken(SECTION, "hero2", "png")


def test_cache_control_never_immutable_on_replaceable_json():
    assert cache_control_for("public, max-age=31536000, immutable", "image/png") == \
        "public, max-age=31536000, immutable"
    assert cache_control_for("public, max-age=31536000, immutable", "application/json") == \
        "public, max-age=31536000"
    assert cache_control_for("immutable", "application/json") is None
    assert cache_control_for(None, "image/png") is None


@pytest.mark.s3
def test_s3_objects_carry_content_type_and_cache_control(moto_s3, s3_store_url):
    store = open_store(s3_store_url, cache_control="public, max-age=31536000, immutable")
    store.save(SECTION, "hero", "png", PNG, metadata())
    bucket, prefix = s3_store_url.split("://", 1)[1].split("/", 1)
    client = moto_s3.client()
    image = client.head_object(Bucket=bucket, Key=f"{prefix}/{RAW}/hero.png")
    meta = client.head_object(Bucket=bucket, Key=f"{prefix}/{RAW}/hero_metadata.json")
    assert image["ContentType"] == "image/png" and image["CacheControl"].endswith("immutable")
    assert meta["ContentType"] == "application/json" and "immutable" not in meta.get("CacheControl", "")
    store.replace_metadata_alt(SECTION, "hero", "alt text")
    meta = client.head_object(Bucket=bucket, Key=f"{prefix}/{RAW}/hero_metadata.json")
    assert meta["ContentType"] == "application/json" and "immutable" not in meta.get("CacheControl", "")


@pytest.mark.s3
def test_s3_version_is_the_etag_and_replace_sends_if_match(moto_s3, s3_store_url):
    store = open_store(s3_store_url)
    store.create(MANIFEST, b'{"v": 1}', "application/json")
    bucket, prefix = s3_store_url.split("://", 1)[1].split("/", 1)
    head = moto_s3.client().head_object(Bucket=bucket, Key=f"{prefix}/{MANIFEST}")
    _, version = store.read_versioned(MANIFEST)
    assert version == head["ETag"]
    # Another writer changes it behind our back: our If-Match no longer holds.
    moto_s3.client().put_object(Bucket=bucket, Key=f"{prefix}/{MANIFEST}", Body=b'{"v": "theirs"}')
    with pytest.raises(Conflict):
        store.replace(MANIFEST, b'{"v": "ours"}', "application/json", version)
    assert json.loads(store.read_bytes(MANIFEST)) == {"v": "theirs"}


def test_local_replace_is_a_rename_never_a_partial_file(local_store_url, monkeypatch):
    """While a replace writes, the old file stays whole under the name; then the new one is."""
    import backends.local as local

    store = open_store(local_store_url)
    store.create(MANIFEST, b'{"v": "old"}', "application/json")
    _, version = store.read_versioned(MANIFEST)
    seen: list[bytes] = []
    real_write = local.os.write

    def watching_write(fd, data):
        seen.append(store.read_bytes(MANIFEST))
        return real_write(fd, data)

    monkeypatch.setattr(local.os, "write", watching_write)
    store.replace(MANIFEST, b'{"v": "new"}', "application/json", version)
    monkeypatch.undo()
    assert seen and all(snapshot == b'{"v": "old"}' for snapshot in seen)
    assert store.read_bytes(MANIFEST) == b'{"v": "new"}'
