"""The benchmark harness still runs: ``python -m bench --smoke`` with tiny sizes.

Only that it produced results is checked. The numbers are measurements for
BENCHMARKS.md, never pass/fail criteria: no timing is asserted here.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.s3  # the harness starts its own moto S3 server on 127.0.0.1


def test_bench_harness_runs_and_writes_its_table(tmp_path):
    rows_file = tmp_path / "rows.json"
    report = tmp_path / "BENCHMARKS.md"
    report.write_text("# Benchmarks\n\nNotes kept across runs.\n")
    # Every benchmark module once (the S3 and 3 MB parts of throughput share their code with these).
    only = "throughput:local,throughput:original,overhead,browse,startup,memory"
    done = subprocess.run(
        [sys.executable, "-m", "bench", "--smoke", "--only", only, "--output", str(report),
         "--json", str(rows_file), "--timeout", "120"],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]

    rows = json.loads(rows_file.read_text())["rows"]
    produced = {row["bench"] for row in rows if row["value"] is not None}
    assert produced >= {"1 throughput", "2 overhead", "3 browse", "4 start-up", "5 memory"}, produced
    assert not [row for row in rows if row["name"].endswith("failed")]

    text = report.read_text()
    assert text.startswith("# Benchmarks\n\nNotes kept across runs.")
    assert "<!-- bench:results:start" in text and "<!-- bench:results:end -->" in text
    assert "blog-images --help" in text


def test_a_smoke_or_quick_run_leaves_the_tracked_benchmarks_alone(tmp_path, monkeypatch, capsys):
    """Only a full run rewrites BENCHMARKS.md; ``--smoke``/``--quick`` write only with ``--output``."""
    from bench import __main__ as bench_main

    tracked = tmp_path / "BENCHMARKS.md"
    tracked.write_text("# Benchmarks\n\nthe full run's results\n")
    monkeypatch.setattr(bench_main, "DEFAULT_OUTPUT", tracked)
    assert bench_main.main(["--smoke", "--only", "startup", "--timeout", "120"]) == 0
    assert tracked.read_text() == "# Benchmarks\n\nthe full run's results\n"
    assert "not written to BENCHMARKS.md" in capsys.readouterr().out
