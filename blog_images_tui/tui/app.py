"""The Textual app and its factory, shared by ``blog-images tui`` and the tests.

    from blog_images_tui.tui.app import make_app
    make_app("memory://demo", preview="halfcell").run()
"""

from __future__ import annotations

import asyncio
import signal
import uuid
from dataclasses import dataclass, field
from typing import Any

from textual import work
from textual.app import App
from textual.binding import Binding
from textual.command import CommandPalette
from textual.screen import ModalScreen

from blog_images_tui.errors import BlogImagesError
from blog_images_tui.generation import ClientSettings
from blog_images_tui.secrets import redact
from blog_images_tui.tui.commands import StoreCommands
from blog_images_tui.tui.dialogs import ConfirmDialog
from blog_images_tui.tui.screens.main import MainScreen
from blog_images_tui.tui.widgets.preview import preview_mode
from blog_images_tui.tui.wording import app_message

DEFAULT_CONCURRENCY = 2
#: seconds a notification stays, by severity, unless the caller says otherwise (short: they cover the screen)
NOTIFY_TIMEOUT_S = {"information": 3.0, "warning": 6.0, "error": 8.0}


@dataclass
class TuiConfig:
    """Everything the app is started with. ``settings`` None: read the key and base URL from the environment."""

    store_url: str | None = None
    store_options: dict[str, Any] = field(default_factory=dict)
    settings: ClientSettings | None = None
    concurrency: int = DEFAULT_CONCURRENCY
    rpm: float | None = None
    preview: str = "auto"


