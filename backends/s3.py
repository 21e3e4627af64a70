"""S3 store (``s3://bucket/prefix``), also S3-compatible endpoints (MinIO, R2, ...).

Configuration over s3fs: the endpoint comes from the ``endpoint_url`` store
option or the standard ``AWS_ENDPOINT_URL_S3`` / ``AWS_ENDPOINT_URL`` variables;
credentials from the usual AWS chain. Objects are created with one conditional
PUT (``If-None-Match: *``), so nothing is overwritten and no partial object is
ever visible; they carry a ``Content-Type`` and no ACL (never public).
"""

from __future__ import annotations

import os
from typing import Any

from fsspec import AbstractFileSystem

from blog_images_tui.backend import Backend
from blog_images_tui.secrets import register_secret


class S3Backend(Backend):
    name = "s3"
    protocols = ("s3", "s3a")
    option_names = ("endpoint_url", "profile", "key", "secret", "token", "anon", "region",
                    "cache_control", "public_base_url", "retries")

    def filesystem(self, url: str) -> tuple[AbstractFileSystem, str]:
        import s3fs  # heavy (botocore): imported only when an S3 store is used

        opts = self.options
        # botocore logs requests at DEBUG (-vv, --log-file): make sure its secrets are redacted.
        for secret in (opts.get("secret"), opts.get("token"), os.environ.get("AWS_SECRET_ACCESS_KEY"),
                       os.environ.get("AWS_SESSION_TOKEN"), os.environ.get("AWS_SECURITY_TOKEN")):
            if secret and len(secret) >= 16:  # real ones are 40+ characters; never redact a word
                register_secret(secret)
        client_kwargs: dict[str, Any] = {}
        endpoint = opts.get("endpoint_url") or os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL")
        if opts.get("region"):
            client_kwargs["region_name"] = opts["region"]
        retries = int(opts.get("retries", 3))
        fs = s3fs.S3FileSystem(
            endpoint_url=endpoint or None,
            **({"profile": opts["profile"]} if opts.get("profile") else {}),
            key=opts.get("key"),
            secret=opts.get("secret"),
            token=opts.get("token"),
            anon=str(opts.get("anon", "")).lower() in ("1", "true", "yes"),
            client_kwargs=client_kwargs,
            # botocore's standard retry mode handles throttling and 5xx.
            config_kwargs={"retries": {"max_attempts": retries, "mode": "standard"},
                           "connect_timeout": 10, "read_timeout": 60},
            # Another client (or the TUI and a CLI run) may add images at any
            # time: never answer a listing from a stale cache.
            use_listings_cache=False,
            skip_instance_cache=True,
        )
        # s3fs wraps its own retry loop (5 tries) around botocore's: keep the
        # outer one short so an unreachable endpoint fails in seconds, not minutes.
        fs.retries = max(1, min(retries, 5))
        root = url.split("://", 1)[1].strip("/")
        return fs, root

    def write_new(self, fs: AbstractFileSystem, path: str, data: bytes, content_type: str) -> None:
        extra: dict[str, Any] = {"ContentType": content_type}
        if self.options.get("cache_control"):
            extra["CacheControl"] = self.options["cache_control"]
        fs.pipe_file(path, data, mode="create", **extra)

    def display_path(self, fs: AbstractFileSystem, path: str) -> str:
        return f"s3://{path}"

    def link(self, fs: AbstractFileSystem, path: str, *, expires_s: int = 3600) -> str:
        base = self.options.get("public_base_url")
        if base:
            bucket_relative = path.split("/", 1)[1] if "/" in path else path
            return f"{base.rstrip('/')}/{bucket_relative}"
        return fs.sign(path, expiration=expires_s)
