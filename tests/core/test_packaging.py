"""What the package promises about itself: typed, and test tooling kept out of the runtime."""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_the_package_ships_its_py_typed_marker():
    assert (ROOT / "blog_images_tui" / "py.typed").is_file()
    package_data = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]
    assert "py.typed" in package_data["blog_images_tui"]


def test_the_moto_helper_without_moto_says_to_install_the_test_extra():
    # sys.modules[name] = None is how Python spells "this package is not installed".
    code = "import sys; sys.modules['moto'] = None; import blog_images_tui.testing.moto_s3"
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert run.returncode != 0
    last = run.stderr.strip().splitlines()[-1]
    assert last.startswith("ImportError:") and "blog-images[test]" in last, run.stderr
