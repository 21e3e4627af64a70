"""The main screen: the store tree on the left; Image, Generate and Jobs tabs on the right.

It owns the open :class:`Store` and turns worker and job messages into widget
updates; the jobs themselves are the :class:`JobsController`'s (not a
widget). Nothing here blocks: store calls run in thread workers, jobs run as
asyncio tasks of the engines.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal
from textual.screen import Screen
from textual.widgets import Footer, TabbedContent, TabPane, Tree
from textual.worker import get_current_worker

from blog_images_tui import layout
from blog_images_tui.errors import BlogImagesError, NameTaken, NotStored, StoreUnusable
from blog_images_tui.generation import ImageRequest
from blog_images_tui.ids import PostId
from blog_images_tui.jobs import Job, JobEvent, JobState
from blog_images_tui.plugins import scheme_of
from blog_images_tui.secrets import redact
from blog_images_tui.service import check_names_free
from blog_images_tui.storage import ImageEntry, Store, error_summary, open_store
from blog_images_tui.tui.dialogs import ConfirmDialog, StoreUrlDialog
from blog_images_tui.tui.jobs_controller import JobsController, may_have_been_billed
from blog_images_tui.tui.messages import (
    ConfigLoaded,
    EditPlanned,
    ErrorReported,
    ImageDeleted,
    ImageLoadFailed,
    JobChanged,
    PartialDecoded,
    RecoveriesCounted,
    SourceFound,
    StoreOpened,
    StoreOpenFailed,
)
from blog_images_tui.tui.opener import open_link, open_local_file
from blog_images_tui.tui.screens.publishing import PUBLISH_ACTIONS, PublishingActions
from blog_images_tui.tui.widgets.generate_form import GenerateForm
from blog_images_tui.tui.widgets.image_panel import ImagePanel, web_link
from blog_images_tui.tui.widgets.jobs_list import JobsList, stage_text
from blog_images_tui.tui.widgets.preview import ImagePreview, decode_preview
from blog_images_tui.tui.widgets.published_info import PublishedInfo
from blog_images_tui.tui.widgets.stats_panel import StatsPanel
from blog_images_tui.tui.widgets.store_tree import ImageNode, PostNode, SectionNode, StoreTree
from blog_images_tui.tui.wording import app_message

if TYPE_CHECKING:
    from textual.timer import Timer

    from blog_images_tui.editing import EditOptions
    from blog_images_tui.tui.app import BlogImagesApp

#: Seconds the tree cursor must rest on an image before it is read (arrow-key browsing stays cheap).
PREVIEW_DEBOUNCE_S = 0.12


class MainScreen(PublishingActions, Screen):
    """Browse, preview, generate, follow jobs, publish."""

    app: BlogImagesApp

    BINDINGS = [
        Binding("g", "generate", "Generate", id="generate"),
        Binding("j", "jobs", "Jobs", id="jobs"),
        Binding("r", "refresh", "Refresh", id="refresh"),
        Binding("u", "reuse", "Reuse", id="reuse-image"),
        Binding("c", "copy_path", "Copy", id="copy-path"),
        Binding("o", "open_image", "Open", id="open-image"),
        Binding("d", "delete_image", "Delete", id="delete-image"),
        # Edits, variants and lineage (issue 12): v and s only on images that have them.
        Binding("e", "edit_image", "Edit", id="edit-image"),
        Binding("v", "variants", "Variants", id="show-variants"),
        Binding("s", "source", "Source", id="jump-to-source"),
        Binding("P", "publish", "Publish", id="publish-image"),
        Binding("h", "copy_html", "HTML", id="copy-html"),
        Binding("m", "copy_markdown", "MD", id="copy-markdown"),
        Binding("a", "edit_alt", "Alt", id="edit-alt"),
        # Escape closes the Keys panel first (opened from the palette, it has no key of its own to close).
        Binding("escape", "close_keys", "Close keys", show=False, id="close-keys"),
        Binding("escape", "back", "Back", id="back"),
        # In the Image tab, escape just returns to the tree: not worth footer space.
        Binding("escape", "focus_tree", "Tree", show=False, id="focus-tree"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.store: Store | None = None
        self.jobs_controller: JobsController | None = None
        self._submit_order = asyncio.Lock()
        #: (section, image name) -> the job that stored it, until the tree shows it
        self._stored_images: dict[tuple, str] = {}
        self._preview_timer: Timer | None = None
        #: (section, image name) the user asked to go to; shown when the tree reveals it
        self._jump_to: tuple | None = None
        self._pending_entry: ImageEntry | None = None
        self._binding_state: tuple = ()
        #: the first store opened is the start-up one: the app itself announces waiting recoveries then
        self._starting = True

    # -- layout ------------------------------------------------------------------
    def compose(self) -> ComposeResult:
        with Horizontal(id="main"):
            yield StoreTree(id="tree")
            with TabbedContent(id="tabs", initial="image-tab"):
                with TabPane("Image", id="image-tab"):
                    yield ImagePanel(self.app.config.preview, id="image-panel")
                    yield PublishedInfo(id="published-info")
                with TabPane("Generate", id="generate-tab"):
                    yield GenerateForm(id="form")
                with TabPane("Jobs", id="jobs-tab"):
                    yield JobsList(id="jobs")
                    yield StatsPanel(id="post-stats")
        yield Footer(compact=True)

    def on_mount(self) -> None:
        config = self.app.config
        self.jobs_controller = JobsController(self.app.client_settings, concurrency=config.concurrency,
                                              rpm=config.rpm, on_event=self._job_event)
        if self.app.client_settings.api_key is None:
            self.form.show_key_hint("No API key: browsing works; to generate, set OPENAI_AUTH_TOKEN "
                                    "and start blog-images again")
        self._start_publishing()
        self.query_one(StoreTree).focus()
        self._open(self.app.config.store_url, dict(self.app.config.store_options))

    @property
    def store_tree(self) -> StoreTree:
        return self.query_one(StoreTree)

    @property
    def panel(self) -> ImagePanel:
        return self.query_one(ImagePanel)

    @property
    def form(self) -> GenerateForm:
        return self.query_one(GenerateForm)

    @property
    def jobs(self) -> JobsList:
        return self.query_one(JobsList)

    @property
    def active_tab(self) -> str:
        return self.query_one(TabbedContent).active

    def show_tab(self, tab: str) -> None:
        self.query_one(TabbedContent).active = tab

    def _sync_bindings(self) -> None:
        # The footer rebuilds all its keys on refresh_bindings(): only when what it shows changes.
        state = (self.current_image is not None, self.active_tab, self.store.backend.name if self.store else None)
        if state != self._binding_state:
            self._binding_state = state
            self.refresh_bindings()

    def on_screen_resume(self) -> None:
        self.app.release_notifications()  # held while a dialog covered this screen

    @on(TabbedContent.TabActivated)
    def _tab_changed(self, event: TabbedContent.TabActivated) -> None:
        self._sync_bindings()

    # -- errors --------------------------------------------------------------------
    @on(ErrorReported)
    def _error_reported(self, message: ErrorReported) -> None:
        message.stop()
        self.app.report_error(message.error)

    @on(ImageLoadFailed)
    def _image_failed(self, message: ImageLoadFailed) -> None:
        message.stop()
        if message.store is self.store:
            self.app.report_error(message.error)

    # -- the store --------------------------------------------------------------------
    def switch_store(self, url: str) -> None:
        """Open the store at ``url``; the tree reloads when it is open (the old one stays on failure)."""
        url = url.strip()
        if not url:
            return
        # Backend options of the open store (an S3 endpoint, a profile) carry over to one of the same kind.
        current = self.store
        same_kind = current is not None and scheme_of(url) == scheme_of(current.url)
        options = dict(current.backend.options) if current is not None and same_kind else {}
        self.notify(f"Opening store {url}…", timeout=2, markup=False)
        self._open(url, options)

    @work(thread=True, exclusive=True, group="open-store", exit_on_error=False)
    def _open(self, url: str | None, options: dict) -> None:
        try:
            store = open_store(url, **options)
        except BlogImagesError as error:
            self.post_message(StoreOpenFailed(url or "", error))
            return
        except Exception as error:  # noqa: BLE001 - e.g. a backend import failing
            self.post_message(StoreOpenFailed(url or "", StoreUnusable(
                f"cannot open store {url}: {error_summary(error)}")))
            return
        if get_current_worker().is_cancelled:
            return  # another switch was asked for meanwhile: that one wins
        self.post_message(StoreOpened(store))

    @on(StoreOpened)
    def _store_opened(self, message: StoreOpened) -> None:
        self.store = message.store
        self.app.remember_store(message.store.url)
        self.app.sub_title = message.store.url
        self._pending_entry = None
        self.panel.clear(f"Store: {message.store.url}\n\nChoose an image in the tree, or press g to generate one.")
        self.published_info.clear()
        self.store_tree.set_store(message.store)
        self.query_one(StatsPanel).show_post(message.store, None)
        self._load_config(message.store)
        self._count_recoveries(announce=not self._starting)
        self._starting = False
        self._sync_bindings()

    @on(StoreOpenFailed)
    def _store_failed(self, message: StoreOpenFailed) -> None:
        self._starting = False
        self.app.report_error(message.error)
        if self.store is None:
            self.store_tree.border_title = "Store (none open)"
            self.store_tree.clear()
            self.store_tree.root.add_leaf("no store open: ctrl+p")  # the palette says to type a store URL

    @work(thread=True, exclusive=True, group="config", exit_on_error=False)
    def _load_config(self, store: Store) -> None:
        """Read the config files: templates and [defaults] (the store's project file may be on S3: a thread)."""
        from blog_images_tui.config import load_config

        try:
            config = load_config(store)
        except BlogImagesError as error:  # the store wraps its backend's errors
            self.post_message(ConfigLoaded(store, {}, error=error))
            return
        self.post_message(ConfigLoaded(store, config.templates, config.defaults, config.searched))

    @on(ConfigLoaded)
    def _config_loaded(self, message: ConfigLoaded) -> None:
        if message.store is not self.store:
            return  # read from a store we switched away from
        problem = redact(str(message.error)) if message.error is not None else None
        self.form.set_templates(message.templates, message.searched, problem)
        if message.defaults is not None:
            self.form.apply_defaults(message.defaults)
        if message.error is not None:
            self.app.report_error(message.error)

    @work(thread=True, exclusive=True, group="recovery-count", exit_on_error=False)
    def _count_recoveries(self, announce: bool = False) -> None:
        """Count the images waiting in the local recovery folder (any store; a thread: it reads disk)."""
        from blog_images_tui.recovery import list_pending, recovery_root

        try:
            count, folder = len(list_pending()), str(recovery_root())
        except OSError:
            return  # an unreadable recovery folder: `blog-images doctor` reports it
        self.post_message(RecoveriesCounted(count, folder, announce))

    @on(RecoveriesCounted)
    def _recoveries_counted(self, message: RecoveriesCounted) -> None:
        # Short, to fit a narrow tree: the notification says where and how.
        self.store_tree.border_subtitle = f"⚠ {message.count} to recover" if message.count else ""
        if message.announce and message.count:
            self.notify(f"{message.count} generated image(s) waiting in {message.folder}: run `blog-images recover`",
                        title="Images waiting", severity="warning", timeout=20, markup=False)

    def action_switch_store(self) -> None:
        def chosen(url: str | None) -> None:
            if url:
                self.switch_store(url)

        self.app.push_screen(StoreUrlDialog(self.store.url if self.store else ""), chosen)

    def action_refresh(self) -> None:
        if self.store is None:
            self._open(self.app.config.store_url, dict(self.app.config.store_options))
            return
        self.store_tree.reload()
        self._load_config(self.store)  # the project file may have been edited meanwhile
        self._count_recoveries()  # `blog-images recover` may have run meanwhile
        entry = self.panel.entry
        if entry is not None:
            self.panel.load(self.store, entry)

    # -- browsing ------------------------------------------------------------------------
    @on(Tree.NodeHighlighted)
    def _highlighted(self, event: Tree.NodeHighlighted) -> None:
        data = event.node.data
        if isinstance(data, ImageNode):
            self.form.set_target(data.entry.section.post_id, data.entry.section.section_id)
            if self.active_tab != "generate-tab" or not self._typing_in_form():
                self.show_tab("image-tab")
            self._pending_entry = data.entry
            if self._preview_timer is not None:
                self._preview_timer.stop()
            self._preview_timer = self.set_timer(PREVIEW_DEBOUNCE_S, self._show_pending)
        elif isinstance(data, SectionNode):
            self.form.set_target(data.section.post_id, data.section.section_id)
        elif isinstance(data, PostNode):
            self.form.set_target(data.post_id)
        self.query_one(StatsPanel).show_post(self.store, _post_of(data))
        self._sync_bindings()

    @on(StoreTree.Revealed)
    def _revealed(self, message: StoreTree.Revealed) -> None:
        # The tree put its cursor on an image a job stored: show it if the Image panel was following
        # that job; tabs, focus and the form stay as the user left them.
        key = (message.entry.section, message.entry.image_name)
        job_id = self._stored_images.pop(key, None)
        if key == self._jump_to and self.store is not None:
            # ... or the user asked to go there (s: the source; a variant opened or kept).
            self._jump_to = None
            self.panel.load(self.store, message.entry)
            self._sync_bindings()
        elif job_id is not None and job_id == self.panel.following_job and self.store is not None:
            self.panel.load(self.store, message.entry)
            self._sync_bindings()

    def _typing_in_form(self) -> bool:
        focused = self.focused
        return focused is not None and self.form in focused.ancestors_with_self

    def _show_pending(self) -> None:
        entry, self._pending_entry = self._pending_entry, None
        if entry is not None and self.store is not None and entry != self.panel.entry:
            self.panel.load(self.store, entry)
            self.published_info.show(self.store, entry)
            self._sync_bindings()

    @property
    def current_image(self) -> ImageEntry | None:
        return self.panel.entry

    # -- image actions ----------------------------------------------------------------------
    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action in PUBLISH_ACTIONS:
            return self._check_publish_action(action)
        keys_shown = bool(self.query("HelpPanel"))
        if action == "close_keys":
            return keys_shown
        if action in ("back", "focus_tree") and keys_shown:
            return False
        if action in ("reuse", "copy_path", "delete_image", "open_image", "edit_image", "variants", "source"):
            if self.current_image is None or self.active_tab != "image-tab":
                return False
            if action == "open_image":  # a local file, or the link of an image elsewhere
                return self.store is not None and (self.store.backend.name == "local"
                                                   or web_link(self.panel.link) is not None)
            metadata = self.panel.metadata or {}
            if action == "variants":
                return bool(metadata.get("group_id"))
            if action == "source":
                return isinstance(metadata.get("source"), dict) and "post_id" in metadata["source"]
            return True
        if action == "generate":
            return self.active_tab != "generate-tab"
        if action == "jobs":
            return self.active_tab != "jobs-tab"
        if action == "back":
            return self.active_tab != "image-tab"
        if action == "focus_tree":
            return self.active_tab == "image-tab" and self.focused is not self.store_tree
        return True

    @on(ImagePanel.Action)
    def _panel_action(self, message: ImagePanel.Action) -> None:
        actions = {"reuse": self.action_reuse, "copy": self.action_copy_path, "open": self.action_open_image,
                   "delete": self.action_delete_image}
        if message.action in actions:
            actions[message.action]()

    def action_reuse(self) -> None:
        entry = self.current_image
        if entry is None:
            return
        self.form.reuse(entry.section, self.panel.metadata or {})
        self.show_tab("generate-tab")
        self.form.focus_prompt()
        self.notify(f"Prompt and settings of {entry.image_name} are in the form: edit, then ctrl+s",
                    timeout=4, markup=False)

    # -- edits, variants, lineage -------------------------------------------------------
    def action_edit_image(self) -> None:
        entry = self.current_image
        if entry is None:
            return
        self.form.start_edit(entry, self.panel.metadata or {})
        self.show_tab("generate-tab")
        self.form.focus_prompt()
        self.notify(f"Editing {entry.image_name}: say what to change, then ctrl+s", timeout=4, markup=False)

    @on(GenerateForm.EditSubmitted)
    def _edit_submitted(self, message: GenerateForm.EditSubmitted) -> None:
        if self.store is not None:
            self._plan_edit(self.store, message.source, message.options)

    @work(thread=True, exclusive=True, group="plan-edit", exit_on_error=False)
    def _plan_edit(self, store: Store, source: ImageEntry, options: EditOptions) -> None:
        """Read and check the edit's images (store and files: a thread), with the CLI's rules."""
        from blog_images_tui.editing import plan_edit
        from blog_images_tui.inputs import StoreImageRef

        try:
            request = plan_edit(store, StoreImageRef(source.section, source.image_name), options)
        except BlogImagesError as error:
            self.post_message(ErrorReported(error))
            return
        except Exception as error:  # noqa: BLE001
            self.post_message(ErrorReported(StoreUnusable(f"cannot read {source.image_name}: {error_summary(error)}")))
            return
        self.post_message(EditPlanned(store, request))

    @on(EditPlanned)
    def _edit_planned(self, message: EditPlanned) -> None:
        if message.store is self.store:
            self._check_then_submit(message.store, message.request)

    def action_variants(self) -> None:
        from blog_images_tui.tui.screens.variants import VariantsScreen

        entry, group = self.current_image, (self.panel.metadata or {}).get("group_id")
        if entry is None or self.store is None or not group:
            return

        def closed(result: tuple[str, ImageEntry] | None) -> None:
            if result is None:
                return
            kind, chosen = result
            if kind == "kept":
                self.notify(f"Kept {chosen.image_name}; the other variants are deleted", title="Deleted",
                            markup=False)
            self._go_to(chosen)

        self.app.push_screen(VariantsScreen(self.store, entry, str(group), self.app.thumbnails,
                                            self.app.config.preview), closed)

    def action_source(self) -> None:
        source = (self.panel.metadata or {}).get("source")
        if self.store is not None and isinstance(source, dict):
            self._find_source(self.store, source)

    @work(thread=True, exclusive=True, group="find-source", exit_on_error=False)
    def _find_source(self, store: Store, source: dict) -> None:
        from blog_images_tui.errors import BadInput
        from blog_images_tui.ids import SectionRef
        from blog_images_tui.inputs import StoreImageRef, find_store_image

        try:
            ref = StoreImageRef(SectionRef.parse(source.get("post_id"), source.get("section_id")),
                                str(source.get("name")))
            entry = find_store_image(store, ref)
        except BadInput as error:
            self.post_message(ErrorReported(BadInput(f"the source is not in the store any more: {error.message}")))
            return
        except BlogImagesError as error:
            self.post_message(ErrorReported(error))
            return
        self.post_message(SourceFound(store, entry))

    @on(SourceFound)
    def _source_found(self, message: SourceFound) -> None:
        if message.store is self.store:
            self._go_to(message.entry)
            self.store_tree.focus()

    def _go_to(self, entry: ImageEntry) -> None:
        """Show ``entry`` in the tree and the Image tab (a jump the user asked for)."""
        self._jump_to = (entry.section, entry.image_name)
        self.store_tree.reload_section(entry.section, select=entry.image_name)

    def action_copy_path(self) -> None:
        path = self.panel.image_path
        if path:
            self.app.copy_to_clipboard(path)
            self.notify(f"Copied {path}", title="Copied", timeout=4, markup=False)

    def action_open_image(self) -> None:
        path, link = self.panel.image_path, web_link(self.panel.link)
        if path and self.store is not None and self.store.backend.name == "local":
            self._open_file(path)
        elif link:
            self._open_link(link)

    @work(thread=True, group="open-file", exit_on_error=False)
    def _open_file(self, path: str) -> None:
        problem = open_local_file(path)
        if problem:
            self.app.call_from_thread(self.notify, problem, title="Cannot open", severity="warning", markup=False)

    @work(thread=True, group="open-file", exit_on_error=False)
    def _open_link(self, link: str) -> None:
        problem = open_link(link)
        if problem:  # the link is still useful: on the clipboard, for a browser elsewhere
            self.app.call_from_thread(self.app.copy_to_clipboard, link)
            self.app.call_from_thread(self.notify, f"{problem}: the link is copied instead", title="Link copied",
                                      severity="warning", markup=False)

    def action_delete_image(self) -> None:
        entry, store = self.current_image, self.store
        if entry is None or store is None:
            return
        question = (f"Delete {entry.image_name} and its metadata from {entry.section}?\n"
                    f"{store.url}\nThis cannot be undone.")

        def answered(yes: bool | None) -> None:
            if yes:
                self._delete(store, entry)

        self.app.push_screen(ConfirmDialog(question, yes="Delete"), answered)

    @work(thread=True, group="delete", exit_on_error=False)
    def _delete(self, store: Store, entry: ImageEntry) -> None:
        try:
            store.delete_image(entry.section, entry.image_name)
        except BlogImagesError as error:  # the store wraps its backend's errors
            self.post_message(ErrorReported(error))
            return
        self.post_message(ImageDeleted(store, entry))

    @on(ImageDeleted)
    def _deleted(self, message: ImageDeleted) -> None:
        self.notify(f"Deleted {message.entry.image_name} from {message.entry.section}", title="Deleted", markup=False)
        if message.store is not self.store:
            return
        if self.panel.entry == message.entry:
            self.panel.clear("Deleted. Choose another image in the tree.")
            self.published_info.clear()
        self.store_tree.reload_section(message.entry.section)
        self._sync_bindings()

    # -- tabs ------------------------------------------------------------------------
    def action_generate(self) -> None:
        self.show_tab("generate-tab")
        self.form.focus_prompt()

    def action_jobs(self) -> None:
        self.show_tab("jobs-tab")
        self.query_one("#jobs-table").focus()

    def action_back(self) -> None:
        self.show_tab("image-tab")
        self.store_tree.focus()

    def action_focus_tree(self) -> None:
        self.store_tree.focus()

    def action_close_keys(self) -> None:
        self.app.action_hide_help_panel()
        self.refresh_bindings()

    # -- jobs ------------------------------------------------------------------------
    def _job_event(self, store: Store, event: JobEvent) -> None:
        # Called by an engine on the event loop: hand it over as a message.
        self.post_message(JobChanged(event, store))

    @on(GenerateForm.Submitted)
    def _submitted(self, message: GenerateForm.Submitted) -> None:
        self._check_then_submit(self.store, message.request)

    @work(group="submit", exit_on_error=False)
    async def _check_then_submit(self, store: Store | None, request: ImageRequest) -> None:
        """A taken file name is said on its field before a job exists (the engine checks again)."""
        async with self._submit_order:  # jobs are queued in the order they were sent
            if store is not None and request.filename:
                try:
                    await asyncio.to_thread(check_names_free, store, request)
                except NameTaken as taken:
                    if store is self.store:  # else switched store meanwhile: the user sends again there
                        self.form.show_field_error("filename", app_message(taken))
                    return
                except BlogImagesError:  # unreadable here: the job's own checks report it
                    pass
                if store is not self.store:
                    return
            self._submit(request)

    def _submit(self, request: ImageRequest) -> None:
        assert self.jobs_controller is not None
        try:
            job = self.jobs_controller.submit(self.store, request, job_id=self.app.new_job_id())
        except BlogImagesError as error:
            self.app.report_error(error)
            return
        for warning in request.warnings:
            self.notify(warning, title="Warning", severity="warning", markup=False)
        self.panel.follow_job(job.id, f"Job queued for {request.section}…")
        self.show_tab("image-tab")
        self.store_tree.focus()
        self._sync_bindings()

    @on(JobsList.CancelRequested)
    def _cancel(self, message: JobsList.CancelRequested) -> None:
        if self.jobs_controller is not None:
            self.jobs_controller.cancel(message.job.id)

    @on(JobsList.RetryRequested)
    def _retry(self, message: JobsList.RetryRequested) -> None:
        job = message.job
        if not may_have_been_billed(job):
            self._send_again(job)
            return
        kept = ("\nThe image waits in the recovery folder: blog-images recover stores it without paying again."
                if isinstance(job.error, NotStored) else "")
        question = (f"The job for {job.request.section} ended after its request reached the API: "
                    f"it may have been billed.{kept}\nSend it again and pay again?")

        def answered(yes: bool | None) -> None:
            if yes:
                self._send_again(job)

        self.app.push_screen(ConfirmDialog(question, yes="Send again"), answered)

    def _send_again(self, job: Job) -> None:
        assert self.jobs_controller is not None
        try:
            self.jobs_controller.retry(job, job_id=self.app.new_job_id())
        except BlogImagesError as error:
            self.app.report_error(error)

    @on(JobsList.ClearRequested)
    def _clear_finished(self, message: JobsList.ClearRequested) -> None:
        if self.jobs_controller is not None:
            self.jobs.remove_jobs(self.jobs_controller.clear_finished())
            self._update_jobs_tab()

    @on(JobChanged)
    def _job_changed(self, message: JobChanged) -> None:
        event, job = message.event, message.event.job
        self.jobs.update_job(job)
        self._update_jobs_tab()
        if event.kind == "partial" and event.partial_image is not None:
            if job.id == self.panel.following_job:
                self._decode_partial(job.id, event.partial_index or 0, event.partial_image,
                                     self.panel.query_one("#preview", ImagePreview).target_pixels())
            return
        if job.state.finished:
            self.query_one(StatsPanel).job_settled(message.store, job.request.section.post_id)
        if event.kind in ("started", "stage"):
            self.panel.set_job_status(job.id, f"{job.request.section}: {stage_text(job.stage)}…")
        elif event.kind == "stored" and job.result is not None:
            name = layout.image_name(job.result.filename, job.request.output_format)
            stored = len(job.results) or 1
            what = name if stored == 1 else f"{stored} variants ({name} ...)"
            self.notify(f"Stored {what} in {job.request.section}\n{message.store.url}", title="Image stored",
                        markup=False)
            first = job.results[0].metadata if job.results else {}
            if first.get("received", stored) < first.get("requested", stored):
                self.notify(f"Asked for {first['requested']} images, the API returned {first['received']}",
                            title="Fewer images", severity="warning", markup=False)
            if message.store is self.store:
                self._stored_images[(job.request.section, name)] = job.id
                self.store_tree.reload_section(job.request.section, select=name)
        elif event.kind == "failed" and job.error is not None:
            self.app.report_error(job.error)
            if isinstance(job.error, NotStored):
                self._count_recoveries()  # kept in the recovery folder: the indicator counts it
            self.panel.end_job(job.id, f"Failed: {app_message(job.error)}")
        elif event.kind == "cancelled":
            self.notify(f"Cancelled the job for {job.request.section}", title="Cancelled", markup=False)
            self.panel.end_job(job.id, "Cancelled.")
        elif event.kind == "skipped":
            self.notify(f"Already stored: {job.existing_name}", title="Skipped", markup=False)

    @work(thread=True, exclusive=True, group="partial", exit_on_error=False)
    def _decode_partial(self, job_id: str, index: int, data: bytes, max_pixels: tuple[int, int]) -> None:
        try:
            picture = decode_preview(data, max_pixels)
        except Exception:  # noqa: BLE001 - a broken preview frame is skipped
            return
        self.post_message(PartialDecoded(job_id, index, picture))

    @on(PartialDecoded)
    def _partial(self, message: PartialDecoded) -> None:
        job = self.jobs.jobs.get(message.job_id)
        if job is None or job.state is not JobState.RUNNING:
            return  # the final image is on its way; do not draw a stale frame over it
        total = job.request.partial_images
        self.panel.show_partial(message.job_id, message.picture,
                                f"partial image {message.index + 1} of {total} · {job.request.section}")

    def _update_jobs_tab(self) -> None:
        counts = self.jobs.counts()
        active = counts[JobState.QUEUED] + counts[JobState.RUNNING]
        failed = counts[JobState.FAILED]
        label = "Jobs"
        if active:
            label += f" ({active} active)"
        elif failed:
            label += f" ({failed} failed)"
        tab = self.query_one(TabbedContent).get_tab("jobs-tab")
        if str(tab.label) != label:  # a new label re-lays the tabs and animates the underline
            tab.label = label

    def active_jobs(self) -> list[Job]:
        """Jobs still queued or running, in every store of the session."""
        return self.jobs_controller.active_jobs() if self.jobs_controller is not None else []

    async def on_unmount(self) -> None:
        await self.shutdown()

    async def shutdown(self) -> None:
        """Cancel what is still running (a paid-for image being stored still lands) and close clients."""
        if self.jobs_controller is not None:
            await self.jobs_controller.aclose()
        if self.publishing is not None:
            await self.publishing.aclose()


def _post_of(node_data: object) -> PostId | None:
    """The post a tree node belongs to (None for the root and notes)."""
    if isinstance(node_data, ImageNode):
        return node_data.entry.section.post_id
    if isinstance(node_data, SectionNode):
        return node_data.section.post_id
    if isinstance(node_data, PostNode):
        return node_data.post_id
    return None
