"""Use blog-images from another Python program.

    OPENAI_AUTH_TOKEN=sk-... python3 dev.py run examples/generate_from_python.py 53 1 "A lighthouse at dawn"

(``dev.py run`` uses the project's .venv, where blog-images is installed; with
that venv activated, ``python examples/generate_from_python.py ...`` is the
same.) The store comes from BLOG_IMAGES_STORE (default ./static); errors
carry the same exit codes as the CLI.
"""

import sys

USAGE = "usage: python3 dev.py run examples/generate_from_python.py POST_ID SECTION_ID PROMPT"

try:
    from blog_images_tui import api
except ModuleNotFoundError:
    sys.exit("blog-images is not installed for this Python.\n" + USAGE + "\n(dev.py sets up .venv on first use)")


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
    if len(sys.argv) != 4:
        print(USAGE, file=sys.stderr)
        raise SystemExit(2)
    raise SystemExit(main(*sys.argv[1:4]))
