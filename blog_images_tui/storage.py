"""The store: one blog asset tree on any backend, read and written through fsspec.

Layout (see :mod:`blog_images_tui.layout`) is the same on every backend.
Listings go one level at a time (``ls`` of one folder, never a tree walk), so
opening a section costs the same in a small store and a huge one.

Every write goes through the write API here, whose rules are in
``docs/write-protocol.md``: :meth:`Store.create` makes a new object
exclusively (never overwriting, never showing a partial one), and
:meth:`Store.replace` replaces one of the only replaceable things (a manifest
JSON, a metadata's ``alt``) as a whole, if it is unchanged since
:meth:`Store.read_versioned` read it. An image is created first, then its
metadata JSON, which marks the pair complete. A stem (``hero``) is one name
whatever its extension and letter case. All calls here are blocking; async
callers run them in a thread.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, BinaryIO

from blog_images_tui import layout
from blog_images_tui.backend import REPLACEABLE_CONTENT_TYPES, Backend
from blog_images_tui.errors import BadInput, BlogImagesError, Conflict, StoreUnusable
from blog_images_tui.ids import PostId, SectionRef, parse_filename, parse_id

DEFAULT_STORE = "./static"
STORE_ENV = "BLOG_IMAGES_STORE"


def default_store_url() -> str:
    return os.environ.get(STORE_ENV) or DEFAULT_STORE


@dataclass(frozen=True)
class ImageEntry:
    """One image in a section's ``raw/`` folder, as a listing shows it."""

    section: SectionRef
    filename: str  # base name, no extension
    image_name: str  # e.g. "hero.png"
    output_format: str
    size_bytes: int
    modified: float | None
    has_metadata: bool


@dataclass(frozen=True)
class FileEntry:
    """One file directly in a store folder, as one detailed listing shows it."""

    name: str
    size_bytes: int
    modified: float | None


@dataclass(frozen=True)
class StoredImage:
    """A generated image that is safely in the store, with its metadata."""

    section: SectionRef
    filename: str
    image_path: str  # full local path or s3://bucket/key
    metadata_path: str
    metadata: dict[str, Any] = field(repr=False)


def _sort_key(value: PostId) -> tuple[int, int, str]:
    return (0, value, "") if isinstance(value, int) else (1, 0, value)


