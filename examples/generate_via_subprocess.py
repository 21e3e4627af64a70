"""Drive the `blog-images` command from another program, as a pipeline would.

    OPENAI_AUTH_TOKEN=sk-... python examples/generate_via_subprocess.py 53 2 "Futuristic cityscape"

The key travels in the environment (never on the command line, where `ps`
shows it); `--json` gives one machine-readable object; the exit code tells
what went wrong (see the README's table).
"""

import json
import os
import shutil
import subprocess
import sys

RETRY_LATER = 5  # temporary failure after retries
KEPT_FOR_RECOVERY = 7


def main(post_id: str, section_id: str, prompt: str) -> int:
    command = shutil.which("blog-images") or "blog-images"
    result = subprocess.run(
        [command, "generate", "--prompt", prompt, "--post-id", post_id, "--section-id", section_id,
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
    raise SystemExit(main(*sys.argv[1:4]))
