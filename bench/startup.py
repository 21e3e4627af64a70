"""4. Start-up: ``blog-images --help`` and the TUI's time to its first usable screen.

Wall time of fresh processes (median of several), beside the interpreter's
own start-up (``python -c pass``). ``python -X importtime`` names the
slowest imports of ``--help``. The TUI is started headless with Textual's
``App.run_test()`` on a local store with a few posts (and on the small moto
S3 store); "usable" means the main screen is mounted and the store tree
shows the posts. Beside it: a bare Textual app with one widget, the floor any
Textual app pays.
"""

from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.common import Row, worker_main

HELP_TARGET_S = 0.3
ROOT = Path(__file__).resolve().parent.parent
#: Commands run from a neutral folder, so ``python -c``/``-m`` do not import the tree from the cwd.
NEUTRAL_CWD = tempfile.gettempdir()


def wall(command: list[str], runs: int, env: dict[str, str] | None = None, ready: str | None = None) -> list[float]:
    """Wall seconds of ``runs`` fresh processes (until exit, or until a line ``ready`` on stdout)."""
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        if ready is None:
            subprocess.run(command, env=env, cwd=NEUTRAL_CWD, check=True, capture_output=True, timeout=120)
        else:
            process = subprocess.Popen(command, env=env, cwd=NEUTRAL_CWD, text=True,
                                       stdout=subprocess.PIPE, stderr=subprocess.PIPE)
            try:
                for line in process.stdout:  # type: ignore[union-attr]
                    if line.strip() == ready:
                        break
                else:
                    raise RuntimeError(f"{command} ended without {ready!r}: {process.stderr.read()[-500:]}")
            finally:
                elapsed = time.perf_counter() - started
                process.wait(timeout=60)
            times.append(elapsed)
            continue
        times.append(time.perf_counter() - started)
    return times


def compiled_copy(python: str) -> str:
    """A copy of the project's packages with their bytecode compiled; returns its folder."""
    folder = tempfile.mkdtemp(prefix="bench-compiled-")
    for package in ("blog_images_tui", "backends"):
        shutil.copytree(ROOT / package, Path(folder, package), ignore=shutil.ignore_patterns("__pycache__"))
    subprocess.run([python, "-m", "compileall", "-q", folder], check=True, capture_output=True, timeout=120)
    return folder


def import_offenders(python: str, env: dict[str, str], top: int = 6) -> list[tuple[str, float]]:
    """The slowest top-level imports (cumulative ms) of ``blog-images --help``."""
    done = subprocess.run([python, "-X", "importtime", "-m", "blog_images_tui", "--help"], env=env, cwd=NEUTRAL_CWD,
                          capture_output=True, text=True, timeout=120)
    found = []
    for line in done.stderr.splitlines():
        if not line.startswith("import time:") or "|" not in line:
            continue
        try:
            _self, cumulative, name = line[len("import time:"):].split("|")
            cumulative_us = int(cumulative)
        except ValueError:
            continue
        if name.startswith(" ") and not name.startswith("  "):  # top level only (one space of indent)
            found.append((name.strip(), cumulative_us / 1000))
    return sorted(found, key=lambda item: -item[1])[:top]


TUI_PROBE = r'''
import asyncio, os, sys, time
started = time.perf_counter()
kind = sys.argv[1]
if kind == "bare":
    from textual.app import App
    from textual.widgets import Static

    class Bare(App):
        def compose(self):
            yield Static("hello")

    app = Bare()
    def usable():
        return bool(app.screen.query(Static))
else:
    from blog_images_tui.tui.app import make_app
    from blog_images_tui.tui.screens.main import MainScreen
    from blog_images_tui.generation import ClientSettings
    from blog_images_tui.secrets import ApiKey

    options = {"endpoint_url": os.environ["BENCH_S3_ENDPOINT"]} if sys.argv[2].startswith("s3://") else {}
    app = make_app(sys.argv[2], store_options=options, preview="text",
                   settings=ClientSettings(api_key=ApiKey("sk-bench", "bench"), base_url="http://127.0.0.1:9/v1"))
    def usable():
        screen = app.screen
        return isinstance(screen, MainScreen) and screen.store is not None and len(screen.store_tree.root.children) > 0
imported = time.perf_counter()

async def main():
    async with app.run_test(size=(120, 40)) as pilot:
        while not usable():
            await pilot.pause(0.005)
        print("READY", flush=True)
        print(f"IMPORT {imported - started:.4f}", flush=True)
asyncio.run(main())
'''


