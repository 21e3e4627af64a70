"""The README's examples run as written: the Python API snippet, word for word, against the fake Images API."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from PIL import Image

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text()


def python_snippet() -> str:
    section = README[README.index("## Using it from other programs"):]
    return re.search(r"```python\n(.*?)```", section, re.S).group(1)


def test_the_python_api_snippet_runs_as_written(api_env, tmp_path):
    # The folder a user runs it in: the default store ./static, the two files it names.
    (tmp_path / "static").mkdir()
    Image.new("RGB", (640, 480), (200, 120, 40)).save(tmp_path / "brand.png")
    mask = Image.new("RGBA", (1792, 1024), (0, 0, 0, 255))  # the size of the edited image (the default size)
    mask.putpixel((0, 0), (0, 0, 0, 0))
    mask.save(tmp_path / "sky.png")
    result = subprocess.run([sys.executable, "-c", python_snippet()], cwd=tmp_path, capture_output=True,
                            text=True, timeout=180)
    assert result.returncode == 0, result.stderr
    assert "<picture>" in result.stdout
    raw = tmp_path / "static/content/posts/53/sections/1/raw"
    images = sorted(path.name for path in raw.glob("*.png"))
    # hero, brand and the first of the three edits stay; the other two edits were deleted
    assert "hero.png" in images and "brand.png" in images and len(images) == 3, images
