#!/usr/bin/env python3
"""One entry point for developers and CI; needs only Python 3.11+ and pip.

    python3 dev.py app [ARGS...]    # set up .venv if needed, then run blog-images (the TUI on ./static)
    python3 dev.py test [ARGS...]   # set up .venv if needed, then run the test suite
    python3 dev.py bench [ARGS...]  # set up .venv if needed, then run the benchmarks
    python3 dev.py run FILE [ARGS...]  # run a Python file with .venv's Python (e.g. examples/*.py)
    python3 dev.py lint             # set up .venv if needed, then ruff, mypy and lint-imports

Set-up creates ./.venv and installs the project with its test, bench and lint
extras (the first time takes about two minutes); it runs again only when
pyproject.toml changes. Lint settings are in pyproject.toml ([tool.ruff],
[tool.mypy], [tool.importlinter]).
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import time
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
    if sys.version_info < (3, 11):  # noqa: UP036 - dev.py runs on any python3, before the venv exists
        sys.exit("blog-images needs Python 3.11 or newer")
    started = time.monotonic()
    if not PYTHON.exists():
        say("creating .venv (first set-up, about two minutes in all; later runs skip it) ...")
        venv.EnvBuilder(with_pip=True).create(VENV)
    say("installing blog-images with its test, bench and lint extras into .venv "
        "(pip, quiet: a minute or two; again only when pyproject.toml changes) ...")
    subprocess.run([str(PYTHON), "-m", "pip", "install", "--disable-pip-version-check", "-q",
                    "-e", f"{ROOT}[test,bench,lint]"], check=True)
    STAMP.write_text(wanted + "\n")
    say(f".venv ready in {time.monotonic() - started:.0f} s")


def say(text: str) -> None:
    print(f"dev.py: {text}", file=sys.stderr, flush=True)


def core_modules_outside_contract() -> list[str]:
    """Core modules (package root of blog_images_tui, and backends) the import contract does not name.

    import-linter cannot say "every root module but cli and tui", so the contract
    lists them; this keeps a new core module from slipping past it.
    """
    import tomllib

    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    named = {module for contract in config["tool"]["importlinter"]["contracts"]
             for module in contract.get("source_modules", [])}
    faces = {"cli", "tui", "web"}
    package = ROOT / "blog_images_tui"
    core = {f"blog_images_tui.{path.stem}" for path in package.glob("*.py")
            if path.stem not in ("__init__", "__main__")}
    core |= {f"blog_images_tui.{path.parent.name}" for path in package.glob("*/__init__.py")
             if path.parent.name not in faces}
    core.add("backends")
    return sorted(core - named)


def lint() -> int:
    """ruff (lint and import order), mypy on the package, and the import contract."""
    failed = False
    for tool in (["ruff", "check", "."], ["mypy"], ["lint-imports"]):
        print(f"$ {' '.join(tool)}", file=sys.stderr, flush=True)
        failed |= subprocess.call([str(BIN / tool[0]), *tool[1:]]) != 0
    missing = core_modules_outside_contract()
    if missing:
        print(f"pyproject.toml: add {', '.join(missing)} to the core's import contract "
              "([[tool.importlinter.contracts]] source_modules)", file=sys.stderr)
        failed = True
    return 1 if failed else 0


def main(argv: list[str]) -> int:
    if not argv or argv[0] not in ("app", "test", "bench", "run", "lint") or (argv[0] == "run" and len(argv) < 2):
        print(__doc__.strip(), file=sys.stderr)
        return 2
    command, rest = argv[0], argv[1:]
    ensure_venv()
    if command != "run":  # a file to run is named from where you are, and works there
        os.chdir(ROOT)
    if command == "lint":
        if rest:
            print("dev.py lint takes no arguments", file=sys.stderr)
            return 2
        return lint()
    if command == "app":
        args = [str(BIN / "blog-images"), *rest]
    elif command == "test":
        args = [str(PYTHON), "-m", "pytest", *rest]
        say("running pytest " + (" ".join(rest) if rest else "on the whole suite (several minutes; "
                                  "a dot per test, in parallel)") + " ...")
    elif command == "run":
        args = [str(PYTHON), *rest]
    else:
        args = [str(PYTHON), "-m", "bench", *rest]
        say("running the benchmarks " + (" ".join(rest) or "at full size (about five minutes)") + " ...")
    if os.name == "nt":
        return subprocess.call(args)
    os.execv(args[0], args)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