class Store:
    """An image store rooted at ``url`` (a local path or any fsspec URL)."""

    def __init__(self, url: str, backend: Backend) -> None:
        self.url = url
        self.backend = backend
        try:
            self.fs, self.root = backend.filesystem(url)
        except (OSError, ValueError, ImportError) as error:
            raise StoreUnusable(f"cannot open store {url}: {error}") from None

    def __repr__(self) -> str:
        return f"Store({self.url!r}, backend={self.backend.name!r})"

    @property
    def location(self) -> str:
        """``url`` usable from any working folder: a relative local path made absolute.

        What a note kept for later (the recovery folder) must name.
        """
        from fsspec.implementations.local import LocalFileSystem

        if not isinstance(self.fs, LocalFileSystem):
            return self.url
        scheme, sep, _ = self.url.partition("://")
        return f"{scheme}://{self.root}" if sep else self.root

    # -- paths -------------------------------------------------------------
    def _abs(self, relative: str) -> str:
        return f"{self.root}/{relative}" if self.root else relative

    def display_path(self, relative: str) -> str:
        """Full local path or URL of a store-relative path."""
        return self.backend.display_path(self.fs, self._abs(relative))

    def public_url(self, relative: str) -> str:
        """The URL a web page links a store-relative path with (see ``Backend.public_url``)."""
        return self.backend.public_url(self.root, relative)

    def link(self, section: SectionRef, name: str, *, expires_s: int = 3600) -> str:
        """A URL to open the object: public base URL, signed URL or file:// URL."""
        relative = f"{layout.raw_dir(section)}/{name}"
        try:
            return self.backend.link(self.fs, self._abs(relative), expires_s=expires_s)
        except Exception as error:  # signing may need credentials the store's reads did not
            raise StoreUnusable(f"cannot link {self.display_path(relative)}: {describe_store_error(error)}") from None

    # -- listing ------------------------------------------------------------
    def _ls(self, relative: str) -> list[dict[str, Any]]:
        path = self._abs(relative)
        try:
            self.fs.invalidate_cache(path)
            return self.fs.ls(path, detail=True)
        except FileNotFoundError:
            return []
        except Exception as error:  # botocore's connection/credential errors are not OSErrors
            raise StoreUnusable(f"cannot list {self.display_path(relative)}: {describe_store_error(error)}") from None

    def _child_ids(self, relative: str) -> list[PostId]:
        ids = []
        for entry in self._ls(relative):
            if entry.get("type") != "directory":
                continue
            name = entry["name"].rstrip("/").rsplit("/", 1)[-1]
            try:
                ids.append(parse_id(name))
            except BadInput:
                continue  # not ours (".DS_Store", "drafts~", ...)
        return sorted(set(ids), key=_sort_key)

    def list_posts(self) -> list[PostId]:
        """Post ids in the store, numeric ones first in numeric order."""
        return self._child_ids(layout.POSTS_DIR)

    def missing_root(self) -> str | None:
        """For a store without posts: ``"folder"`` (a local folder not there yet: the first image
        creates it), ``"bucket"`` (its bucket does not exist), or None (it is there, only empty)."""
        from fsspec.implementations.local import LocalFileSystem

        try:
            if isinstance(self.fs, LocalFileSystem):
                return None if self.fs.exists(self.root) else "folder"
            bucket = self.root.split("/", 1)[0]
            if self.backend.name == "s3" and bucket and not self.fs.exists(bucket):
                return "bucket"
        except Exception as error:  # noqa: BLE001 - unreachable: the listing said so already
            raise StoreUnusable(f"cannot reach {self.url}: {describe_store_error(error)}") from None
        return None

    def list_sections(self, post_id: PostId) -> list[PostId]:
        """Section ids of one post."""
        return self._child_ids(layout.sections_dir(parse_id(post_id, what="post id")))

    def list_images(self, section: SectionRef) -> list[ImageEntry]:
        """Images of one section (one listing of its ``raw/`` folder), oldest name first."""
        entries = self._ls(layout.raw_dir(section))
        names = {entry["name"].rsplit("/", 1)[-1]: entry for entry in entries if entry.get("type") == "file"}
        images = []
        for name, entry in names.items():
            stem, dot, ext = name.rpartition(".")
            fmt = layout.EXTENSION_FORMATS.get(ext.lower())
            if not dot or fmt is None or name.startswith("."):
                continue
            images.append(
                ImageEntry(
                    section=section,
                    filename=stem,
                    image_name=name,
                    output_format=fmt,
                    size_bytes=int(entry.get("size") or 0),
                    modified=_modified(entry),
                    has_metadata=layout.metadata_name(stem) in names,
                )
            )
        return sorted(images, key=lambda image: image.image_name)

    def list_raw_names(self, section: SectionRef) -> list[str]:
        """Every file name in a section's ``raw/`` folder (for repair tools)."""
        entries = self._ls(layout.raw_dir(section))
        return sorted(e["name"].rsplit("/", 1)[-1] for e in entries if e.get("type") == "file")

    def list_raw_names_by_section(self, post_id: PostId) -> dict[SectionRef, set[str]]:
        """The file names in every section's ``raw/`` folder of one post, from one recursive listing.

        On S3 that is one LIST per 1,000 objects of the post, where listing section by
        section costs one per section: what a batch filling several sections asks for.
        """
        post_id = parse_id(post_id, what="post id")
        base = self._abs(layout.sections_dir(post_id))
        try:
            paths = self.backend.list_tree(self.fs, base)
        except Exception as error:
            raise StoreUnusable(f"cannot list {self.display_path(layout.sections_dir(post_id))}: "
                                f"{describe_store_error(error)}") from None
        found: dict[SectionRef, set[str]] = {}
        for path in paths:
            parts = path[len(base):].strip("/").split("/")
            # {section}/raw/{name}, or something inside {section}/raw/{name}/: a folder takes a stem too
            if len(parts) < 3 or parts[1] != "raw":
                continue
            try:
                section = SectionRef(post_id, parse_id(parts[0]))
            except BadInput:
                continue
            found.setdefault(section, set()).add(parts[2])
        return found

    def list_files(self, relative: str) -> list[FileEntry]:
        """The files (not folders) directly in one store folder, with size and time (repair tools)."""
        entries = [FileEntry(entry["name"].rstrip("/").rsplit("/", 1)[-1], int(entry.get("size") or 0),
                             _modified(entry))
                   for entry in self._ls(relative) if entry.get("type") == "file"]
        return sorted(entries, key=lambda entry: entry.name)

    # -- reading -------------------------------------------------------------
    def read_bytes(self, relative: str) -> bytes:
        try:
            return self.fs.cat_file(self._abs(relative))
        except FileNotFoundError:
            raise
        except Exception as error:
            raise StoreUnusable(f"cannot read {self.display_path(relative)}: {describe_store_error(error)}") from None

    def read_image(self, section: SectionRef, image_name: str) -> bytes:
        return self.read_bytes(_image_relative(section, image_name))

    def image_info(self, section: SectionRef, image_name: str) -> FileEntry:
        """Size and time of one image (one HEAD on S3); ``FileNotFoundError`` if absent."""
        relative = _image_relative(section, image_name)
        try:
            info = self.fs.info(self._abs(relative))
        except FileNotFoundError:
            raise
        except Exception as error:
            raise StoreUnusable(f"cannot reach {self.display_path(relative)}: {describe_store_error(error)}") from None
        if info.get("type") == "directory":
            raise FileNotFoundError(self.display_path(relative))
        return FileEntry(image_name, int(info.get("size") or 0), _modified(info))

    def open_image(self, section: SectionRef, image_name: str) -> BinaryIO:
        """An open binary file of one image, to stream it without reading it whole; close it after."""
        relative = _image_relative(section, image_name)
        try:
            return self.fs.open(self._abs(relative), "rb")
        except FileNotFoundError:
            raise
        except Exception as error:
            raise StoreUnusable(f"cannot read {self.display_path(relative)}: {describe_store_error(error)}") from None

    def read_metadata(self, section: SectionRef, filename: str) -> dict[str, Any]:
        """The metadata JSON of one image; ``FileNotFoundError`` if it has none."""
        raw = self.read_bytes(layout.metadata_path(section, parse_filename(filename)))
        return json.loads(raw)

    def exists(self, relative: str) -> bool:
        try:
            return self.fs.exists(self._abs(relative))
        except Exception as error:
            raise StoreUnusable(f"cannot reach {self.display_path(relative)}: {describe_store_error(error)}") from None

    def names_in(self, relative: str) -> list[str]:
        """Every name directly in a folder, whatever it is (file, folder, symlink, dangling symlink)."""
        from fsspec.implementations.local import LocalFileSystem

        if isinstance(self.fs, LocalFileSystem):
            # fsspec's local listing follows symlinks and drops dangling ones: a name
            # that is taken must be seen, whatever takes it.
            try:
                return sorted(os.listdir(self._abs(relative)))
            except (FileNotFoundError, NotADirectoryError):
                return []
            except OSError as error:
                raise StoreUnusable(f"cannot list {self.display_path(relative)}: {error_summary(error)}") from None
        return sorted({entry["name"].rstrip("/").rsplit("/", 1)[-1] for entry in self._ls(relative)})

    def stem_holders(self, section: SectionRef, filename: str) -> list[str]:
        """Names in the section's ``raw/`` that take the stem ``filename`` (one listing).

        A stem is one name whatever its extension and letter case: ``Hero.jpg``,
        ``hero.png``, ``hero_metadata.json`` and a folder or symlink called
        ``hero.webp`` all take ``hero``, so stores on case-insensitive disks
        behave like the rest and two formats never share one metadata file.
        Raises :class:`StoreUnusable` if the folder cannot hold images.
        """
        raw = layout.raw_dir(section)
        self._check_folder(raw)
        wanted = filename.lower()
        return [name for name in self.names_in(raw) if layout.stem_of(name).lower() == wanted]

    def _check_folder(self, relative: str) -> None:
        try:
            self.backend.check_folder(self.fs, self.root, self._abs(relative))
        except BlogImagesError:
            raise
        except Exception as error:
            raise StoreUnusable(f"cannot check {self.display_path(relative)}: {describe_store_error(error)}") from None

    def name_taken(self, section: SectionRef, filename: str, output_format: str | None = None) -> bool:
        """True if anything in the section already takes the stem ``filename`` (any format or case)."""
        return bool(self.stem_holders(section, filename))

    # -- writing --------------------------------------------------------------
    def check_writable(self) -> None:
        """Fail fast, before paying for an image, if the store cannot take one."""
        try:
            self.backend.check_writable(self.fs, self.root)
        except PermissionError as error:
            raise StoreUnusable(f"no permission to write to {self.url}: {error_summary(error)}",
                                hint="check credentials and bucket policy") from None
        except FileNotFoundError as error:
            raise StoreUnusable(f"store {self.url} does not exist: {error_summary(error)}",
                                hint="create the bucket or folder first") from None
        except (OSError, ValueError) as error:
            raise StoreUnusable(f"cannot write to {self.url}: {error_summary(error)}") from None
        except Exception as error:  # botocore credential errors are not OSErrors
            raise StoreUnusable(f"cannot write to {self.url}: {type(error).__name__}: {error_summary(error)}") from None

    def create(self, relative: str, data: bytes, content_type: str) -> str:
        """Create one new object exclusively; ``FileExistsError`` if the name is taken.

        Nothing is ever overwritten and no partial object is ever visible under
        the final name. It carries ``content_type`` and the store's
        Cache-Control (never ``immutable`` on a replaceable JSON). Returns its
        display path.
        """
        self.backend.write_new(self.fs, self._abs(relative), data, content_type)
        return self.display_path(relative)

    #: the name :meth:`create` had before the write protocol (same call)
    write_new = create

    def read_versioned(self, relative: str) -> tuple[bytes, str]:
        """The bytes of an object and its version token (for :meth:`replace`).

        The token is the ETag on S3 and a hash of the bytes elsewhere.
        ``FileNotFoundError`` if it does not exist.
        """
        try:
            return self.backend.read_versioned(self.fs, self._abs(relative))
        except FileNotFoundError:
            raise
        except Exception as error:
            raise StoreUnusable(f"cannot read {self.display_path(relative)}: {describe_store_error(error)}") from None

    def replace(self, relative: str, data: bytes, content_type: str, expected_version: str) -> str:
        """Replace a replaceable JSON object as a whole if it still has ``expected_version``.

        Only manifests and metadata (for its ``alt``) are ever replaced: any other
        name or content type is refused. Raises :class:`Conflict` if the object
        changed or vanished since it was read (nothing written). Returns the
        new version token.
        """
        if not relative.endswith(".json") or content_type not in REPLACEABLE_CONTENT_TYPES:
            raise BadInput(f"{relative} is not replaceable: only a manifest or metadata JSON is ever replaced")
        try:
            return self.backend.replace_if(self.fs, self._abs(relative), data, content_type, expected_version)
        except Conflict:
            raise
        except Exception as error:
            raise StoreUnusable(f"cannot replace {self.display_path(relative)}: "
                                f"{describe_store_error(error)}") from None

    def read_json_versioned(self, relative: str) -> tuple[dict[str, Any] | None, str | None]:
        """A JSON object and its version token, or (None, None) if there is none.

        :class:`StoreUnusable` if it is not a JSON object (a person must look at it).
        """
        try:
            raw, version = self.read_versioned(relative)
        except FileNotFoundError:
            return None, None
        try:
            value = json.loads(raw)
        except (UnicodeDecodeError, json.JSONDecodeError):
            raise StoreUnusable(f"{self.display_path(relative)} is not valid JSON",
                                hint="fix or remove it by hand; `blog-images doctor` lists it") from None
        if not isinstance(value, dict):
            raise StoreUnusable(f"{self.display_path(relative)} is not a JSON object")
        return value, version

    def update_json(self, relative: str, change: Callable[[dict[str, Any] | None], dict[str, Any] | None], *,
                    attempts: int = 5) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
        """Read a replaceable JSON object, change it, write it back conditionally.

        ``change`` gets the object as stored (None if there is none) and
        returns the new one, or None (or the same) to leave it as it is. A
        missing object is created exclusively, an existing one replaced with
        :meth:`replace`; when another writer got there first, it reads again
        and re-applies ``change``, up to ``attempts`` times, then raises
        :class:`Conflict`. Returns (the object before, the object after).
        """
        for attempt in range(attempts):
            current, version = self.read_json_versioned(relative)
            updated = change(current)
            if updated is None or updated == current:
                return current, current
            try:
                if version is None:
                    self.create(relative, encode_metadata(updated), layout.CONTENT_TYPES["json"])
                else:
                    self.replace(relative, encode_metadata(updated), layout.CONTENT_TYPES["json"], version)
                return current, updated
            except (Conflict, FileExistsError):
                if attempt == attempts - 1:
                    raise Conflict(f"{self.display_path(relative)} kept changing while it was being updated",
                                   hint="try again") from None
        raise AssertionError("unreachable")

    def replace_metadata_alt(self, section: SectionRef, filename: str, alt: str | None,
                             *, attempts: int = 3) -> dict[str, Any]:
        """Set a stored image's ``alt`` text, changing nothing else in its metadata.

        Read, change, conditional replace; on a :class:`Conflict` (another
        writer got there first) it reads again and re-applies, up to
        ``attempts`` times. Returns the metadata as stored.
        ``FileNotFoundError`` if the image has no metadata.
        """
        relative = layout.metadata_path(section, parse_filename(filename))

        def set_alt(metadata: dict[str, Any] | None) -> dict[str, Any] | None:
            if metadata is None:
                raise FileNotFoundError(self.display_path(relative))
            changed = {key: value for key, value in metadata.items() if key != "alt"}
            return changed if alt is None else {**metadata, "alt": alt}

        _before, after = self.update_json(relative, set_alt, attempts=attempts)
        assert after is not None
        return after

    def save(self, section: SectionRef, filename: str, output_format: str,
             image: bytes, metadata: dict[str, Any], *, name_checked: bool = False) -> StoredImage:
        """Store an image, then its metadata JSON (the completion marker).

        Raises ``FileExistsError`` if the stem is taken (nothing written)
        and :class:`MetadataWriteFailed` if the image landed but its metadata
        did not (the caller keeps both for recovery). ``name_checked``: the
        caller saw the stem free in a listing (the engine's, one per batch), so
        an object store is not listed again and only the conditional creates
        guard a race. A local folder is still looked at (it costs no request,
        and only it can hold symlinks the listing does not show).
        """
        from fsspec.implementations.local import LocalFileSystem

        image_rel = layout.image_path(section, filename, output_format)
        meta_rel = layout.metadata_path(section, filename)
        if name_checked and not isinstance(self.fs, LocalFileSystem):
            self._check_folder(layout.raw_dir(section))
        else:
            holders = self.stem_holders(section, filename)
            if holders:
                raise FileExistsError(self.display_path(f"{layout.raw_dir(section)}/{holders[0]}"))
        image_display = self.create(image_rel, image, layout.CONTENT_TYPES[output_format])
        try:
            meta_display = self.create(meta_rel, encode_metadata(metadata), layout.CONTENT_TYPES["json"])
        except Exception as error:
            raise MetadataWriteFailed(image_display, error) from error
        return StoredImage(section, filename, image_display, meta_display, metadata)

    def delete_image(self, section: SectionRef, entry_name: str) -> None:
        """Delete an image and its metadata (metadata first: the pair stops being complete)."""
        stem, _, ext = entry_name.rpartition(".")
        parse_filename(stem)
        for rel in (layout.metadata_path(section, stem), f"{layout.raw_dir(section)}/{entry_name}"):
            try:
                self.fs.rm_file(self._abs(rel))
            except FileNotFoundError:
                pass
            except Exception as error:
                raise StoreUnusable(f"cannot delete {self.display_path(rel)}: {describe_store_error(error)}") from None

    def remove_file(self, relative: str) -> None:
        """Delete one file (repair tools: leftover temp files); one already gone is fine."""
        try:
            self.fs.rm_file(self._abs(relative))
        except FileNotFoundError:
            pass
        except Exception as error:  # botocore's errors are not OSErrors
            raise StoreUnusable(f"cannot delete {self.display_path(relative)}: {describe_store_error(error)}") from None


