"""Configuration files: defaults for generation options, and prompt templates.

Every file has the same TOML format::

    [defaults]            # used when neither the batch line nor the command line says
    model = "gpt-image-2"
    size = "1792x1024"
    quality = "medium"
    format = "png"
    jobs = 4              # batch: images at once
    rpm = 20              # batch: images per minute
    budget = 5.0          # batch: USD

    [templates.hero]
    prompt = "STYLE: {style}. SUBJECT: {subject}."

Files are read in this order; a later one wins, key by key and template by
template:

1. the user's file, ``$XDG_CONFIG_HOME/blog-images/config.toml``
   (``~/.config/blog-images/config.toml``);
2. the store's project file, ``blog-images.toml``: for a local store in the
   folder that holds the store folder (the project of ``./static``), so it is
   not published with the images; for S3 and other stores at the store's root
   (``s3://bucket/prefix/blog-images.toml``), shared by everyone using it;
3. ``blog-images.toml`` in the current folder.

``[publish]`` holds the defaults of ``blog-images publish`` (widths, formats,
fallback, quality, sizes; see :mod:`blog_images_tui.webplan`). Other
top-level tables are left for other parts of the tool.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Callable
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from blog_images_tui.errors import BadInput
from blog_images_tui.templates import PromptTemplate, templates_from_table

if TYPE_CHECKING:
    from blog_images_tui.storage import Store

#: reads one config file: its text, or None when there is no file there
ConfigReader = Callable[[], str | None]

PROJECT_FILE = "blog-images.toml"
USER_FILE = "config.toml"
APP_DIR = "blog-images"

#: [defaults] key -> (Defaults field, accepted types)
DEFAULT_KEYS: dict[str, tuple[str, tuple[type, ...]]] = {
    "model": ("model", (str,)),
    "size": ("size", (str,)),
    "quality": ("quality", (str,)),
    "format": ("output_format", (str,)),
    "background": ("background", (str,)),
    "style": ("style", (str,)),
    "jobs": ("jobs", (int,)),
    "rpm": ("rpm", (int, float)),
    "budget": ("budget_usd", (int, float)),
}


@dataclass(frozen=True)
class Defaults:
    """Option defaults; None means "not set here"."""

    model: str | None = None
    size: str | None = None
    quality: str | None = None
    output_format: str | None = None
    background: str | None = None
    style: str | None = None
    jobs: int | None = None
    rpm: float | None = None
    budget_usd: float | None = None

    def merged_over(self, base: Defaults) -> Defaults:
        """These values where set, else ``base``'s."""
        return replace(base, **{f.name: getattr(self, f.name) for f in fields(self)
                                if getattr(self, f.name) is not None})


@dataclass(frozen=True)
class Config:
    defaults: Defaults = field(default_factory=Defaults)
    templates: dict[str, PromptTemplate] = field(default_factory=dict)
    #: the files that were read, lowest priority first
    sources: tuple[str, ...] = ()
    #: every place looked at, found or not (for messages)
    searched: tuple[str, ...] = ()
    #: the ``[publish]`` tables merged key by key (see :mod:`blog_images_tui.webplan`)
    publish: dict[str, Any] = field(default_factory=dict)

    @property
    def publish_source(self) -> str:
        """What to name when the merged ``[publish]`` settings are wrong."""
        return ", ".join(self.sources) or "config"


def user_config_path() -> Path:
    base = os.environ.get("XDG_CONFIG_HOME") or os.path.join(os.path.expanduser("~"), ".config")
    return Path(base) / APP_DIR / USER_FILE


def parse_config(text: str, source: str) -> tuple[Defaults, dict[str, PromptTemplate]]:
    """Defaults and templates of one config file's text; BadInput naming the file."""
    defaults, templates, _publish = parse_config_file(text, source)
    return defaults, templates


