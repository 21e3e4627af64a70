"""What ``blog-images serve`` runs with, as one typed object, and the rules for the token and the host.

Standard library only: the CLI checks these before importing FastAPI or uvicorn.
"""

from __future__ import annotations

import ipaddress
import os
import secrets
import socket
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from blog_images_tui.errors import BadInput
from blog_images_tui.generation import ClientSettings

TOKEN_ENV = "BLOG_IMAGES_SERVE_TOKEN"
DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8765
MIN_TOKEN_LENGTH = 16
#: request bodies above this are refused with 413 before they are read
MAX_BODY_BYTES = 1024 * 1024
MAX_JOBS = 8


def is_loopback(host: str) -> bool:
    """True for 127.0.0.0/8, ::1 and localhost names: only this machine can connect."""
    name = host.strip("[]").rstrip(".").lower()
    if name == "localhost" or name.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def generate_token() -> str:
    return secrets.token_urlsafe(24)


def check_token(token: str) -> str:
    """An explicit token must be long enough not to be guessed, and printable without quoting."""
    if len(token) < MIN_TOKEN_LENGTH:
        raise BadInput(f"the serve token must be at least {MIN_TOKEN_LENGTH} characters "
                       "(leave it out to have one generated)")
    if not all(33 <= ord(ch) < 127 for ch in token):
        raise BadInput("the serve token must be printable ASCII without spaces")
    return token


def resolve_token(explicit: str | None, host: str, environ: Mapping[str, str] | None = None) -> tuple[str, bool]:
    """The token and whether it was generated; a non-loopback host needs an explicit one."""
    source: Mapping[str, str] = os.environ if environ is None else environ
    given = explicit or source.get(TOKEN_ENV) or None
    if given:
        return check_token(given), False
    if not is_loopback(host):
        raise BadInput(f"--host {host} lets other machines connect: give a --token or set {TOKEN_ENV} "
                       "(a generated one is only allowed on loopback)")
    return generate_token(), True


@dataclass(frozen=True)
class ServeSettings:
    """Everything :func:`blog_images_tui.web.create_app` needs; the CLI and the tests build one."""

    token: str
    client: ClientSettings
    store_url: str | None = None
    store_options: dict[str, Any] = field(default_factory=dict)
    host: str = DEFAULT_HOST
    port: int = DEFAULT_PORT
    concurrency: int = 2
    rpm: float | None = None
    #: more names the Host header may carry (a reverse proxy's, a LAN name)
    allowed_hosts: tuple[str, ...] = ()
    thumbnail_dir: Path | None = None
    max_body_bytes: int = MAX_BODY_BYTES
    #: an uploaded image (what the Images API takes as an input image)
    max_upload_bytes: int = 50 * 1024 * 1024

    def __repr__(self) -> str:  # never show the token or the key
        return f"ServeSettings(host={self.host!r}, port={self.port}, store_url={self.store_url!r})"

    def host_names(self) -> frozenset[str]:
        """The names a request's Host header may carry (any port: ``ssh -L`` may change it)."""
        names = {name.strip("[]").lower() for name in self.allowed_hosts}
        bind = self.host.strip("[]").lower()
        wildcard = bind in ("0.0.0.0", "::", "")
        if is_loopback(bind) or wildcard:
            names |= {"127.0.0.1", "localhost", "::1"}
        if wildcard:
            hostname = socket.gethostname().lower()
            names |= {hostname, hostname.split(".")[0]}
        else:
            names.add(bind)
        return frozenset(names)
