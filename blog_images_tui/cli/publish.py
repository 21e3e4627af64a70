"""``blog-images publish POST [SECTION [NAME]]``: web-ready derivatives, a manifest and a snippet.

One image, a whole section or a whole post at once; see
:mod:`blog_images_tui.publish` for what is written and the rules it keeps.
Exit codes as the rest of the CLI: 0 published (or already published), 2 bad
input, 6 store unusable, 5 a conditional replace kept losing to other
writers; with several images, the worst of their failures.
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, TextIO

from blog_images_tui.cli.common import AddCommon, Subparsers, add_publish_options

if TYPE_CHECKING:
    import asyncio

    from blog_images_tui.errors import BlogImagesError
    from blog_images_tui.ids import SectionRef
    from blog_images_tui.jobs import JobEvent
    from blog_images_tui.publish import PublishResult
    from blog_images_tui.storage import Store
    from blog_images_tui.webplan import PublishSettings

HELP = "make web-ready AVIF/WebP derivatives, a manifest and a <picture> snippet in web/"


def register(subparsers: Subparsers, add_common: AddCommon) -> None:
    parser = subparsers.add_parser(
        "publish", help=HELP, description=HELP + " beside raw/. Never upscales; transparency and colour "
        "profile are kept; publishing again with the same settings changes nothing.",
        epilog="Exit codes: 0 published or already published, 2 bad input, 6 store unusable, 5 the manifest "
               "kept changing under other writers; several images: the worst of their failures.")
    parser.add_argument("post")
    parser.add_argument("section", nargs="?", help="a section of the post (default: every section)")
    parser.add_argument("name", nargs="?", help="one image, with or without extension (default: every image)")
    add_publish_options(parser)
    parser.add_argument("--alt", metavar="TEXT", help="alt text to set (one image; stored in its metadata)")
    parser.add_argument("--print", dest="print_snippet", choices=("html", "markdown"),
                        help="write only the snippet to stdout (one image)")
    parser.add_argument("--pool", choices=("thread", "process"), default="thread",
                        help="where encoders run (default: thread; both use every core)")
    parser.add_argument("--json", action="store_true",
                        help="print the manifest (one JSON object per image) with ok, manifest_path, images, "
                             "created and changed")
    add_common(parser)


def run(args: argparse.Namespace) -> int:
    import asyncio

    from blog_images_tui.cli.batch import worst_exit_code
    from blog_images_tui.cli.common import (
        open_store_from_args,
        parse_image_name,
        print_json,
        publish_settings_from_args,
        warn,
    )
    from blog_images_tui.encoderpool import EncoderPool
    from blog_images_tui.errors import BadInput
    from blog_images_tui.ids import SectionRef, parse_id
    from blog_images_tui.publish import Publisher, parse_alt, publishable_images

    post = parse_id(args.post, what="post id")
    section = SectionRef.parse(post, args.section) if args.section is not None else None
    filename = parse_image_name(args.name) if args.name is not None else None
    if filename is None and (args.alt is not None or args.print_snippet):
        raise BadInput("--alt and --print take one image: give POST SECTION NAME")
    if args.alt is not None:
        parse_alt(args.alt)
    store = open_store_from_args(args)
    settings = publish_settings_from_args(args, store)

    if filename is not None:
        assert section is not None
        items = [(section, filename)]
    else:
        sections = [section] if section is not None else [SectionRef(post, s) for s in store.list_sections(post)]
        items = [(ref, name) for ref in sections for name in publishable_images(store, ref)]
        if not items:
            raise BadInput(f"nothing to publish in {section or f'post {post}'}: no stored images")

    async def go() -> list[PublishResult | BlogImagesError]:
        pool = EncoderPool(args.workers, args.pool)
        try:
            publisher = Publisher(store, pool=pool)
            if filename is not None:
                return [await publisher.publish(items[0][0], items[0][1], settings, alt=args.alt)]
            return await publisher.publish_many(items, settings)
        finally:
            pool.close()

    results = asyncio.run(go())
    codes = []
    for (ref, name), result in zip(items, results, strict=True):
        if isinstance(result, Exception):
            if len(items) == 1:
                raise result
            codes.append(report_failure(ref, name, result, as_json=args.json))
            continue
        for note in result.manifest.get("notes", []):
            warn(f"{ref}, {name}: {note}")
        if args.print_snippet:
            print(result.manifest["html" if args.print_snippet == "html" else "markdown"])
        elif args.json:
            print_json({"ok": True, "manifest_path": result.manifest_path, "images": result.images,
                        "created": result.created, "changed": result.changed, **result.manifest})
        else:
            print(f"{ref}, {name}: {describe(result)}: {result.manifest_path}")
    return worst_exit_code(codes)


def report_failure(section: SectionRef, filename: str, error: BlogImagesError, *, as_json: bool,
                   stderr: TextIO | None = None) -> int:
    """One image of several failed: a line naming it (and a JSON object with ``--json``); its exit code."""
    import sys

    from blog_images_tui.cli.common import print_json
    from blog_images_tui.errors import error_object
    from blog_images_tui.secrets import redact

    if as_json:
        print_json({"ok": False, "published": False, "post_id": section.post_id, "section_id": section.section_id,
                    "filename": filename, "error": error_object(error)})
    print(f"error: publishing {section}, {filename}: {redact(str(error))}", file=stderr or sys.stderr, flush=True)
    return int(error.exit_code)


def describe(result: PublishResult) -> str:
    """What one publish did, in a few words."""
    files = len(result.manifest["derivatives"])
    if not result.changed:
        return f"unchanged ({files} files already published with these settings)"
    return (f"{files} files ({len(result.created)} new, {files - len(result.created)} already there), "
            f"manifest {'written' if result.manifest_written else 'unchanged'}")


class PublishAfterJobs:
    """``batch --publish``: each image is published as soon as its job is stored (or found stored).

    Publishing runs beside the engine on the same event loop, its encoders in
    the pool; one line (or JSON object) per image, and the exit codes of the
    failures for the batch's own.
    """

    def __init__(self, store: Store, settings: PublishSettings, *, as_json: bool, workers: int | None = None,
                 pool: str = "thread", stderr: TextIO | None = None) -> None:
        import sys

        from blog_images_tui.encoderpool import EncoderPool
        from blog_images_tui.publish import Publisher

        self.settings = settings
        self.as_json = as_json
        self.stderr = stderr or sys.stderr
        self.pool = EncoderPool(workers, pool)
        self.publisher = Publisher(store, pool=self.pool)
        self.tasks: list[asyncio.Task[None]] = []
        self.codes: list[int] = []
        self.published = 0

    def on_event(self, event: JobEvent) -> None:
        """Call from the engine's ``on_event`` (on the event loop)."""
        import asyncio

        from blog_images_tui import layout

        job = event.job
        if event.kind == "stored" and job.result is not None:
            filenames = [stored.filename for stored in job.results or [job.result]]  # every one of n variants
        elif event.kind == "skipped" and job.existing_name:
            filenames = [job.existing_name.removesuffix(layout.METADATA_SUFFIX)]
        else:
            return
        for filename in filenames:
            self.tasks.append(asyncio.create_task(self._publish(job.request.section, filename)))

    async def _publish(self, section: SectionRef, filename: str) -> None:
        from blog_images_tui.cli.common import print_json
        from blog_images_tui.errors import BlogImagesError

        try:
            result = await self.publisher.publish(section, filename, self.settings)
        except BlogImagesError as error:
            self.codes.append(report_failure(section, filename, error, as_json=self.as_json, stderr=self.stderr))
            return
        self.published += 1
        if self.as_json:
            print_json({"published": True, "post_id": section.post_id, "section_id": section.section_id,
                        "filename": filename, "manifest_path": result.manifest_path, "images": result.images,
                        "created": result.created, "changed": result.changed})
        else:
            print(f"published {section}, {filename}: {describe(result)}", file=self.stderr, flush=True)

    async def finish(self) -> None:
        """Wait for every publish started; then the pool is closed."""
        import asyncio

        try:
            if self.tasks:
                await asyncio.gather(*self.tasks, return_exceptions=True)
        finally:
            self.pool.close()