def parse_config_file(text: str, source: str) -> tuple[Defaults, dict[str, PromptTemplate], dict[str, Any]]:
    """Defaults, templates and the ``[publish]`` table of one config file; BadInput naming the file."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise BadInput(f"{source}: not valid TOML: {error}") from None
    publish = data.get("publish", {})
    if not isinstance(publish, dict):
        raise BadInput(f"{source}: publish must be a table ([publish])")
    if publish:
        from blog_images_tui.webplan import settings_from_table

        settings_from_table(publish, source)  # a bad key or value is named with its file
    table = data.get("defaults", {})
    if not isinstance(table, dict):
        raise BadInput(f"{source}: defaults must be a table ([defaults])")
    values: dict[str, Any] = {}
    for key, value in table.items():
        if key not in DEFAULT_KEYS:
            raise BadInput(f"{source}: unknown key {key!r} in [defaults] (known: {', '.join(DEFAULT_KEYS)})")
        name, types = DEFAULT_KEYS[key]
        if isinstance(value, bool) or not isinstance(value, types):
            raise BadInput(f"{source}: [defaults] {key} must be {' or '.join(t.__name__ for t in types)}")
        if isinstance(value, int | float):  # jobs, rpm, budget: their types were checked just above
            if key == "jobs" and value < 1:
                raise BadInput(f"{source}: [defaults] jobs must be at least 1")
            if key == "rpm" and value <= 0:
                raise BadInput(f"{source}: [defaults] rpm must be positive")
            if key == "budget" and value < 0:
                raise BadInput(f"{source}: [defaults] budget must not be negative")
            if key in ("rpm", "budget"):
                value = float(value)
        values[name] = value
    templates = templates_from_table(data.get("templates", {}), source)
    return Defaults(**values), templates, publish


def _read_local(path: Path) -> str | None:
    try:
        return path.read_text(encoding="utf-8")
    except (FileNotFoundError, NotADirectoryError):
        return None  # no file there (a broken store path is reported by the store check)
    except UnicodeDecodeError:
        raise BadInput(f"{path}: not UTF-8 text") from None
    except OSError as error:
        raise BadInput(f"cannot read {path}: {error.strerror or error}") from None


def _store_project_file(store: Store) -> tuple[str, ConfigReader]:
    """(display name, reader) of the store's project file."""
    if store.backend.name == "local":
        path = Path(store.root).parent / PROJECT_FILE
        return str(path), lambda: _read_local(path)

    def read() -> str | None:
        try:
            raw = store.read_bytes(PROJECT_FILE)
        except FileNotFoundError:
            return None
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError:
            raise BadInput(f"{store.display_path(PROJECT_FILE)}: not UTF-8 text") from None

    return store.display_path(PROJECT_FILE), read


def config_locations(store: Store | None = None, cwd: Path | None = None) -> list[tuple[str, ConfigReader]]:
    """(name, reader) of every config file, lowest priority first; duplicates removed."""
    user = user_config_path()
    places: list[tuple[str, ConfigReader]] = [(str(user), lambda: _read_local(user))]
    if store is not None:
        places.append(_store_project_file(store))
    here = (cwd or Path.cwd()) / PROJECT_FILE
    places.append((str(here), lambda: _read_local(here)))
    seen: set[str] = set()
    unique = []
    for name, reader in reversed(places):  # keep the highest-priority copy of a repeated file
        key = os.path.realpath(name) if "://" not in name else name
        if key not in seen:
            seen.add(key)
            unique.append((name, reader))
    return list(reversed(unique))


def load_config(store: Store | None = None, *, cwd: Path | None = None) -> Config:
    """Merge every config file that exists (see the module docstring for the order)."""
    defaults, templates, publish, sources, searched = Defaults(), {}, {}, [], []
    for name, reader in config_locations(store, cwd):
        searched.append(name)
        text = reader()
        if text is None:
            continue
        file_defaults, file_templates, file_publish = parse_config_file(text, name)
        defaults = file_defaults.merged_over(defaults)
        templates.update(file_templates)
        publish.update(file_publish)
        sources.append(name)
    return Config(defaults, templates, tuple(sources), tuple(searched), publish=publish)
