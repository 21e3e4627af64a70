"""The storage contract suite on every backend (memory, local disk, S3 on moto's server), then backend specifics."""

from __future__ import annotations

import json

import pytest

from blog_images_tui import layout
from blog_images_tui.errors import BadInput, StoreUnusable
from blog_images_tui.ids import SectionRef
from blog_images_tui.storage import open_store
from blog_images_tui.testing.backend_suite import BackendContract
from blog_images_tui.testing.fake_images_api import make_png

PNG = make_png(64, 32)
SECTION = SectionRef(53, 1)


class TestEveryBackend(BackendContract):
    """The reusable contract (blog_images_tui/testing/backend_suite.py) on the ``store_url`` backends."""


def save(store, section=SECTION, filename="hero", data=PNG, **meta):
    return store.save(section, filename, "png", data, {"post_id": section.post_id, "prompt": "p", **meta})


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
    from tests.support import files_under

    store = open_store(local_store_url)
    save(store)
    assert files_under(local_store_url) == [
        "content/posts/53/sections/1/raw/hero.png", "content/posts/53/sections/1/raw/hero_metadata.json"]


def test_local_failed_write_removes_its_temp_file(local_store_url, monkeypatch):
    import os

    from backends import local
    from tests.support import files_under

    def broken_link(src, dst):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(local.os, "link", broken_link)
    store = open_store(local_store_url)
    with pytest.raises(OSError):
        store.create(layout.image_path(SECTION, "hero", "png"), PNG, "image/png")
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
