"""The storage contract: what every backend must do, as a reusable pytest suite.

Like fsspec's ``fsspec/tests/abstract`` suites, a backend package reuses it by
subclassing in its own tests and giving a ``store_url`` fixture (a fresh, empty
store per test) and, when the backend is not registered by entry point,
``open_store``::

    from blog_images_tui.testing.backend_suite import BackendContract

    class TestMyBackend(BackendContract):
        @pytest.fixture
        def store_url(self, tmp_path):
            return f"mine://{tmp_path}"

The project's own tests run it on memory, local disk and S3 (moto's server);
a deliberately broken backend (one that overwrites, one that shows a partial
object) fails it (tests/core/test_backend_suite.py). Needs pytest (the test extra).
"""

from __future__ import annotations

import json
import os
import threading
from typing import Any

import pytest

from blog_images_tui import layout
from blog_images_tui.errors import BadInput
from blog_images_tui.ids import SectionRef
from blog_images_tui.storage import MetadataWriteFailed, Store, StoredImage, open_store
from blog_images_tui.testing.fake_images_api import make_png

PNG = make_png(64, 32)
SECTION = SectionRef(53, 1)


def _save(store: Store, section: SectionRef = SECTION, filename: str = "hero", data: bytes = PNG,
          **meta: Any) -> StoredImage:
    return store.save(section, filename, "png", data, {"post_id": section.post_id, "prompt": "p", **meta})


