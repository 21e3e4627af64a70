"""The core's errors in the app's words.

The core words its errors for the command line ("choose another --filename");
the app has fields, not flags. Everything the app shows of an error goes
through :func:`app_message`, redacted.
"""

from __future__ import annotations

import re

from blog_images_tui.errors import BlogImagesError, NameTaken
from blog_images_tui.secrets import redact

#: a local write's temp file (".blog-images-tmp-NAME.HEX", backends/local.py): shown as NAME
_TEMP_NAME = re.compile(r"\.blog-images-tmp-([^/\\'\"\s]+?)\.[0-9a-f]{8,}")


def app_message(error: BlogImagesError) -> str:
    """What the app says for ``error``: the core's message, with the app's words where a flag was named."""
    if isinstance(error, NameTaken):
        text = (f"{error.image_name} already exists in {error.folder}: "
                "choose another File name (nothing is overwritten)")
    else:
        text = str(error)
    return redact(_TEMP_NAME.sub(r"\1", text))  # the name the user knows, not the write's temp file
