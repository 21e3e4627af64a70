"""8. Many runners on one S3 store: separate ``blog-images batch`` processes, one batch file.

64 jobs, 0.5 s latency, ``--jobs 16``, moto S3 and the fake Images API each in
their own process. Parts:

* ``split``: 1, 2 and 4 runners started together: generations served (64 is
  the target: each job paid for once in all), images stored (64, once each),
  wall time against one runner.
* ``kill``: 3 runners; one (started first) is killed with SIGKILL mid-batch, once
  the server has had 24 requests. The others take over its claims after the
  lease (10 s here: on 2 shared cores a starting runner can stall for seconds)
  and finish; what it had in flight is the only thing paid twice (counted).
* ``skew``: 2 runners, one under libfaketime 5 minutes fast (real S3 refuses
  signatures more than 15 minutes off): nothing may change (no takeover, 64
  served).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.common import BENCH_KEY, Row, worker_main
from bench.servers import FakeAPIProcess, MotoProcess

N, JOBS, LATENCY, LEASE_S = 64, 16, 0.5, 10.0


def write_batch(folder: Path, tag: str) -> Path:
    path = folder / f"{tag}.jsonl"
    with path.open("w") as out:
        for i in range(N):
            out.write(json.dumps({"post_id": f"runners-{tag}", "section_id": i % 8 + 1, "model": "gpt-image-2",
                                  "prompt": f"runner bench {tag} {i}: a lighthouse at dawn", "size": "1024x1024"})
                      + "\n")
    return path


def start_runner(batch: Path, store: str, env: dict[str, str], index: int, skew: str | None = None):
    command = [sys.executable, "-m", "blog_images_tui", "batch", str(batch), "--store", store,
               "--jobs", str(JOBS), "--claims", "on", "--lease", str(LEASE_S), "--json"]
    if skew:
        command = ["faketime", "-f", skew] + command
    runner_env = dict(env, BLOG_IMAGES_RECOVERY_DIR=str(Path(env["BENCH_HOME"]) / f"recovery-{index}"))
    return subprocess.Popen(command, env=runner_env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)


def stored_counts(moto: MotoProcess, bucket: str, tag: str) -> tuple[int, int, int]:
    """(images, metadata files, claims left) in the bucket."""
    import boto3

    s3 = boto3.client("s3", endpoint_url=moto.endpoint_url, region_name="us-east-1")
    keys: list[str] = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix="blog/"):
        keys += [item["Key"] for item in page.get("Contents", [])]
    content = [k for k in keys if f"/runners-{tag}/" in k]
    metadata = [k for k in content if k.endswith("_metadata.json")]
    claims = [k for k in keys if "/.blog-images/claims/" in k]
    return len(content) - len(metadata), len(metadata), len(claims)


def run_runners(fake: FakeAPIProcess, moto: MotoProcess, env: dict[str, str], folder: Path, tag: str,
                runners: int, *, kill_after_requests: int | None = None, skew: str | None = None) -> dict[str, Any]:
    fake.reset()
    bucket = moto.new_bucket("runners")
    store = f"s3://{bucket}/blog"
    batch = write_batch(folder, tag)
    started = time.perf_counter()
    killed = None
    if kill_after_requests is None:
        procs = [start_runner(batch, store, env, i, skew=skew if i == runners - 1 else None) for i in range(runners)]
    else:
        # The doomed runner first, alone until it has claimed and sent requests; then the
        # others; it is killed (SIGKILL) once the server has had kill_after_requests in all.
        procs = [start_runner(batch, store, env, 0)]
        _wait_for_requests(fake, JOBS // 2)
        procs += [start_runner(batch, store, env, i) for i in range(1, runners)]
        _wait_for_requests(fake, kill_after_requests)
        killed = procs[0]
        os.killpg(killed.pid, signal.SIGKILL)
    outputs = []
    for proc in procs:
        out, err = proc.communicate(timeout=300)
        outputs.append((proc.returncode, out, err))
    wall = time.perf_counter() - started
    served = fake.stats()["requests"]
    images, metadata, claims = stored_counts(moto, bucket, tag)
    results = [json.loads(line) for code, out, _ in outputs for line in out.splitlines() if line.startswith("{")]
    recovered = sum(len(list((Path(env["BENCH_HOME"]) / f"recovery-{i}").glob("*"))) for i in range(runners)
                    if (Path(env["BENCH_HOME"]) / f"recovery-{i}").exists())
    return {"wall_s": wall, "served": served, "images": images, "metadata": metadata, "claims_left": claims,
            "exit_codes": [code for code, _, _ in outputs], "recovered": recovered,
            "states": _states(results), "killed": killed is not None,
            "takeovers": sum(err.count("took over claim") for _, _, err in outputs),
            "stderr_tail": [err.strip().splitlines()[-1:] for _, _, err in outputs if err.strip()]}


def _wait_for_requests(fake: FakeAPIProcess, count: int, timeout: float = 120) -> None:
    deadline = time.perf_counter() + timeout
    while fake.stats()["requests"] < count:
        if time.perf_counter() > deadline:
            raise RuntimeError(f"the server never got {count} requests")
        time.sleep(0.05)


def _states(results: list[dict]) -> dict[str, int]:
    states: dict[str, int] = {}
    for result in results:
        state = str(result.get("state") or result.get("status") or "?")
        states[state] = states.get(state, 0) + 1
    return states


def run(cfg: dict[str, Any]) -> list[Row]:
    part = cfg["part"] or "split"
    home = Path(tempfile.mkdtemp(prefix="bench-runners-"))
    rows: list[Row] = []
    moto = MotoProcess()
    try:
        with FakeAPIProcess(latency=LATENCY) as fake:
            env = dict(os.environ, OPENAI_AUTH_TOKEN=BENCH_KEY, OPENAI_BASE_URL=fake.base_url,
                       AWS_ENDPOINT_URL_S3=moto.endpoint_url, BENCH_HOME=str(home),
                       PYTHONPATH=os.pathsep.join(filter(None, [str(Path(__file__).resolve().parent.parent),
                                                                os.environ.get("PYTHONPATH")])))
            if part == "split":
                one = None
                for runners in (1, 2, 4):
                    got = run_runners(fake, moto, env, home, f"split{runners}", runners)
                    one = one or got["wall_s"]
                    ok = got["served"] == N and got["metadata"] == N and got["images"] == N
                    rows.append(Row("8 runners", f"{runners} runner process(es), {N} jobs, --jobs {JOBS}, one S3 store",
                                    got["wall_s"], "s", reference=f"1 runner {one:.2f} s", ratio=got["wall_s"] / one,
                                    target=f"served = {N}, stored once", ok=ok,
                                    note=f"{got['served']} generations served, {got['images']} images + "
                                         f"{got['metadata']} metadata stored, {got['claims_left']} claims left, "
                                         f"{got['takeovers']} takeovers; "
                                         f"exit codes {got['exit_codes']}", extra=got))
            elif part == "kill":
                got = run_runners(fake, moto, env, home, "kill", 3, kill_after_requests=JOBS + JOBS // 2)
                paid_twice = got["served"] - N
                # Complete pairs (metadata) count: an image the dead runner wrote without its
                # metadata stays behind for doctor to report, and that job is done again.
                ok = got["metadata"] == N and got["exit_codes"][1:] == [0] * 2
                rows.append(Row("8 runners", f"3 runners, one SIGKILLed mid-batch, lease {LEASE_S:g} s",
                                got["wall_s"], "s", target=f"all {N} stored once; only the dead runner's sent and "
                                                          "unstored jobs paid twice", ok=ok,
                                note=f"{got['served']} served: {paid_twice} paid twice (what the killed runner had "
                                     f"sent and not stored: in flight, or answered and being stored); "
                                     f"{got['images']} images + {got['metadata']} metadata stored, "
                                     f"{got['recovered']} kept for recovery, {got['takeovers']} claims taken over; "
                                     f"exit codes {got['exit_codes']}",
                                extra=got))
            elif part == "skew":
                if shutil.which("faketime") is None:
                    raise SystemExit("the skew part needs libfaketime (apt-get install faketime)")
                got = run_runners(fake, moto, env, home, "skew", 2, skew="+5m")
                ok = got["served"] == N and got["metadata"] == N
                rows.append(Row("8 runners", "2 runners, one with its clock 5 minutes fast (libfaketime)",
                                got["wall_s"], "s", target=f"served = {N}, no takeover", ok=ok,
                                note=f"{got['served']} served, {got['metadata']} stored; exit codes "
                                     f"{got['exit_codes']}", extra=got))
            else:
                raise SystemExit(f"unknown part {part!r}")
    finally:
        moto.stop()
        shutil.rmtree(home, ignore_errors=True)
    return rows


if __name__ == "__main__":
    worker_main(run)
