"""S3 store (``s3://bucket/prefix``), also S3-compatible endpoints (MinIO, R2, ...).

Configuration over s3fs: the endpoint comes from the ``endpoint_url`` store
option or the standard ``AWS_ENDPOINT_URL_S3`` / ``AWS_ENDPOINT_URL`` variables;
credentials from the usual AWS chain. Objects are created with one conditional
PUT (``If-None-Match: *``), so nothing is overwritten and no partial object is
ever visible; they carry a ``Content-Type`` and no ACL (never public). A
replaceable object (a manifest, a metadata's ``alt``) is replaced with one
``If-Match: <ETag>`` PUT. The write check proves the endpoint refuses a second
conditional create of the same key: some S3-compatible servers ignore
``If-None-Match`` and would let concurrent runs overwrite paid images.
"""

from __future__ import annotations

import os
import uuid
from typing import Any

from fsspec import AbstractFileSystem

from blog_images_tui.backend import Backend, cache_control_for
from blog_images_tui.secrets import register_secret

#: The store option that accepts an endpoint which ignores If-None-Match (overwrites possible).
UNCONDITIONAL_OPTION = "accept_overwrite_risk"


class S3Backend(Backend):
    name = "s3"
    protocols = ("s3", "s3a")
    option_names = ("endpoint_url", "profile", "key", "secret", "token", "anon", "region",
                    "cache_control", "public_base_url", "retries", UNCONDITIONAL_OPTION, "url_prefix")

    def filesystem(self, url: str) -> tuple[AbstractFileSystem, str]:
        import s3fs  # heavy (botocore): imported only when an S3 store is used

        opts = self.options
        # botocore logs requests at DEBUG (-vv, --log-file): make sure its secrets are redacted.
        for secret in (opts.get("secret"), opts.get("token"), os.environ.get("AWS_SECRET_ACCESS_KEY"),
                       os.environ.get("AWS_SESSION_TOKEN"), os.environ.get("AWS_SECURITY_TOKEN")):
            if secret and len(secret) >= 16:  # real ones are 40+ characters; never redact a word
                register_secret(secret)
        client_kwargs: dict[str, Any] = {}
        endpoint = (opts.get("endpoint_url") or os.environ.get("AWS_ENDPOINT_URL_S3")
                    or os.environ.get("AWS_ENDPOINT_URL"))
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
        self.endpoint = endpoint or "AWS S3"
        return fs, root

    def write_new(self, fs: AbstractFileSystem, path: str, data: bytes, content_type: str) -> None:
        extra: dict[str, Any] = {"ContentType": content_type}
        cache_control = cache_control_for(self.options.get("cache_control"), content_type)
        if cache_control:
            extra["CacheControl"] = cache_control
        fs.pipe_file(path, data, mode="create", **extra)

    def read_versioned(self, fs: AbstractFileSystem, path: str) -> tuple[bytes, str]:
        # The ETag first, then the bytes: if the object changes in between, the
        # replace that follows fails on If-Match (safe); the other order could
        # pair old bytes with the new ETag and lose the other writer's update.
        etag = fs.info(path)["ETag"]
        return fs.cat_file(path), etag

    def replace_if(self, fs: AbstractFileSystem, path: str, data: bytes, content_type: str,
                   expected_version: str) -> str:
        from blog_images_tui.errors import Conflict

        extra: dict[str, Any] = {"ContentType": content_type, "IfMatch": expected_version}
        cache_control = cache_control_for(self.options.get("cache_control"), content_type)
        if cache_control:
            extra["CacheControl"] = cache_control
        try:
            answer = fs.pipe_file(path, data, **extra)
        except FileNotFoundError:
            raise Conflict(f"s3://{path} was removed meanwhile") from None
        except OSError as error:
            if _is_precondition_failed(error):
                raise Conflict(f"s3://{path} was changed meanwhile") from None
            raise
        return (answer or {}).get("ETag") or fs.info(path)["ETag"]

    def check_writable(self, fs: AbstractFileSystem, root: str) -> None:
        """Create a probe, then prove a second conditional create of it is refused."""
        probe = f"{root}/content/posts/.blog-images-write-check-{uuid.uuid4().hex}"
        self.write_new(fs, probe, b"", "application/octet-stream")
        try:
            try:
                self.write_new(fs, probe, b"second", "application/octet-stream")
            except FileExistsError:
                return  # the endpoint keeps its promise
            if str(self.options.get(UNCONDITIONAL_OPTION, "")).lower() in ("1", "true", "yes"):
                return
            raise IgnoresConditionalWrites(
                f"the S3 endpoint {self.endpoint} ignores If-None-Match: concurrent runs could overwrite "
                f"paid images; to accept that risk pass --store-option {UNCONDITIONAL_OPTION}=true")
        finally:
            try:
                fs.rm_file(probe)
            except OSError:
                pass  # no delete permission is fine: we only need to create

    def list_tree(self, fs: AbstractFileSystem, path: str) -> list[str]:
        parent, _, name = path.rpartition("/")
        # As a prefix under the parent: one LIST without delimiter, and no HEAD + LIST more
        # when nothing is there yet (s3fs's find of a missing folder checks whether it is a file).
        return list(fs.find(parent, prefix=f"{name}/"))

    def display_path(self, fs: AbstractFileSystem, path: str) -> str:
        return f"s3://{path}"

    def served_path(self, root: str, relative: str) -> str:
        # public_base_url serves the bucket (as in link()): the store's prefix is part of the path.
        prefix = root.split("/", 1)[1] if "/" in root else ""
        return f"{prefix}/{relative}" if prefix else relative

    def link(self, fs: AbstractFileSystem, path: str, *, expires_s: int = 3600) -> str:
        base = self.options.get("public_base_url")
        if base:
            bucket_relative = path.split("/", 1)[1] if "/" in path else path
            return f"{base.rstrip('/')}/{bucket_relative}"
        return fs.sign(path, expiration=expires_s)


class IgnoresConditionalWrites(ValueError):
    """The endpoint overwrote an object a conditional create should have refused."""


def _is_precondition_failed(error: OSError) -> bool:
    text = f"{error} {error.__cause__ or ''}"
    return "PreconditionFailed" in text or "412" in text or "If-Match" in text or "Precondition" in text
