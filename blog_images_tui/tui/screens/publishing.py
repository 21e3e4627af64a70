"""The main screen's publishing actions: publish (P), copy the HTML or Markdown snippet (h, m), edit alt (a).

A mixin of :class:`~blog_images_tui.tui.screens.main.MainScreen`, kept in its
own file so the screen stays readable. Publishing itself is the
:class:`~blog_images_tui.tui.publish_controller.PublishController`'s; every
store call runs in a thread worker.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from rich.text import Text
from textual import work
from textual.message import Message

from blog_images_tui.errors import BlogImagesError, StoreUnusable
from blog_images_tui.secrets import redact
from blog_images_tui.storage import ImageEntry, Store, error_summary
from blog_images_tui.tui.publish_controller import PublishController, PublishTask

if TYPE_CHECKING:
    from textual.screen import Screen

    from blog_images_tui.tui.app import BlogImagesApp
    from blog_images_tui.tui.widgets.jobs_list import JobsList
    from blog_images_tui.tui.widgets.published_info import PublishedInfo

    _ScreenBase = Screen
else:
    _ScreenBase = object  # at run time a plain mixin: MainScreen(PublishingActions, Screen)

PUBLISH_STATES = {"queued": ("queued", "dim"), "running": ("publishing", "bold yellow"),
                  "published": ("published", "bold green"), "failed": ("failed", "bold red")}
PUBLISH_ACTIONS = ("publish", "copy_html", "copy_markdown", "edit_alt")


@dataclass
class PublishChanged(Message):
    task: PublishTask


@dataclass
class AltSaved(Message):
    store: Store
    entry: ImageEntry
    text: str


def publish_progress(task: PublishTask) -> str:
    if task.state == "running":
        return f"encoding {task.done}/{task.total} files" if task.total else "reading the image"
    if task.state == "published" and task.result is not None:
        files = len(task.result.manifest["derivatives"])
        return f"{files} files, {len(task.result.created)} new" if task.result.changed else f"{files} files, unchanged"
    if task.state == "failed" and task.error is not None:
        return task.error.title
    return "waiting"


def publish_details(task: PublishTask) -> Text:
    text = Text()
    text.append("Publish ", "bold")
    text.append(f"{task.filename} in {task.section} for the web\n")
    if task.state == "failed" and task.error is not None:
        text.append(f"{task.error.title}: ", "bold red")
        text.append(redact(str(task.error)))
    elif task.result is not None:
        text.append("Manifest ", "bold green")
        text.append(task.result.manifest_path + "\n")
        for note in task.result.manifest.get("notes", []):
            text.append("Note ", "bold yellow")
            text.append(note + "\n")
    return text


class PublishingActions(_ScreenBase):
    """Mixed into the main screen (which provides ``store``, ``current_image``, ``jobs`` and ``notify``)."""

    publishing: PublishController | None = None
    if TYPE_CHECKING:  # what the main screen provides
        app: BlogImagesApp
        store: Store | None

        @property
        def current_image(self) -> ImageEntry | None: ...
        @property
        def active_tab(self) -> str: ...
        @property
        def jobs(self) -> JobsList: ...

    def _start_publishing(self) -> None:
        def changed(task: PublishTask) -> None:
            # A copy of the task as it is now: the message is handled later, when the task may have moved on.
            self.post_message(PublishChanged(replace(task)))

        self.publishing = PublishController(changed)

    @property
    def published_info(self) -> PublishedInfo:
        from blog_images_tui.tui.widgets.published_info import PublishedInfo

        return self.query_one(PublishedInfo)

    def _check_publish_action(self, action: str) -> bool:
        if self.current_image is None or self.active_tab != "image-tab" or self.store is None:
            return False
        if action in ("copy_html", "copy_markdown"):
            return self.published_info.manifest is not None
        return True

    def action_publish(self) -> None:
        entry, store = self.current_image, self.store
        if entry is None or store is None or self.publishing is None:
            return
        if not entry.has_metadata:
            self.notify(f"{entry.image_name} has no metadata: nothing to publish from", severity="warning",
                        markup=False)
            return
        if self.publishing.publish(store, entry.section, entry.filename) is None:
            self.notify(f"{entry.image_name} is being published already", markup=False)

    # on_* names, not @on: Textual registers @on handlers of its own classes only, not of a mixin.
    def on_publish_changed(self, message: PublishChanged) -> None:
        task = message.task
        self.jobs.update_task(task.key, PUBLISH_STATES[task.state], publish_progress(task),
                              f"{task.section.post_id}/{task.section.section_id}  {task.filename} (web)",
                              publish_details(task))
        if task.state == "published":
            self.notify(f"Published {task.filename} ({publish_progress(task)}): h/m copy the snippet",
                        title="Published", markup=False)
        elif task.state == "failed" and task.error is not None:
            self.app.report_error(task.error)
        if task.finished and task.store is self.store and self.current_image is not None \
                and (self.current_image.section, self.current_image.filename) == (task.section, task.filename):
            self.published_info.show(task.store, self.current_image)
            self.refresh_bindings()

    def _copy_snippet(self, kind: str) -> None:
        manifest = self.published_info.manifest
        if manifest is None:
            return
        # OSC 52: the terminal puts it on the clipboard, over SSH too (tmux needs `set-clipboard on`).
        self.app.copy_to_clipboard(manifest[kind])
        label = "HTML" if kind == "html" else "Markdown"
        self.notify(f"Copied the {label} snippet of {manifest['name']}", title="Copied", timeout=4, markup=False)

    def action_copy_html(self) -> None:
        self._copy_snippet("html")

    def action_copy_markdown(self) -> None:
        self._copy_snippet("markdown")

    def action_edit_alt(self) -> None:
        from blog_images_tui.tui.dialogs import AltTextDialog

        entry, store = self.current_image, self.store
        if entry is None or store is None:
            return

        def chosen(text: str | None) -> None:
            if text is not None:
                self._save_alt(store, entry, text)

        self.app.push_screen(AltTextDialog(entry.image_name, self.published_info.alt), chosen)

    @work(thread=True, group="alt", exit_on_error=False)
    def _save_alt(self, store: Store, entry: ImageEntry, text: str) -> None:
        from blog_images_tui.publish import set_alt
        from blog_images_tui.tui.messages import ErrorReported

        try:
            set_alt(store, entry.section, entry.filename, text)
        except BlogImagesError as error:
            self.post_message(ErrorReported(error))
            return
        except Exception as error:  # noqa: BLE001
            self.post_message(ErrorReported(StoreUnusable(f"cannot save the alt text: {error_summary(error)}")))
            return
        self.post_message(AltSaved(store, entry, text))

    def on_alt_saved(self, message: AltSaved) -> None:
        self.notify(f"Alt text of {message.entry.image_name} saved", title="Alt text", markup=False)
        if message.store is self.store and self.current_image == message.entry:
            self.published_info.show(message.store, message.entry)