def tui_rows(python: str, env: dict[str, str], runs: int, tui_s3: bool = True) -> list[Row]:
    from bench.browse import put_over_http, store_keys
    from bench.servers import MotoProcess

    if not (ROOT / "blog_images_tui" / "tui" / "app.py").exists():
        return [Row("4 start-up", "TUI first usable screen", None, "", note="blog_images_tui/tui/ is not there yet")]
    rows = []
    folder = tempfile.mkdtemp(prefix="bench-tui-")
    for post in (1, 2, 3):
        raw = Path(folder, "content", "posts", str(post), "sections", "1", "raw")
        raw.mkdir(parents=True)
        (raw / "hero.png").write_bytes(b"\x89PNG\r\n\x1a\n")
        (raw / "hero_metadata.json").write_text("{}")
    probe = [python, "-c", TUI_PROBE]
    bare = wall(probe + ["bare"], runs, env=env, ready="READY")
    local = wall(probe + ["app", folder], runs, env=env, ready="READY")
    rows.append(Row("4 start-up", "bare Textual app, one widget: first screen", statistics.median(bare), "s",
                    note=f"median of {runs}, headless run_test(); the floor of any Textual app"))
    rows.append(Row("4 start-up", "TUI first usable screen, local store", statistics.median(local), "s",
                    reference=f"bare Textual {statistics.median(bare):.2f} s",
                    ratio=statistics.median(local) / statistics.median(bare),
                    note=f"median of {runs}, min {min(local):.2f} s; process start to main screen with posts listed"))
    if not tui_s3:
        return rows
    with MotoProcess() as moto:
        bucket = moto.new_bucket("tui")
        put_over_http(moto, bucket, [f"blog/{key.split('/', 1)[1]}" for key in store_keys(4)])
        s3_env = dict(env, BENCH_S3_ENDPOINT=moto.endpoint_url)
        s3 = wall(probe + ["app", f"s3://{bucket}/blog"], runs, env=s3_env, ready="READY")
    rows.append(Row("4 start-up", "TUI first usable screen, S3 store (moto, 240 objects)", statistics.median(s3), "s",
                    reference=f"bare Textual {statistics.median(bare):.2f} s",
                    ratio=statistics.median(s3) / statistics.median(bare),
                    note=f"median of {runs}, min {min(s3):.2f} s; includes importing s3fs/botocore"))
    return rows


def run(cfg: dict[str, Any]) -> list[Row]:
    runs = cfg["startup_runs"]
    python = sys.executable
    script = shutil.which("blog-images", path=str(Path(python).parent)) or ""
    # An installed package has its bytecode compiled; a source tree run with PYTHONDONTWRITEBYTECODE=1
    # (as this sandbox sets) compiles the project's sources at every start. Measure a compiled copy of
    # the packages, first on PYTHONPATH, without writing anything into the tree.
    env = dict(os.environ, PYTHONPATH=compiled_copy(python))
    no_cache_env = dict(os.environ, PYTHONPATH=str(ROOT), PYTHONDONTWRITEBYTECODE="1")
    command = [script, "--help"] if script else [python, "-m", "blog_images_tui", "--help"]
    wall(command, 1, env=env)  # files in the page cache
    floor = wall([python, "-c", "pass"], runs, env=env)
    help_times = wall(command, runs, env=env)
    no_cache_times = wall(command, runs, env=no_cache_env)
    help_s = statistics.median(help_times)
    offenders = import_offenders(python, env)
    rows = [
        Row("4 start-up", "python -c pass (interpreter floor)", statistics.median(floor), "s",
            note=f"median of {runs}"),
        Row("4 start-up", "blog-images --help", help_s, "s", reference=f"target {HELP_TARGET_S} s",
            ratio=help_s / HELP_TARGET_S, target=f"< {HELP_TARGET_S} s", ok=help_s < HELP_TARGET_S,
            note=f"median of {runs}, min {min(help_times):.3f} s, bytecode cached; slowest imports: "
                 + ", ".join(f"{name} {ms:.0f} ms" for name, ms in offenders)),
        Row("4 start-up", "blog-images --help, no bytecode cache", statistics.median(no_cache_times), "s",
            note="PYTHONDONTWRITEBYTECODE=1 as in this sandbox: the project's sources compiled at every start"),
    ]
    for module, why in (("openai", "paid by the first generation of a process: the cold batches above"),
                        ("s3fs", "paid when an S3 store is opened")):
        imported = wall([python, "-c", f"import {module}"], runs, env=env)
        rows.append(Row("4 start-up", f"python -c 'import {module}'", statistics.median(imported), "s",
                        reference=f"python -c pass {statistics.median(floor):.2f} s",
                        note=f"median of {runs}; {why}"))
    return rows + tui_rows(python, env, runs, cfg["tui_s3"])


if __name__ == "__main__":
    worker_main(run)
