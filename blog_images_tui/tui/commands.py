"""Command palette (ctrl+p): switch store by typing its URL, and the screen's actions by name."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Protocol, runtime_checkable

from rich.text import Text
from textual.command import DiscoveryHit, Hit, Hits, Provider

STORE_URL_HELP = "a local path, s3://bucket/prefix or memory://name: the tree reloads from it"


def looks_like_store_url(text: str) -> bool:
    """True for what can only be a store address: ``scheme://...`` or a path."""
    text = text.strip()
    return "://" in text or text.startswith(("/", "./", "../", "~"))


@runtime_checkable
class StoreActions(Protocol):
    """What a screen offers the palette (the main screen does)."""

    def action_switch_store(self) -> object: ...
    def switch_store(self, url: str) -> object: ...
    def action_refresh(self) -> object: ...
    def action_generate(self) -> object: ...
    def action_jobs(self) -> object: ...


class StoreCommands(Provider):
    """Type a store URL to open it; or run refresh, generate, jobs by name."""

    def _commands(self) -> list[tuple[str, Callable[[], object], str]]:
        screen = self.screen
        commands: list[tuple[str, Callable[[], object], str]] = []
        if isinstance(screen, StoreActions):
            commands.append(("Switch store…", screen.action_switch_store, "type the URL of another store"))
            current = getattr(getattr(screen, "store", None), "url", None)
            for url in [u for u in getattr(self.app, "recent_stores", []) if u != current][-5:]:
                commands.append((f"Switch store to {url}", partial(screen.switch_store, url), STORE_URL_HELP))
            commands += [
                ("Refresh the store tree", screen.action_refresh, "list posts, sections and images again"),
                ("Generate an image", screen.action_generate, "open the form (ctrl+s sends it)"),
                ("Show jobs", screen.action_jobs, "queued, running, stored and failed jobs"),
            ]
        return commands

    async def discover(self) -> Hits:
        for name, callback, help_text in self._commands():
            yield DiscoveryHit(name, callback, help=help_text)

    async def search(self, query: str) -> Hits:
        screen = self.screen
        if looks_like_store_url(query) and isinstance(screen, StoreActions):
            url = query.strip()
            yield Hit(1.0, Text.assemble("Open store ", (url, "bold")), partial(screen.switch_store, url),
                      text=f"Open store {url}", help=STORE_URL_HELP)
        matcher = self.matcher(query)
        for name, callback, help_text in self._commands():
            score = matcher.match(name)
            if score > 0:
                yield Hit(score, matcher.highlight(name), callback, help=help_text)
