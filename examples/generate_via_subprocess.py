"""Drive the `blog-images` command from another program, as a pipeline would.

    OPENAI_AUTH_TOKEN=sk-... python3 dev.py run examples/generate_via_subprocess.py 53 2 "Futuristic cityscape"

It runs `blog-images` from PATH, else this Python's own (`python -m
blog_images_tui`: .venv's, under `dev.py run`).

The key travels in the environment (never on the command line, where `ps`
shows it); `--json` gives one machine-readable object; the exit code tells
what went wrong (see the README's table).
"""

import importlib.util
import json
import os
import shutil
import subprocess
import sys

RETRY_LATER = 5  # temporary failure after retries
KEPT_FOR_RECOVERY = 7
USAGE = "usage: python3 dev.py run examples/generate_via_subprocess.py POST_ID SECTION_ID PROMPT"


def blog_images_command() -> list[str]:
    """`blog-images` on PATH, else the module of this Python's installation; None if neither has it."""
    found = shutil.which("blog-images")
    if found:
        return [found]
    if importlib.util.find_spec("blog_images_tui") is not None:
        return [sys.executable, "-m", "blog_images_tui"]
    sys.exit("blog-images is not installed for this Python and not on PATH.\n" + USAGE)


def main(post_id: str, section_id: str, prompt: str) -> int:
    result = subprocess.run(
        [*blog_images_command(), "generate", "--prompt", prompt, "--post-id", post_id, "--section-id", section_id,
         "--size", "1024x1024", "--json"],
        capture_output=True, text=True, env=dict(os.environ),
    )
    answer = json.loads(result.stdout) if result.stdout.strip() else {}
    if result.returncode == 0:
        print(f"stored {answer['image_path']} ({answer['metadata']['bytes']} bytes)")
    elif result.returncode == KEPT_FOR_RECOVERY:
        print(f"generated but not stored; kept at {answer['error']['recovery_path']}", file=sys.stderr)
    elif result.returncode == RETRY_LATER:
        print("temporary failure; try again later", file=sys.stderr)
    else:
        print(result.stderr.strip(), file=sys.stderr)
    return result.returncode


if __name__ == "__main__":
    if len(sys.argv) != 4:
        print(USAGE, file=sys.stderr)
        raise SystemExit(2)
    raise SystemExit(main(*sys.argv[1:4]))
