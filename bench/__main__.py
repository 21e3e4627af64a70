"""Run every benchmark and write BENCHMARKS.md: ``python -m bench [--quick]``.

Each benchmark runs in a fresh Python process (``python -m bench.<name>``),
against the fake Images API and moto S3 in their own processes on 127.0.0.1.
The table is printed and, for a full run, written between the marks in
BENCHMARKS.md (the prose around the marks is kept). A ``--quick`` or
``--smoke`` run writes only where ``--output`` says: its small sizes are not
the results the tracked file reports.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

from bench import report

ROOT = Path(__file__).resolve().parent.parent
#: the tracked results: written by full runs only
DEFAULT_OUTPUT = ROOT / "BENCHMARKS.md"
#: (module, part) in the order of the issue; each is one worker process.
WORKERS = [
    ("throughput", "local"), ("throughput", "s3"), ("throughput", "original"), ("throughput", "payload"),
    ("overhead", ""), ("browse", ""), ("startup", ""), ("memory", ""),
    ("ratelimit", "headers"), ("ratelimit", "no-headers"), ("publish", ""),
]
#: modules whose rows go to a results block of their own in BENCHMARKS.md (the rest: "results")
BLOCKS = {"publish": "publish"}
TEMPLATE = """# Benchmarks

Measured by `python -m bench` (see `bench/README.md`). The table between the
marks below is rewritten by every run; the notes around it are not.
"""


def run_worker(module: str, part: str, scale: str, timeout: float) -> tuple[list[dict], str]:
    command = [sys.executable, "-m", f"bench.{module}", "--scale", scale] + (["--part", part] if part else [])
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])))
    try:
        done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return [], f"timed out after {timeout:.0f} s"
    for line in reversed(done.stdout.splitlines()):
        if line.startswith("BENCH-ROWS "):
            return json.loads(line[len("BENCH-ROWS "):]), ""
    tail = "\n".join((done.stderr or done.stdout).strip().splitlines()[-15:])
    return [], f"exit {done.returncode}: {tail}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    size = parser.add_mutually_exclusive_group()
    size.add_argument("--quick", action="store_const", dest="scale", const="quick",
                      help="smaller sizes (a few minutes); the issue's sizes are the default")
    size.add_argument("--smoke", action="store_const", dest="scale", const="smoke",
                      help="tiny sizes, only proves the harness runs (CI)")
    parser.add_argument("--only", metavar="NAMES", help="comma-separated: throughput, overhead, browse, startup, "
                                                         "memory (or module:part, e.g. throughput:s3)")
    parser.add_argument("--output", help="where to write the table (default: BENCHMARKS.md for a full run; "
                                         "a --quick or --smoke run writes only with --output)")
    parser.add_argument("--no-write", action="store_true", help="print the table only")
    parser.add_argument("--json", metavar="PATH", help="also write every row, with extras, as JSON")
    parser.add_argument("--timeout", type=float, default=600, help="seconds per worker (default: %(default)s)")
    args = parser.parse_args(argv)
    scale = args.scale or "full"
    wanted = set((args.only or "").replace(" ", "").split(",")) - {""}
    workers = [(m, p) for m, p in WORKERS if not wanted or m in wanted or f"{m}:{p}" in wanted]
    if not workers:
        parser.error(f"nothing matches --only {args.only}")

    load_before, info, started = report.load_average(), report.machine(), time.perf_counter()
    rows: list[dict] = []
    failures = []

    def one(worker: tuple[str, str]) -> tuple[list[dict], str]:
        module, part = worker
        label = module + (f":{part}" if part else "")
        print(f"[bench] {label} ...", file=sys.stderr, flush=True)
        t0 = time.perf_counter()
        got, error = run_worker(module, part, scale, args.timeout)
        print(f"[bench] {label}: {len(got)} rows in {time.perf_counter() - t0:.1f} s"
              + (f" - FAILED: {error}" if error else ""), file=sys.stderr, flush=True)
        return got, error

    outcomes = [one(worker) for worker in workers]  # one at a time: workers would disturb each other
    for (module, part), (got, error) in zip(workers, outcomes, strict=True):
        label = module + (f":{part}" if part else "")
        if error:
            failures.append(label)
            rows.append({"bench": module, "name": f"{label} failed", "value": None, "unit": "", "reference": "",
                         "ratio": None, "target": "", "ok": False, "note": error.splitlines()[-1][:200],
                         "extra": {"error": error}})
        rows.extend(got)
    elapsed = time.perf_counter() - started
    print(report.terminal_table(rows))
    print(f"\n{elapsed:.0f} s; load average {load_before} -> {report.load_average()}")
    output = args.output or (str(DEFAULT_OUTPUT) if scale == "full" else None)
    if args.no_write:
        pass
    elif output is None:
        print(f"not written to {DEFAULT_OUTPUT.name}: a --{scale} run's sizes are not its results "
              "(pass --output PATH to keep this table)")
    else:
        # Each block is rewritten only by a run that measured it: `--only publish` keeps the rest.
        for name in dict.fromkeys(BLOCKS.get(module, "results") for module, _ in workers):
            mine = [row for row in rows if BLOCKS.get(row["bench"].split()[-1], "results") == name]
            block = report.markdown(mine, info, scale=scale, elapsed_s=elapsed, load_before=load_before,
                                    load_after=report.load_average(), block=name)
            report.write_benchmarks_md(output, block, TEMPLATE, block=name)
        print(f"wrote {output}")
    if args.json:
        Path(args.json).write_text(json.dumps({"machine": info, "scale": scale, "rows": rows}, indent=2) + "\n")
    return 1 if failures else 0


if __name__ == "__main__":
    raise SystemExit(main())
