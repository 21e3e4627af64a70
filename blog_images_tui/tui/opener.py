"""Open a local image with the desktop's viewer, never with a console program.

``webbrowser`` would happily start lynx or w3m in this very terminal when
there is no desktop, which would fight the TUI for the screen; so only the
desktop openers are used, detached, with no terminal attached.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys


def desktop_opener() -> list[str] | None:
    """The command that opens a file on this desktop, or None (no desktop, e.g. over SSH)."""
    if sys.platform == "darwin":
        return ["open"]
    if sys.platform.startswith("win"):
        return None  # os.startfile is used instead
    if not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
        return None
    found = shutil.which("xdg-open")
    return [found] if found else None


def open_link(url: str) -> str | None:
    """Open ``url`` (a store's public or signed link) in the desktop's browser; None or a reason why not."""
    return _open_detached(url, "no desktop to open it on (over SSH?)")


def open_local_file(path: str) -> str | None:
    """Open ``path``; return None on success or a one-line reason why not."""
    if not os.path.exists(path):
        return f"{path} does not exist"
    if sys.platform.startswith("win"):  # pragma: no cover - not our CI
        os.startfile(path)  # type: ignore[attr-defined]
        return None
    return _open_detached(path, f"no desktop to open it on (over SSH?); the file is {path}")


def _open_detached(target: str, no_desktop: str) -> str | None:
    command = desktop_opener()
    if command is None:
        return no_desktop
    try:
        subprocess.Popen([*command, target], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                         stderr=subprocess.DEVNULL, start_new_session=True)
    except OSError as error:
        return f"cannot start {command[0]}: {error}"
    return None
