"""The web face: ``blog-images serve``, a REST API under ``/api/v1`` and one page at ``/``.

A thin face over the same core as the CLI and the TUI: the store and its
rules, the job engine, the errors. Modules: :mod:`.settings` (what it runs
with; stdlib only), :mod:`.app` (``create_app``), :mod:`.deps` (the auth and
store dependencies), :mod:`.hub` (jobs and their event logs on the engine),
:mod:`.models` (request and response bodies), :mod:`.errors` (one JSON shape),
:mod:`.routes` (one router per resource), :mod:`.server` (uvicorn), and
``static/`` (the page: plain HTML, CSS and JS, no build step).

Importing this package imports FastAPI: only ``serve`` and the tests do.
"""

from blog_images_tui.web.app import create_app
from blog_images_tui.web.settings import ServeSettings

__all__ = ["create_app", "ServeSettings"]
