"""One storage suite, run against every backend: memory, local disk, S3 (moto server)."""

from __future__ import annotations

import json

import pytest

from blog_images_tui import layout
from blog_images_tui.errors import BadInput, StoreUnusable
from blog_images_tui.ids import SectionRef
from blog_images_tui.storage import MetadataWriteFailed, open_store
from blog_images_tui.testing.fake_images_api import make_png

PNG = make_png(64, 32)
SECTION = SectionRef(53, 1)


def save(store, section=SECTION, filename="hero", data=PNG, **meta):
    return store.save(section, filename, "png", data, {"post_id": section.post_id, "prompt": "p", **meta})


def test_empty_store_lists_nothing(store_url):
    store = open_store(store_url)
    assert store.list_posts() == []
    assert store.list_sections(53) == []
    assert store.list_images(SECTION) == []


def test_save_then_browse_one_level_at_a_time(store_url):
    store = open_store(store_url)
    stored = save(store)
    save(store, SectionRef(53, "intro"), "b")
    save(store, SectionRef(7, 2), "c")
    save(store, SectionRef("slug-post", 1), "d")
    assert store.list_posts() == [7, 53, "slug-post"]  # numbers in numeric order, then slugs
    assert store.list_sections(53) == [1, "intro"]
    images = store.list_images(SECTION)
    assert [(i.image_name, i.filename, i.output_format, i.has_metadata) for i in images] == [
        ("hero.png", "hero", "png", True)]
    assert images[0].size_bytes == len(PNG)
    assert store.read_image(SECTION, "hero.png") == PNG
    assert store.read_metadata(SECTION, "hero")["prompt"] == "p"
    assert stored.image_path.endswith("content/posts/53/sections/1/raw/hero.png")
    assert stored.metadata_path.endswith("content/posts/53/sections/1/raw/hero_metadata.json")


def test_paths_have_the_layout_on_every_backend(store_url):
    store = open_store(store_url)
    stored = save(store)
    if store_url.startswith("s3://"):
        bucket_prefix = store_url.removeprefix("s3://")
        assert stored.image_path == f"s3://{bucket_prefix}/content/posts/53/sections/1/raw/hero.png"
    elif store_url.startswith("memory://"):
        assert stored.image_path.startswith("memory://")
    else:
        assert stored.image_path == f"{store_url}/content/posts/53/sections/1/raw/hero.png"


def test_existing_name_is_never_overwritten(store_url):
    store = open_store(store_url)
    save(store)
    other = make_png(16, 16)
    with pytest.raises(FileExistsError):
        save(store, data=other)
    assert store.read_image(SECTION, "hero.png") == PNG
    with pytest.raises(FileExistsError):
        store.write_new(layout.image_path(SECTION, "hero", "png"), other, "image/png")
    assert store.read_image(SECTION, "hero.png") == PNG
    assert store.name_taken(SECTION, "hero", "png")
    assert not store.name_taken(SECTION, "other", "png")


def test_metadata_is_written_after_the_image_and_is_valid_json(store_url):
    store = open_store(store_url)
    save(store, prompt="emoji 🦊 and עברית")
    raw = store.read_bytes(layout.metadata_path(SECTION, "hero"))
    assert json.loads(raw)["prompt"] == "emoji 🦊 and עברית"


def test_junk_names_are_ignored_by_listings(store_url):
    store = open_store(store_url)
    save(store)
    raw = layout.raw_dir(SECTION)
    store.write_new(f"{layout.POSTS_DIR}/.DS_Store/x", b"x", "application/octet-stream")
    store.write_new(f"{layout.POSTS_DIR}/bad name/sections/1/raw/a.png", PNG, "image/png")
    store.write_new(f"{raw}/notes.txt", b"x", "text/plain")
    store.write_new(f"{raw}/.blog-images-tmp-x.png.abc", PNG, "image/png")
    assert store.list_posts() == [53]
    assert [i.image_name for i in store.list_images(SECTION)] == ["hero.png"]


def test_image_without_metadata_is_listed_as_incomplete(store_url):
    store = open_store(store_url)
    store.write_new(layout.image_path(SECTION, "orphan", "png"), PNG, "image/png")
    (entry,) = store.list_images(SECTION)
    assert entry.filename == "orphan" and not entry.has_metadata


def test_metadata_failure_after_image_is_reported_with_the_image_path(store_url):
    store = open_store(store_url)
    store.write_new(layout.metadata_path(SECTION, "x2"), b"{}", "application/json")
    # The metadata name is taken (by another writer): refused before anything is written.
    with pytest.raises(FileExistsError):
        save(store, filename="x2")
    assert not store.exists(layout.image_path(SECTION, "x2", "png"))

    original = store.backend.write_new

    def failing_metadata_write(fs, path, data, content_type):
        if path.endswith("_metadata.json"):
            raise OSError("disk full")
        return original(fs, path, data, content_type)

    store.backend.write_new = failing_metadata_write
    with pytest.raises(MetadataWriteFailed) as caught:
        save(store, filename="x3")
    assert caught.value.image_display.endswith("raw/x3.png")
    assert store.read_image(SECTION, "x3.png") == PNG  # the image itself is intact