class BlogImagesApp(App[None]):
    """Generate images for a blog into a store, and browse it."""

    CSS_PATH = "app.tcss"
    TITLE = "blog-images"
    COMMANDS = App.COMMANDS | {StoreCommands}
    COMMAND_PALETTE_BINDING = "ctrl+p"
    BINDINGS = [Binding("ctrl+q", "quit", "Quit", id="quit", priority=True)]

    def __init__(self, config: TuiConfig | None = None) -> None:
        super().__init__()
        self.config = config or TuiConfig()
        if self.config.settings is None:
            from blog_images_tui.api import client_settings

            self.config.settings = client_settings()
        self.recent_stores: list[str] = []
        #: notifications held while a dialog is open (a toast must not cover the question)
        self._held_notifications: list[dict[str, Any]] = []
        self._stopping = False
        self._signal_handlers: list[int] = []
        self._stop_task: asyncio.Task[None] | None = None

    @property
    def client_settings(self) -> ClientSettings:
        assert self.config.settings is not None
        return self.config.settings

    def action_command_palette(self) -> None:
        # The same palette, telling that a store URL can be typed into it.
        # textual types is_open's argument as App[object], and App is invariant in its return type.
        if self.use_command_palette and not CommandPalette.is_open(self):  # type: ignore[arg-type]
            self.push_screen(CommandPalette(placeholder="Search for commands, or type a store URL…",
                                            id="--command-palette"))

    def get_default_screen(self) -> MainScreen:
        return MainScreen()

    def on_mount(self) -> None:
        self._announce_waiting_recoveries()
        self._handle_stop_signals()

    def _handle_stop_signals(self) -> None:
        """SIGTERM (systemd, docker stop, ``timeout``) and SIGHUP (a dropped SSH session) end the app
        the careful way, as quitting does: paid-for images being stored still land (or go to the
        recovery journal), then exit 143 / 129. A SIGHUP ignored at start (``nohup``) stays ignored."""
        loop = asyncio.get_running_loop()
        for number in (signal.SIGTERM, signal.SIGHUP):
            if number == signal.SIGHUP and signal.getsignal(number) == signal.SIG_IGN:
                continue
            try:
                loop.add_signal_handler(number, self.stop_signalled, number)
            except (NotImplementedError, RuntimeError, ValueError):
                continue  # not the main thread, or no such signal here
            self._signal_handlers.append(number)

    def on_unmount(self) -> None:
        loop = asyncio.get_running_loop()
        for number in self._signal_handlers:
            loop.remove_signal_handler(number)
        self._signal_handlers.clear()

    def stop_signalled(self, number: int) -> None:
        """A stop signal arrived: shut the jobs down without asking, then exit with 128 + its number."""
        if self._stopping:
            return
        self._stopping = True
        self._stop_task = asyncio.get_running_loop().create_task(self._shutdown_and_exit(128 + int(number)))

    @work(thread=True, exclusive=True, exit_on_error=False, group="recoveries")
    def _announce_waiting_recoveries(self) -> None:
        """Say at start-up that paid-for images wait in the local recovery folder (a thread: it reads disk)."""
        from blog_images_tui.recovery import list_pending, recovery_root

        pending = list_pending()
        if pending:
            message = (f"{len(pending)} generated image(s) could not be stored and wait in {recovery_root()}. "
                       "Finish with: blog-images recover (or blog-images doctor --fix)")
            self.call_from_thread(self.notify, message, title="Images waiting", severity="warning", timeout=20,
                                  markup=False)

    @staticmethod
    def new_job_id() -> str:
        # Each press of "Generate" is a new job, even with the same prompt (unlike a batch re-run).
        return uuid.uuid4().hex[:16]

    @property
    def thumbnails(self):
        """The local thumbnail cache (shared with the web server's), made on first use."""
        if getattr(self, "_thumbnails", None) is None:
            from blog_images_tui.thumbnails import ThumbnailCache

            self._thumbnails = ThumbnailCache()
        return self._thumbnails

    def remember_store(self, url: str) -> None:
        if url in self.recent_stores:
            self.recent_stores.remove(url)
        self.recent_stores.append(url)

    def _fatal_error(self) -> None:
        """Textual's crash report, without frame locals and with secrets redacted.

        Textual prints the traceback of an unhandled exception on exit with
        every frame's locals; the SDK's frames hold the API key (the client,
        request headers), and an exception's text may quote it.
        """
        import sys

        import rich
        from rich.segment import Segments
        from rich.traceback import Traceback

        exc_type, exc_value, exc_tb = sys.exc_info()
        if exc_type is None or exc_value is None:
            super()._fatal_error()
            return
        trace = Traceback.extract(exc_type, exc_value, exc_tb, show_locals=False)
        for stack in trace.stacks:
            stack.exc_value = redact(stack.exc_value)
        self.bell()
        traceback = Traceback(trace, width=None, suppress=[rich])
        self._exit_renderables.append(Segments(self.console.render(traceback, self.console.options)))
        self._close_messages_no_wait()

    def notify(self, message: str, *, title: str = "", severity: Any = "information", timeout: float | None = None,
               markup: bool = True) -> None:
        """Textual's notification, shorter-lived, and held while a dialog is open (shown when it closes)."""
        note = {"message": message, "title": title, "severity": severity, "markup": markup,
                "timeout": NOTIFY_TIMEOUT_S.get(severity, 4.0) if timeout is None else timeout}
        if self.is_running and self.screen_stack and isinstance(self.screen_stack[-1], ModalScreen):
            self._held_notifications.append(note)
            return
        super().notify(**note)

    def release_notifications(self) -> None:
        """Show the notifications held while a dialog was open."""
        held, self._held_notifications = self._held_notifications, []
        for note in held:
            super().notify(**note)

    def report_error(self, error: BlogImagesError) -> None:
        """Notify with the core's words for ``error`` (in the app's terms, redacted), titled by its kind."""
        self.notify(app_message(error), title=error.title, severity="error", markup=False)

    async def action_quit(self) -> None:
        screen = self.get_screen_stack_main()
        running = screen.active_jobs() if isinstance(screen, MainScreen) else []
        if running:
            question = (f"{len(running)} job(s) still queued or running. Quit and cancel them?\n"
                        "An image already generated and being stored still lands.")
            self.push_screen(ConfirmDialog(question, yes="Quit"), self._quit_answered)
            return
        await self._shutdown_and_exit()

    async def _quit_answered(self, yes: bool | None) -> None:
        if yes:
            await self._shutdown_and_exit()

    async def _shutdown_and_exit(self, return_code: int = 0) -> None:
        screen = self.get_screen_stack_main()
        if isinstance(screen, MainScreen):
            await screen.shutdown()
        self.exit(return_code=return_code)

    def get_screen_stack_main(self):
        return self.screen_stack[0] if self.screen_stack else None


def make_app(store_url: str | None = None, *, store_options: dict[str, Any] | None = None,
             settings: ClientSettings | None = None, concurrency: int = DEFAULT_CONCURRENCY,
             rpm: float | None = None, preview: str | None = None) -> BlogImagesApp:
    """The app, configured: the one factory used by the command line and the tests."""
    return BlogImagesApp(TuiConfig(store_url=store_url, store_options=dict(store_options or {}), settings=settings,
                                   concurrency=concurrency, rpm=rpm, preview=preview_mode(preview)))
