"""The results table (terminal and Markdown) and the machine it ran on."""

from __future__ import annotations

import os
import platform
import subprocess
from datetime import UTC, datetime
from importlib import metadata
from typing import Any

LIBRARIES = ("openai", "httpx2", "httpcore2", "httpx", "pydantic", "fsspec", "s3fs", "aiobotocore", "botocore",
             "boto3", "moto", "textual", "aiohttp", "pillow", "pyvips", "pyvips-binary")


def marks(block: str = "results") -> tuple[str, str]:
    """The marks around one results block of BENCHMARKS.md (each block is rewritten only by its own run)."""
    return (f"<!-- bench:{block}:start (written by `python -m bench`; edit outside these marks) -->",
            f"<!-- bench:{block}:end -->")


START_MARK, END_MARK = marks()


def machine() -> dict[str, Any]:
    info: dict[str, Any] = {
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "cpu": platform.processor() or platform.machine(),
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "os": f"{platform.system()} {platform.release()}",
    }
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    info["cpu"] = line.split(":", 1)[1].strip()
                    break
        with open("/proc/meminfo") as f:
            kb = int(next(line for line in f if line.startswith("MemTotal")).split()[1])
            info["ram"] = f"{kb / 2**20:.1f} GiB"
    except (OSError, StopIteration, ValueError):
        pass
    versions = {}
    for name in LIBRARIES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            pass
    info["libraries"] = versions
    try:
        info["commit"] = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                                        timeout=5).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        pass
    return info


def load_average() -> str:
    try:
        return " ".join(f"{value:.2f}" for value in os.getloadavg())
    except OSError:
        return "?"


def _fmt(value: float | None, unit: str) -> str:
    if value is None:
        return ""
    if unit in ("s",):
        return f"{value:.2f} s"
    if unit == "x":
        return f"x{value:.2f}"
    if unit.startswith("ms"):
        return f"{value:.1f} {unit}"
    if unit == "MB":
        return f"{value:.0f} MB"
    return f"{value:.3g} {unit}".strip()


def _verdict(row: dict[str, Any]) -> str:
    if row["ok"] is None:
        return ""
    return "ok" if row["ok"] else "MISSED"


def table_rows(rows: list[dict[str, Any]]) -> list[list[str]]:
    out = []
    for row in rows:
        ratio = "" if row["ratio"] is None or row["unit"] == "x" else f"x{row['ratio']:.2f}"
        out.append([row["bench"], row["name"], _fmt(row["value"], row["unit"]), row["reference"], ratio,
                    row["target"], _verdict(row), row["note"]])
    return out


HEADERS = ["#", "measure", "value", "compared with", "ratio", "target", "", "notes"]


def terminal_table(rows: list[dict[str, Any]]) -> str:
    body = table_rows(rows)
    shown = [r[:7] for r in body]
    widths = [max(len(HEADERS[i]), *(len(r[i]) for r in shown)) for i in range(7)]
    lines = ["  ".join(HEADERS[i].ljust(widths[i]) for i in range(7)).rstrip()]
    lines.append("  ".join("-" * w for w in widths))
    for r in shown:
        lines.append("  ".join(r[i].ljust(widths[i]) for i in range(7)).rstrip())
    return "\n".join(lines)


def markdown(rows: list[dict[str, Any]], info: dict[str, Any], *, scale: str, elapsed_s: float,
             load_before: str, load_after: str, block: str = "results") -> str:
    libs = ", ".join(f"{k} {v}" for k, v in info.get("libraries", {}).items())
    start_mark, end_mark = marks(block)
    out = [
        start_mark,
        "",
        f"Run: `python -m bench{'' if scale == 'full' else ' --' + scale}` on {info['date']}"
        + (f" at commit `{info['commit']}`" if info.get("commit") else "")
        + f", {elapsed_s:.0f} s in all.",
        "",
        f"Machine: {info['cpu']}, {info['cores']} cores, {info.get('ram', '?')} RAM, {info['os']}; "
        f"Python {info['python']}; {libs}.",
        f"Load average (1, 5, 15 min) before: {load_before}; after: {load_after} "
        "(the machine is shared: other sessions run tests at the same time).",
        "",
        "| " + " | ".join(HEADERS) + " |",
        "|" + "|".join("---" for _ in HEADERS) + "|",
    ]
    for r in table_rows(rows):
        out.append("| " + " | ".join(cell.replace("|", "\\|") for cell in r) + " |")
    out += ["", end_mark]
    return "\n".join(out)


def write_benchmarks_md(path: str, results_block: str, template: str, block: str = "results") -> None:
    """Replace one results block of ``path`` (or create it from ``template``), keeping the prose around it."""
    start_mark, end_mark = marks(block)
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except FileNotFoundError:
        text = template
    if start_mark in text and end_mark in text:
        head, rest = text.split(start_mark, 1)
        _, tail = rest.split(end_mark, 1)
        text = head + results_block + tail
    else:
        text = text.rstrip("\n") + "\n\n" + results_block + "\n"
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)