def test_delete_removes_image_and_metadata(store_url):
    store = open_store(store_url)
    save(store)
    store.delete_image(SECTION, "hero.png")
    assert store.list_images(SECTION) == []
    assert not store.exists(layout.metadata_path(SECTION, "hero"))


def test_writable_check_passes_and_leaves_nothing(store_url):
    store = open_store(store_url)
    store.check_writable()
    assert store.list_posts() == []
    assert store.list_raw_names(SECTION) == []


def test_read_refuses_names_outside_the_allowlist(store_url):
    store = open_store(store_url)
    for bad in ("../x.png", "a/b.png", "x.txt", ".hidden.png"):
        with pytest.raises(BadInput):
            store.read_image(SECTION, bad)


def test_fresh_listing_sees_objects_written_by_another_client(store_url):
    first, second = open_store(store_url), open_store(store_url)
    assert first.list_images(SECTION) == []
    save(second)
    assert [i.image_name for i in first.list_images(SECTION)] == ["hero.png"]


# -- backend specifics ---------------------------------------------------------------

@pytest.mark.s3
def test_s3_objects_get_content_types_and_no_public_acl(s3_store_url, moto_s3):
    store = open_store(s3_store_url, cache_control="public, max-age=60")
    save(store)
    bucket, prefix = s3_store_url.removeprefix("s3://").split("/", 1)
    client = moto_s3.client()
    head = client.head_object(Bucket=bucket, Key=f"{prefix}/content/posts/53/sections/1/raw/hero.png")
    assert head["ContentType"] == "image/png"
    assert head["CacheControl"] == "public, max-age=60"
    meta = client.head_object(Bucket=bucket, Key=f"{prefix}/content/posts/53/sections/1/raw/hero_metadata.json")
    assert meta["ContentType"] == "application/json"
    grants = client.get_object_acl(Bucket=bucket, Key=f"{prefix}/content/posts/53/sections/1/raw/hero.png")["Grants"]
    assert all("AllUsers" not in json.dumps(grant) for grant in grants)


@pytest.mark.s3
def test_s3_missing_bucket_is_unusable_before_any_write(moto_s3, monkeypatch):
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", moto_s3.endpoint_url)
    store = open_store("s3://no-such-bucket-here/blog")
    with pytest.raises(StoreUnusable) as caught:
        store.check_writable()
    assert "no-such-bucket-here" in str(caught.value)


@pytest.mark.s3
def test_s3_endpoint_from_store_option(moto_s3):
    bucket = moto_s3.new_bucket()
    store = open_store(f"s3://{bucket}", endpoint_url=moto_s3.endpoint_url)
    save(store)
    assert store.list_posts() == [53]
    assert store.link(SECTION, "hero.png").startswith(moto_s3.endpoint_url)


def test_local_write_leaves_no_temp_files_and_is_complete(local_store_url):
    from tests.conftest import files_under

    store = open_store(local_store_url)
    save(store)
    assert files_under(local_store_url) == [
        "content/posts/53/sections/1/raw/hero.png", "content/posts/53/sections/1/raw/hero_metadata.json"]


def test_local_failed_write_removes_its_temp_file(local_store_url, monkeypatch):
    import os

    from backends import local
    from tests.conftest import files_under

    def broken_link(src, dst):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(local.os, "link", broken_link)
    store = open_store(local_store_url)
    with pytest.raises(OSError):
        store.write_new(layout.image_path(SECTION, "hero", "png"), PNG, "image/png")
    assert files_under(local_store_url) == []
    assert os.path.isdir(os.path.join(local_store_url, "content/posts/53/sections/1/raw"))


def test_unknown_store_option_is_bad_input(local_store_url):
    with pytest.raises(BadInput):
        open_store(local_store_url, endpoint_url="http://x")


def test_backend_registry_lists_and_loads_by_name():
    from blog_images_tui.plugins import backend_for_url, backend_names, load_backend_class

    assert {"local", "s3", "memory"} <= set(backend_names())
    assert load_backend_class("s3").name == "s3"
    assert backend_for_url("./static").name == "local"
    assert backend_for_url("s3://b/p").name == "s3"
    assert backend_for_url("memory://x").name == "memory"
    assert backend_for_url("ftp://host/x").name == "fsspec"
    with pytest.raises(BadInput) as caught:
        load_backend_class("nope")
    assert "local" in str(caught.value)
