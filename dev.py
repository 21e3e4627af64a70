#!/usr/bin/env python3
"""One entry point for developers and CI; needs only Python 3.11+ and pip.

    python3 dev.py app [ARGS...]    # set up .venv if needed, then run blog-images (the TUI on ./static)
    python3 dev.py test [ARGS...]   # set up .venv if needed, then run the test suite
    python3 dev.py bench [ARGS...]  # set up .venv if needed, then run the benchmarks

Set-up creates ./.venv and installs the project with its test and bench
extras; it runs again only when pyproject.toml changes.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")
PYTHON = BIN / ("python.exe" if os.name == "nt" else "python")
STAMP = VENV / ".blog-images-installed"


def ensure_venv() -> None:
    wanted = hashlib.sha256((ROOT / "pyproject.toml").read_bytes()).hexdigest()
    if PYTHON.exists() and STAMP.exists() and STAMP.read_text().strip() == wanted:
        return
    if sys.version_info < (3, 11):
        sys.exit("blog-images needs Python 3.11 or newer")
    if not PYTHON.exists():
        print("creating .venv ...", file=sys.stderr)
        venv.EnvBuilder(with_pip=True).create(VENV)
    print("installing blog-images and its test dependencies into .venv ...", file=sys.stderr)
    subprocess.run([str(PYTHON), "-m", "pip", "install", "--disable-pip-version-check", "-q",
                    "-e", f"{ROOT}[test,bench]"], check=True)
    STAMP.write_text(wanted + "\n")


def main(argv: list[str]) -> int:
    if not argv or argv[0] not in ("app", "test", "bench"):
        print(__doc__.strip(), file=sys.stderr)
        return 2
    command, rest = argv[0], argv[1:]
    ensure_venv()
    os.chdir(ROOT)
    if command == "app":
        args = [str(BIN / "blog-images"), *rest]
    elif command == "test":
        args = [str(PYTHON), "-m", "pytest", *rest]
    else:
        args = [str(PYTHON), "-m", "bench", *rest]
    if os.name == "nt":
        return subprocess.call(args)
    os.execv(args[0], args)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
