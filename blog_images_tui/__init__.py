"""blog-images: generate images with OpenAI's Images API into a blog's asset tree.

The core (ids, layout, models, metadata, generation, storage) never imports
``textual``; the CLI (``cli.py``) and the TUI (``tui/``) are thin faces over it.
The documented programmatic API lives in :mod:`blog_images_tui.api`.
"""

__version__ = "0.1.0"
