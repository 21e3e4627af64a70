"""Storage backends for blog-images: configuration over fsspec, registered by name.

``local`` (default, ``./static``), ``s3`` (``s3://bucket/prefix``, also
S3-compatible endpoints) and ``memory`` (tests and demos). Any other fsspec URL
is served by the generic backend in :mod:`blog_images_tui.backend`.
"""
