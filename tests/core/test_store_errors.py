"""The Store turns whatever its backend raises into the core's errors (the faces catch only those)."""

from __future__ import annotations

import uuid

import pytest
from fsspec.implementations.memory import MemoryFileSystem

from backends.memory import MemoryBackend
from blog_images_tui.errors import BlogImagesError, StoreUnusable
from blog_images_tui.ids import SectionRef
from blog_images_tui.storage import Store

SECTION = SectionRef(53, 1)


class _RefusingFileSystem(MemoryFileSystem):
    def rm_file(self, path):
        raise RuntimeError("the service said no")  # like botocore's errors: not an OSError


class _BrokenBackend(MemoryBackend):
    """Fails the way a real backend can: signing without credentials, an odd folder check."""

    def filesystem(self, url):
        return _RefusingFileSystem(), MemoryFileSystem._strip_protocol(url).rstrip("/")

    def link(self, fs, path, *, expires_s=3600):
        raise RuntimeError("no credentials to sign with")

    def check_folder(self, fs, root, folder):
        raise RuntimeError("cannot tell")


@pytest.fixture
def store() -> Store:
    return Store(f"memory://store-errors-{uuid.uuid4().hex[:8]}", _BrokenBackend())


def test_linking_reading_listing_and_removing_raise_only_core_errors(store):
    with pytest.raises(StoreUnusable, match="cannot link .*RuntimeError: no credentials to sign with"):
        store.link(SECTION, "hero.png")
    with pytest.raises(StoreUnusable, match="cannot check .*RuntimeError: cannot tell"):
        store.name_taken(SECTION, "hero")
    with pytest.raises(StoreUnusable, match="cannot delete .*RuntimeError: the service said no"):
        store.remove_file("content/posts/53/sections/1/raw/.leftover")
    with pytest.raises(StoreUnusable, match="cannot delete .*RuntimeError: the service said no"):
        store.delete_image(SECTION, "hero.png")


def test_a_missing_object_is_still_not_found_not_an_error(store):
    with pytest.raises(FileNotFoundError):
        store.read_image(SECTION, "hero.png")
    assert store.list_images(SECTION) == []
    assert issubclass(StoreUnusable, BlogImagesError)
