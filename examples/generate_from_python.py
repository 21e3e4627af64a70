"""Use blog-images from another Python program.

    OPENAI_AUTH_TOKEN=sk-... python examples/generate_from_python.py 53 1 "A lighthouse at dawn"

The store comes from BLOG_IMAGES_STORE (default ./static); errors carry the
same exit codes as the CLI.
"""

import sys

from blog_images_tui import api


def main(post_id: str, section_id: str, prompt: str) -> int:
    try:
        stored = api.generate(prompt, post_id, section_id, size="1024x1024")
    except api.BlogImagesError as error:
        print(f"failed: {error}", file=sys.stderr)
        return int(error.exit_code)
    print(f"stored {stored.image_path}")
    print(f"sha256 {stored.metadata['sha256']}")
    # Browse what is there, one level at a time.
    for entry in api.list_images(post_id, section_id):
        meta = api.read_metadata(post_id, section_id, entry.filename) if entry.has_metadata else {}
        print(f"  {entry.image_name}: {meta.get('prompt', '(no metadata)')!r}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(*sys.argv[1:4]))
