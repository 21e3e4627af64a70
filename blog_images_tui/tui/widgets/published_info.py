"""Under the image: whether it is published for the web, its alt text and its snippet.

The manifest (``web/{name}_web.json``) is read by an exclusive thread worker
whenever an image is shown or published; a result for another image than the
one shown is dropped.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from rich.text import Text
from textual import on, work
from textual.message import Message
from textual.widgets import Static

from blog_images_tui.errors import BlogImagesError
from blog_images_tui.storage import ImageEntry, Store, error_summary


@dataclass
class ManifestRead(Message):
    store: Store
    entry: ImageEntry
    manifest: dict[str, Any] | None
    alt: str
    alt_source: str
    problem: str | None = None


def describe_published(manifest: dict[str, Any] | None, alt: str, alt_source: str, problem: str | None) -> Text:
    """Two or three lines: published or not, the alt text and where it came from, the snippet.

    One row each, cut with an ellipsis (the whole snippet is one key away: h or m).
    """
    text = Text(no_wrap=True, overflow="ellipsis")
    if problem:
        text.append("Web    ", "bold")
        text.append(problem, "yellow")
        return text
    text.append("Web    ", "bold")
    if manifest is None:
        text.append("not published", "dim")
        text.append("  P publishes it to web/ (AVIF/WebP + a <picture> snippet)\n", "dim")
    else:
        files = manifest.get("derivatives", [])
        widths = sorted({entry["width"] for entry in files})
        formats = list(dict.fromkeys(entry["format"] for entry in files))
        text.append("published", "bold green")
        text.append(f"  {len(files)} files, {'/'.join(formats)} at {', '.join(map(str, widths))} px"
                    "  h/m copy HTML/Markdown\n", "dim")
    text.append("Alt    ", "bold")
    text.append(alt or "(none)")
    if alt_source == "prompt":
        text.append("  (from the prompt: review it, a edits)", "italic yellow")
    elif alt_source == "missing":
        text.append("  a edits it", "dim")
    if manifest is not None:
        text.append("\nSnippet ", "bold")
        text.append(str(manifest.get("markdown", "")), "dim")
    return text


class PublishedInfo(Static):
    """The publish state of the image shown; holds its manifest for the copy keys."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__("", id=id, markup=False)
        self.store: Store | None = None
        self.entry: ImageEntry | None = None
        self.manifest: dict[str, Any] | None = None
        self.alt: str = ""

    def clear(self) -> None:
        self.store = self.entry = self.manifest = None
        self.update("")
        self.display = False

    def show(self, store: Store, entry: ImageEntry) -> None:
        """Read and show the publish state of ``entry`` (in a worker)."""
        if (store, entry) != (self.store, self.entry):
            self.manifest, self.alt = None, ""
            self.update(Text("Web    …", "dim"))
        self.store, self.entry = store, entry
        self.display = True
        self._read(store, entry)

    @work(thread=True, exclusive=True, group="published-info", exit_on_error=False)
    def _read(self, store: Store, entry: ImageEntry) -> None:
        from blog_images_tui.publish import alt_of, image_metadata, read_manifest

        try:
            manifest = read_manifest(store, entry.section, entry.filename)
            alt, source = alt_of(image_metadata(store, entry.section, entry.filename))
        except BlogImagesError as error:
            self.post_message(ManifestRead(store, entry, None, "", "", problem=error.message))
            return
        except Exception as error:  # noqa: BLE001 - shown, never raised into the app
            self.post_message(ManifestRead(store, entry, None, "", "", problem=error_summary(error)))
            return
        self.post_message(ManifestRead(store, entry, manifest, alt, source))

    @on(ManifestRead)
    def _read_done(self, message: ManifestRead) -> None:
        message.stop()
        if message.store is not self.store or message.entry != self.entry:
            return  # the user moved on
        self.manifest, self.alt = message.manifest, message.alt
        self.update(describe_published(message.manifest, message.alt, message.alt_source, message.problem))
        self.screen.refresh_bindings()  # the copy keys exist only for a published image
