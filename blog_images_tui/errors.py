"""One error hierarchy for the core, each error carrying its CLI exit code.

The CLI prints ``error: <message>`` and exits with ``exit_code``; the TUI shows
the same message in a notification titled ``title``; ``--json`` and the web API
send :func:`error_object`. Messages are one line and never contain the API key
(see :mod:`blog_images_tui.secrets`).
"""

from __future__ import annotations

from enum import IntEnum
from typing import Any


class ExitCode(IntEnum):
    """Documented exit codes of the ``blog-images`` command (see README)."""

    OK = 0
    INTERNAL = 1
    BAD_INPUT = 2
    AUTH_CONFIG = 3
    API_REJECTED = 4
    TEMPORARY = 5
    STORE_UNUSABLE = 6
    NOT_STORED = 7
    HANGUP = 129
    INTERRUPTED = 130
    TERMINATED = 143


class BlogImagesError(Exception):
    """Base of every error the tool reports to a user."""

    exit_code: ExitCode = ExitCode.INTERNAL
    title: str = "Error"
    #: a stable machine-readable name of the kind of error (``error_object``'s ``code``)
    code: str = "internal"

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return self.message if not self.hint else f"{self.message} ({self.hint})"


class BadInput(BlogImagesError):
    """Invalid ids, filenames, prompts, sizes or options: nothing was sent or written."""

    exit_code = ExitCode.BAD_INPUT
    title = "Bad input"
    code = "bad_input"


class NameTaken(BadInput):
    """An image name already used in its section (``image_name`` in ``folder``): nothing is overwritten."""

    def __init__(self, image_name: str, folder: str) -> None:
        super().__init__(f"{image_name} already exists in {folder}: choose another --filename (nothing is overwritten)")
        self.image_name = image_name
        self.folder = folder


class AuthConfigError(BlogImagesError):
    """Missing or invalid key, no permission, unverified organization, no quota."""

    exit_code = ExitCode.AUTH_CONFIG
    title = "Authentication"
    code = "auth_config"


class ApiRejected(BlogImagesError):
    """The API refused the request (content policy, invalid request, unknown model)."""

    exit_code = ExitCode.API_REJECTED
    title = "Rejected by the API"
    code = "api_rejected"


class TemporaryFailure(BlogImagesError):
    """Rate limit, server error, timeout or network failure, after bounded retries.

    ``retryable`` says whether asking again may help without paying twice (a
    429, a 5xx, a timeout: yes; a corrupt image in a 200: no). ``retry_after``
    is the server's Retry-After in seconds, when it gave one.
    """

    exit_code = ExitCode.TEMPORARY
    title = "Temporary failure"
    code = "temporary"

    def __init__(self, message: str, *, hint: str | None = None, retryable: bool = False,
                 retry_after: float | None = None, rate_limited: bool = False) -> None:
        super().__init__(message, hint=hint)
        self.retryable = retryable
        self.retry_after = retry_after
        self.rate_limited = rate_limited


class StoreUnusable(BlogImagesError):
    """The store cannot be reached or written; found before any image is paid for."""

    exit_code = ExitCode.STORE_UNUSABLE
    title = "Store unusable"
    code = "store_unusable"


class Conflict(BlogImagesError):
    """A conditional replace found the object changed (or removed) since it was read.

    Nothing was written; read it again, re-apply the change, and replace again.
    """

    exit_code = ExitCode.TEMPORARY
    title = "Changed meanwhile"


class NotStored(BlogImagesError):
    """The image was generated (and paid for) but could not be stored.

    It is kept in the local recovery folder at ``recovery_path``.
    """

    exit_code = ExitCode.NOT_STORED
    title = "Image not stored"
    code = "not_stored"

    def __init__(self, message: str, *, recovery_path: str, hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.recovery_path = recovery_path


class NotFound(BadInput):
    """A post, section, image or job that does not exist (the web API answers 404)."""

    title = "Not found"
    code = "not_found"


class Interrupted(BlogImagesError):
    """Stopped by the user or the system: SIGINT (130), SIGHUP (129) or SIGTERM (143)."""

    exit_code = ExitCode.INTERRUPTED
    title = "Interrupted"
    code = "interrupted"

    @classmethod
    def by_signal(cls, number: int) -> Interrupted:
        import signal

        name = signal.Signals(number).name
        error = cls(f"interrupted ({name})")
        codes = {int(signal.SIGHUP): ExitCode.HANGUP, int(signal.SIGTERM): ExitCode.TERMINATED}
        error.exit_code = codes.get(number, ExitCode.INTERRUPTED)
        return error


def error_object(error: BlogImagesError) -> dict[str, Any]:
    """The one JSON shape of an error, for ``--json`` and the web API alike (key redacted)."""
    from blog_images_tui.secrets import redact

    body: dict[str, Any] = {"type": type(error).__name__, "code": error.code, "message": redact(error.message),
                            "hint": redact(error.hint or "") or None, "exit_code": int(error.exit_code)}
    recovery = getattr(error, "recovery_path", None)
    if recovery:
        body["recovery_path"] = recovery
    return body
