"""The publish benchmark still runs (``python -m bench --smoke --only publish``) and writes its own block.

A measurement, never a pass/fail on a number: only that the harness works,
that every row has a value, and that the other benchmarks' block is kept.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_publish_bench_runs_and_writes_its_block_beside_the_others(tmp_path):
    rows_file = tmp_path / "rows.json"
    report = tmp_path / "BENCHMARKS.md"
    other = ("<!-- bench:results:start (written by `python -m bench`; edit outside these marks) -->\n"
             "| kept | table |\n<!-- bench:results:end -->")
    report.write_text(f"# Benchmarks\n\nNotes kept.\n\n{other}\n\nMore notes.\n")
    done = subprocess.run([sys.executable, "-m", "bench", "--smoke", "--only", "publish", "--output", str(report),
                           "--json", str(rows_file), "--timeout", "240"],
                          cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    rows = json.loads(rows_file.read_text())["rows"]
    names = [row["name"] for row in rows]
    assert any(name.startswith("floor: bare Pillow") for name in names)
    assert any("a section of 2 images: thread pool" in name for name in names)
    assert all(row["value"] is not None for row in rows if not row["name"].startswith("pyvips"))
    text = report.read_text()
    assert other in text and "More notes." in text  # the rest of the file is kept
    assert "<!-- bench:publish:start" in text and "tool, one image: thread pool" in text