class MetadataWriteFailed(Exception):
    """The image object exists in the store but its metadata could not be written."""

    def __init__(self, image_display: str, cause: BaseException) -> None:
        super().__init__(f"image stored at {image_display} but its metadata failed: {error_summary(cause)}")
        self.image_display = image_display
        self.cause = cause


def _image_relative(section: SectionRef, image_name: str) -> str:
    """The store path of an image name like ``hero.png``, checked by allowlist (BadInput otherwise)."""
    stem, _, ext = image_name.rpartition(".")
    parse_filename(stem)
    if ext.lower() not in layout.EXTENSION_FORMATS:
        raise BadInput(f"not an image name: {image_name!r}")
    return f"{layout.raw_dir(section)}/{image_name}"


def encode_metadata(metadata: dict[str, Any]) -> bytes:
    return (json.dumps(metadata, indent=2, ensure_ascii=False) + "\n").encode("utf-8")


def error_summary(error: BaseException) -> str:
    text = str(error) or type(error).__name__
    return text.splitlines()[0][:300]


def describe_store_error(error: BaseException) -> str:
    """One line for a store failure; names the type when it is not a plain OS error."""
    if isinstance(error, (OSError, ValueError)):
        return error_summary(error)
    return f"{type(error).__name__}: {error_summary(error)}"


def _modified(entry: dict[str, Any]) -> float | None:
    value = entry.get("mtime") or entry.get("LastModified") or entry.get("created")
    if value is None:
        return None
    if hasattr(value, "timestamp"):
        return value.timestamp()
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def open_store(url: str | None = None, **options: Any) -> Store:
    """Open the store at ``url`` (default: ``$BLOG_IMAGES_STORE`` or ``./static``).

    ``options`` are backend options (for S3: ``endpoint_url``, ``profile``,
    ``cache_control``, ``public_base_url``, ...).
    """
    from blog_images_tui.plugins import backend_for_url

    url = url or default_store_url()
    if _MISTYPED_URL.match(url):
        scheme = url.split(":", 1)[0]
        raise StoreUnusable(f"store {url!r} looks like a mistyped URL (one slash after '{scheme}:')",
                            hint=f"write {scheme}://..., or ./{url} for a local folder of that name")
    return Store(url, backend_for_url(url, options))


#: "s3:/bucket", "s3:bucket": a scheme without "//" would silently become a local folder
_MISTYPED_URL = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]+:(?!//)")
