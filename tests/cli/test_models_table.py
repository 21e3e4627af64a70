"""``blog-images models`` (issue 11, item 13): a table a person can scan, one line a model that
fits 80 columns also when the output is not a terminal; ``--json`` keeps the full detail."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from blog_images_tui.models import DEFAULT_MODEL, MODELS


def models(*args: str) -> subprocess.CompletedProcess:
    # A pipe, not a terminal, and a wide COLUMNS: the table must not depend on either.
    return subprocess.run([sys.executable, "-m", "blog_images_tui", "models", *args], capture_output=True,
                          text=True, env={**os.environ, "COLUMNS": "200"}, timeout=120)


def test_one_line_a_model_within_80_columns_when_piped():
    result = models()
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert max(len(line) for line in lines) <= 80
    assert lines[0].split() == ["MODEL", "STATUS", "SIZES", "QUALITY", "FORMATS"]
    rows = {line.split()[0]: line.split()[1:] for line in lines[1:len(MODELS) + 1]}
    assert list(rows) == list(MODELS)  # each model once, on its own line, in the table's order
    assert rows[DEFAULT_MODEL][0] == "default"
    assert rows["dall-e-3"][:2] == ["retired", "B"] and "standard" in rows["dall-e-3"]
    assert rows["gpt-image-1.5"] == ["A", "auto-high", "png", "jpg", "webp"]
    legend = "\n".join(lines[len(MODELS) + 1:])
    assert "sizes A: 1024x1024, 1536x1024, 1024x1536, auto" in legend
    assert "dall-e-3 retired 2026-05-12" in legend and "--json" in legend


def test_json_keeps_every_detail():
    rows = json.loads(models("--json").stdout)["models"]
    by_name = {row["model"]: row for row in rows}
    assert list(by_name) == list(MODELS)
    assert by_name["gpt-image-2.5-sunburst"]["qualities"] == ["auto", "low", "medium", "high", "xhigh", "max"]
    assert by_name["dall-e-3"]["styles"] and by_name["dall-e-3"]["retired_on"] == "2026-05-12"
    assert "multiples of 16" in by_name[DEFAULT_MODEL]["sizes"] and by_name[DEFAULT_MODEL]["prompt_limit"]
