"""Publishing to S3 through moto's server: content types, Cache-Control, conditional writes, URLs."""

from __future__ import annotations

import hashlib
import io

import pytest
from PIL import Image

from blog_images_tui import layout
from blog_images_tui.errors import Conflict
from blog_images_tui.publish import read_manifest, set_alt
from blog_images_tui.storage import open_store
from blog_images_tui.webplan import PublishSettings
from tests.support.publish import SECTION, make_image, publish, stored

pytestmark = pytest.mark.s3

IMMUTABLE = "public, max-age=31536000, immutable"


def keys(moto_s3, url):
    bucket, prefix = url.removeprefix("s3://").split("/", 1)
    return bucket, prefix


def test_s3_derivatives_get_their_content_type_and_the_store_cache_control(s3_store_url, moto_s3):
    store = open_store(s3_store_url, cache_control=IMMUTABLE)
    stored(store)
    result = publish(store, settings=PublishSettings(widths=(64,), formats=("avif", "webp", "jpeg")))
    bucket, prefix = keys(moto_s3, s3_store_url)
    client = moto_s3.client()
    for entry in result.manifest["derivatives"]:
        key = entry["path"].removeprefix(f"s3://{bucket}/")
        head = client.head_object(Bucket=bucket, Key=key)
        assert head["ContentType"] == entry["content_type"]
        assert head["CacheControl"] == IMMUTABLE  # named by content: safe to cache forever
        body = client.get_object(Bucket=bucket, Key=key)["Body"].read()
        assert hashlib.sha256(body).hexdigest() == entry["sha256"]
        assert Image.open(io.BytesIO(body)).size == (entry["width"], entry["height"])
    manifest = client.head_object(Bucket=bucket, Key=f"{prefix}/{layout.web_manifest_path(SECTION, 'hero')}")
    assert manifest["ContentType"] == "application/json"
    assert "immutable" not in manifest.get("CacheControl", "")  # it is replaced later: never immutable
    set_alt(store, SECTION, "hero", "New alt")
    manifest = client.head_object(Bucket=bucket, Key=f"{prefix}/{layout.web_manifest_path(SECTION, 'hero')}")
    assert "immutable" not in manifest.get("CacheControl", "")
    meta = client.head_object(Bucket=bucket, Key=f"{prefix}/{layout.metadata_path(SECTION, 'hero')}")
    assert "immutable" not in meta.get("CacheControl", "")


def test_s3_publish_is_idempotent_and_never_overwrites(s3_store_url, moto_s3):
    store = open_store(s3_store_url)
    stored(store)
    first = publish(store)
    bucket, _ = keys(moto_s3, s3_store_url)
    client = moto_s3.client()
    etags = {e["path"]: client.head_object(Bucket=bucket, Key=e["path"].removeprefix(f"s3://{bucket}/"))["ETag"]
             for e in first.manifest["derivatives"]}
    again = publish(store)
    assert (again.created, again.manifest_written) == ([], False)
    for path, etag in etags.items():
        assert client.head_object(Bucket=bucket, Key=path.removeprefix(f"s3://{bucket}/"))["ETag"] == etag
    # a derivative name is created with If-None-Match: a second create is refused by the server
    rel = first.manifest["derivatives"][0]["path"].removeprefix(f"s3://{s3_store_url.removeprefix('s3://')}/")
    with pytest.raises(FileExistsError):
        store.create(rel, b"other bytes", "image/avif")


def test_s3_manifest_replace_is_conditional_on_its_etag(s3_store_url):
    store = open_store(s3_store_url)
    stored(store)
    publish(store)
    rel = layout.web_manifest_path(SECTION, "hero")
    raw, stale = store.read_versioned(rel)
    set_alt(store, SECTION, "hero", "Changed by someone else")  # a newer version lands
    with pytest.raises(Conflict):
        store.replace(rel, raw, "application/json", stale)
    assert read_manifest(store, SECTION, "hero")["alt"] == "Changed by someone else"


def test_s3_urls_use_the_public_base_url_with_the_prefix(s3_store_url):
    store = open_store(s3_store_url, public_base_url="https://cdn.example")
    stored(store)
    url = publish(store).manifest["derivatives"][0]["url"]
    assert url.startswith("https://cdn.example/blog/content/posts/53/sections/1/web/hero-64w-")


def test_s3_transparent_source_round_trips(s3_store_url):
    store = open_store(s3_store_url)
    stored(store, data=make_image(mode="RGBA", transparent=True))
    manifest = publish(store, settings=PublishSettings(widths=(64,), formats=("webp",), fallback="jpeg")).manifest
    assert manifest["settings"]["fallback_format"] == "png"
