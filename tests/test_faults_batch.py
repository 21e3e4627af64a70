"""Process side, batch: Ctrl-C in the middle of ``blog-images batch``, then the same command again.

Exit 130, nothing partial (every image in the store has its metadata, no temp
file, nothing stuck in the recovery folder), and the re-run stores exactly
what is missing: each entry ends up stored once.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from tests.test_faults_support import Cli, cli, pending_folders  # noqa: F401 (cli is a fixture)

pytestmark = pytest.mark.usefixtures("api_env")


def write_batch(path: Path, count: int, *, posts: int = 3) -> Path:
    with path.open("w", encoding="utf-8") as out:
        for index in range(count):
            out.write(json.dumps({"post_id": 1 + index % posts, "section_id": 1 + index // posts % 4,
                                  "prompt": f"image number {index}: a lighthouse", "size": "64x64"}) + "\n")
    return path


def stored_pairs(root: str) -> tuple[list[dict], list[str]]:
    """(every metadata in the store, every file that breaks a pair: image without metadata or the reverse)."""
    metadata, broken = [], []
    for raw in Path(root).glob("content/posts/*/sections/*/raw"):
        names = {p.name for p in raw.iterdir()}
        for name in names:
            if name.startswith("."):
                broken.append(str(raw / name))  # a temp file
            elif name.endswith("_metadata.json"):
                stem = name[: -len("_metadata.json")]
                if f"{stem}.png" not in names:
                    broken.append(str(raw / name))
                metadata.append(json.loads((raw / name).read_text()))
            elif f"{name.rsplit('.', 1)[0]}_metadata.json" not in names:
                broken.append(str(raw / name))
    return metadata, broken


def json_results(stdout: str) -> list[dict]:
    return [json.loads(line) for line in stdout.splitlines() if line.startswith("{")]


def test_sigint_during_a_batch_exits_130_and_a_rerun_completes_it(cli: Cli, fake_api, local_store_url, tmp_path):
    count = 16
    batch = write_batch(tmp_path / "batch.jsonl", count)
    fake_api.set_latency(0.4)
    args = ("batch", str(batch), "--store", local_store_url, "--jobs", "3", "--json")
    running = cli.start(*args)
    assert fake_api.wait_for_requests(6, timeout=60), "the batch never got going"
    running.interrupt()
    run = running.wait(timeout=30)
    assert run.code == 130, run
    assert "interrupted" in run.stdout + run.stderr
    assert "Traceback" not in run.stderr

    metadata, broken = stored_pairs(local_store_url)
    assert broken == []  # nothing partial
    assert 0 < len(metadata) < count
    assert pending_folders(cli.workdir / "recovery") == []
    first = {m["job_id"] for m in metadata}
    assert len(first) == len(metadata)  # no duplicates

    # Let abandoned requests settle at the server before counting the re-run's.
    deadline = time.monotonic() + 10
    while fake_api.in_flight and time.monotonic() < deadline:
        time.sleep(0.05)
    fake_api.set_latency(0.0)
    sent_before = len(fake_api.requests)
    run = cli.run(*args)
    assert run.code == 0, run
    states = [result["state"] for result in json_results(run.stdout)]
    assert sorted(states) == sorted(["skipped"] * len(first) + ["stored"] * (count - len(first)))
    assert len(fake_api.requests) - sent_before == count - len(first)  # only what was missing

    metadata, broken = stored_pairs(local_store_url)
    assert broken == []
    ids = [m["job_id"] for m in metadata]
    assert len(ids) == count and len(set(ids)) == count  # every entry stored, exactly once
    assert first <= set(ids)
    assert cli.run("doctor", "--store", local_store_url).code == 0
