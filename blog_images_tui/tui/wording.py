"""The core's errors in the app's words.

The core words its errors for the command line ("choose another --filename");
the app has fields, not flags. Everything the app shows of an error goes
through :func:`app_message`, redacted.
"""

from __future__ import annotations

from blog_images_tui.errors import BlogImagesError, NameTaken
from blog_images_tui.secrets import redact


def app_message(error: BlogImagesError) -> str:
    """What the app says for ``error``: the core's message, with the app's words where a flag was named."""
    if isinstance(error, NameTaken):
        return redact(f"{error.image_name} already exists in {error.folder}: "
                      "choose another File name (nothing is overwritten)")
    return redact(str(error))