class BackendContract:
    """Every backend's duties. Subclass it and provide a ``store_url`` fixture."""

    def open_store(self, url: str) -> Store:
        """How the suite opens a store; override for a backend not registered by entry point."""
        return open_store(url)

    def test_empty_store_lists_nothing(self, store_url):
        store = self.open_store(store_url)
        assert store.list_posts() == []
        assert store.list_sections(53) == []
        assert store.list_images(SECTION) == []

    def test_save_then_browse_one_level_at_a_time(self, store_url):
        store = self.open_store(store_url)
        stored = _save(store)
        _save(store, SectionRef(53, "intro"), "b")
        _save(store, SectionRef(7, 2), "c")
        _save(store, SectionRef("slug-post", 1), "d")
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

    def test_paths_have_the_layout_on_every_backend(self, store_url):
        store = self.open_store(store_url)
        stored = _save(store)
        if store_url.startswith("s3://"):
            bucket_prefix = store_url.removeprefix("s3://")
            assert stored.image_path == f"s3://{bucket_prefix}/content/posts/53/sections/1/raw/hero.png"
        elif store_url.startswith("memory://"):
            assert stored.image_path.startswith("memory://")
        else:
            assert stored.image_path == f"{store_url}/content/posts/53/sections/1/raw/hero.png"

    def test_existing_name_is_never_overwritten(self, store_url):
        store = self.open_store(store_url)
        _save(store)
        other = make_png(16, 16)
        with pytest.raises(FileExistsError):
            _save(store, data=other)
        assert store.read_image(SECTION, "hero.png") == PNG
        with pytest.raises(FileExistsError):
            store.create(layout.image_path(SECTION, "hero", "png"), other, "image/png")
        assert store.read_image(SECTION, "hero.png") == PNG
        assert store.name_taken(SECTION, "hero", "png")
        assert not store.name_taken(SECTION, "other", "png")

    def test_metadata_is_written_after_the_image_and_is_valid_json(self, store_url):
        store = self.open_store(store_url)
        _save(store, prompt="emoji 🦊 and עברית")
        raw = store.read_bytes(layout.metadata_path(SECTION, "hero"))
        assert json.loads(raw)["prompt"] == "emoji 🦊 and עברית"

    def test_junk_names_are_ignored_by_listings(self, store_url):
        store = self.open_store(store_url)
        _save(store)
        raw = layout.raw_dir(SECTION)
        store.create(f"{layout.POSTS_DIR}/.DS_Store/x", b"x", "application/octet-stream")
        store.create(f"{layout.POSTS_DIR}/bad name/sections/1/raw/a.png", PNG, "image/png")
        store.create(f"{raw}/notes.txt", b"x", "text/plain")
        store.create(f"{raw}/.blog-images-tmp-x.png.abc", PNG, "image/png")
        assert store.list_posts() == [53]
        assert [i.image_name for i in store.list_images(SECTION)] == ["hero.png"]

    def test_image_without_metadata_is_listed_as_incomplete(self, store_url):
        store = self.open_store(store_url)
        store.create(layout.image_path(SECTION, "orphan", "png"), PNG, "image/png")
        (entry,) = store.list_images(SECTION)
        assert entry.filename == "orphan" and not entry.has_metadata

    def test_metadata_failure_after_image_is_reported_with_the_image_path(self, store_url):
        store = self.open_store(store_url)
        store.create(layout.metadata_path(SECTION, "x2"), b"{}", "application/json")
        # The metadata name is taken (by another writer): refused before anything is written.
        with pytest.raises(FileExistsError):
            _save(store, filename="x2")
        assert not store.exists(layout.image_path(SECTION, "x2", "png"))

        original = store.backend.write_new

        def failing_metadata_write(fs, path, data, content_type):
            if path.endswith("_metadata.json"):
                raise OSError("disk full")
            return original(fs, path, data, content_type)

        # This one store's backend fails its metadata writes (a disk that fills up midway).
        store.backend.write_new = failing_metadata_write  # type: ignore[method-assign]
        with pytest.raises(MetadataWriteFailed) as caught:
            _save(store, filename="x3")
        assert caught.value.image_display.endswith("raw/x3.png")
        assert store.read_image(SECTION, "x3.png") == PNG  # the image itself is intact

    def test_delete_removes_image_and_metadata(self, store_url):
        store = self.open_store(store_url)
        _save(store)
        store.delete_image(SECTION, "hero.png")
        assert store.list_images(SECTION) == []
        assert not store.exists(layout.metadata_path(SECTION, "hero"))

    def test_writable_check_passes_and_leaves_nothing(self, store_url):
        store = self.open_store(store_url)
        store.check_writable()
        assert store.list_posts() == []
        assert store.list_raw_names(SECTION) == []

    def test_read_refuses_names_outside_the_allowlist(self, store_url):
        store = self.open_store(store_url)
        for bad in ("../x.png", "a/b.png", "x.txt", ".hidden.png"):
            with pytest.raises(BadInput):
                store.read_image(SECTION, bad)

    def test_fresh_listing_sees_objects_written_by_another_client(self, store_url):
        first, second = self.open_store(store_url), self.open_store(store_url)
        assert first.list_images(SECTION) == []
        _save(second)
        assert [i.image_name for i in first.list_images(SECTION)] == ["hero.png"]

    def test_a_name_is_never_visible_before_its_object_is_whole(self, store_url):
        store = self.open_store(store_url)
        data = os.urandom(4 * 1024 * 1024)
        path = layout.image_path(SECTION, "big", "png")
        seen: list[int] = []
        writer = threading.Thread(target=store.create, args=(path, data, "image/png"))
        writer.start()
        while writer.is_alive():
            if store.exists(path):
                seen.append(len(store.read_bytes(path)))
        writer.join()
        assert store.read_bytes(path) == data
        assert all(size == len(data) for size in seen), f"a partial object was visible: sizes {sorted(set(seen))}"

    def test_a_second_create_of_one_name_is_refused_and_changes_nothing(self, store_url):
        store = self.open_store(store_url)
        path = layout.metadata_path(SECTION, "once")
        store.create(path, b'{"first": true}', "application/json")
        with pytest.raises(FileExistsError):
            store.create(path, b'{"second": true}', "application/json")
        assert store.read_bytes(path) == b'{"first": true}'

