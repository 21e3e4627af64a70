"""3. Browse scaling on S3 (moto): a store of ~240 objects and one of ~24,000.

Both stores have the same shape (posts x 3 sections x 10 images, each image a
PNG and its metadata JSON), so the section that is opened holds the same 20
objects in both. Through ``blog_images_tui.storage.Store``:

* list posts (``Store.list_posts``: one delimited LIST of ``content/posts/``),
* open one section (``Store.list_images``: one delimited LIST of its ``raw/``).

Beside each, the S3 requests the tool sent (counted on s3fs's call hook) and
the same single LIST sent with plain boto3 (``server floor``): moto answers a
LIST by scanning every key of the bucket, so its own cost grows with the
bucket, which real S3 (an index by prefix) does not.
"""

from __future__ import annotations

import os
import statistics
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from typing import Any

from bench.common import IMAGES_PER_SECTION, SECTIONS_PER_POST, Row, check, worker_main
from bench.servers import MotoProcess

TARGET = 1.5
PREFIX = "blog"


def store_keys(posts: int) -> list[str]:
    keys = []
    for post in range(1, posts + 1):
        for section in range(1, SECTIONS_PER_POST + 1):
            raw = f"{PREFIX}/content/posts/{post}/sections/{section}/raw"
            for image in range(IMAGES_PER_SECTION):
                name = f"20261124T0000{image:02d}Z-{post:04d}{section}{image:02d}"
                keys += [f"{raw}/{name}.png", f"{raw}/{name}_metadata.json"]
    return keys


def put_over_http(moto: MotoProcess, bucket: str, keys: list[str]) -> float:
    """PUT every key through boto3 (8 threads); seconds taken."""
    import boto3

    client = boto3.client("s3", endpoint_url=moto.endpoint_url, region_name="us-east-1")
    started = time.perf_counter()
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda key: client.put_object(Bucket=bucket, Key=key, Body=b"x"), keys))
    return time.perf_counter() - started


def counting(fs) -> dict[str, int]:
    """Count the S3 calls s3fs makes on this filesystem instance (bench instrumentation only)."""
    from blog_images_tui.testing.s3_requests import count_s3_requests

    return count_s3_requests(fs)


def measure(fn, repeats: int) -> tuple[float, float]:
    """(median, min) seconds over ``repeats`` calls, after one untimed call."""
    fn()
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return statistics.median(times), min(times)


def browse_store(moto: MotoProcess, bucket: str, posts: int, repeats: int) -> dict[str, Any]:
    import boto3

    from blog_images_tui.ids import SectionRef
    from blog_images_tui.storage import open_store

    store = open_store(f"s3://{bucket}/{PREFIX}", **moto.store_options())
    counts = counting(store.fs)
    section = SectionRef(max(1, posts // 2), 2)
    found_posts = store.list_posts()
    found_images = store.list_images(section)
    assert len(found_posts) == posts, (len(found_posts), posts)
    assert len(found_images) == IMAGES_PER_SECTION and all(i.has_metadata for i in found_images)
    counts.clear()
    store.list_posts()
    posts_calls = dict(counts)
    counts.clear()
    store.list_images(section)
    section_calls = dict(counts)
    client = boto3.client("s3", endpoint_url=moto.endpoint_url, region_name="us-east-1")
    raw_prefix = f"{PREFIX}/content/posts/{section.post_id}/sections/{section.section_id}/raw/"
    return {
        "list_posts": measure(store.list_posts, repeats),
        "open_section": measure(partial(store.list_images, section), repeats),
        "floor_posts": measure(lambda: client.list_objects_v2(Bucket=bucket, Prefix=f"{PREFIX}/content/posts/",
                                                              Delimiter="/"), repeats),
        "floor_section": measure(lambda: client.list_objects_v2(Bucket=bucket, Prefix=raw_prefix, Delimiter="/"),
                                 repeats),
        "posts_calls": posts_calls,
        "section_calls": section_calls,
    }


def local_rows(cfg: dict[str, Any], repeats: int) -> list[Row]:
    """The same two stores on local disk, where a folder is listed without reading the others."""
    from blog_images_tui.ids import SectionRef
    from blog_images_tui.storage import open_store

    best = {}
    for label in ("small", "big"):
        posts = cfg[f"browse_{label}_posts"]
        root = tempfile.mkdtemp(prefix=f"bench-browse-{label}-")
        started = time.perf_counter()
        keys = store_keys(posts)
        for folder in sorted({key.rsplit("/", 1)[0] for key in keys}):
            os.makedirs(os.path.join(root, folder), exist_ok=True)
        for key in keys:
            with open(os.path.join(root, key), "wb") as f:
                f.write(b"x")
        setup_s = time.perf_counter() - started
        store = open_store(os.path.join(root, PREFIX))
        section = SectionRef(max(1, posts // 2), 2)
        best[label] = (len(keys), setup_s, measure(partial(store.list_images, section), repeats)[1],
                       measure(store.list_posts, repeats)[1])
    (n_small, _, small_section, small_posts), (n_big, setup_big, big_section, big_posts) = best["small"], best["big"]
    return [Row("3 browse", f"local disk, open one section: {n_big:,} vs {n_small:,} files (best times)",
                big_section / small_section, "x",
                note=f"{small_section * 1000:.2f} -> {big_section * 1000:.2f} ms; list posts "
                     f"{small_posts * 1000:.2f} -> {big_posts * 1000:.2f} ms; {n_big:,} files written in "
                     f"{setup_big:.1f} s. A file system lists one folder at a time, as real S3 lists by prefix")]


def run(cfg: dict[str, Any]) -> list[Row]:
    repeats = cfg["browse_repeats"]
    rows: list[Row] = []
    results: dict[str, dict[str, Any]] = {}
    with MotoProcess() as moto:
        stores = {"small": cfg["browse_small_posts"], "big": cfg["browse_big_posts"]}
        setup: dict[str, str] = {}
        buckets = {}
        for label, posts in stores.items():
            keys = store_keys(posts)
            bucket = buckets[label] = moto.new_bucket(f"browse-{label}")
            started = time.perf_counter()
            if label == "small":
                seconds = put_over_http(moto, bucket, keys)
                how = "boto3 PUTs over HTTP, 8 threads"
            else:
                seconds = moto.inject(bucket, keys)
                how = "put straight into moto's backend"
            setup[label] = (f"{len(keys):,} objects in {time.perf_counter() - started:.1f} s "
                            f"({how}; {len(keys) / max(seconds, 1e-9):,.0f} objects/s)")
            results[label] = browse_store(moto, bucket, posts, repeats)
            results[label]["objects"] = len(keys)
    small, big = results["small"], results["big"]
    n_small, n_big = small["objects"], big["objects"]
    for key, what in (("list_posts", "list posts"), ("open_section", "open one section (list_images)")):
        calls_key = "posts_calls" if key == "list_posts" else "section_calls"
        for result in (small, big):
            med, best = result[key]
            calls = ", ".join(f"{n} {name}" for name, n in result[calls_key].items()) or "none"
            rows.append(Row("3 browse", f"{what}, {result['objects']:,} objects", med * 1000, "ms",
                            note=f"median of {repeats}, min {best * 1000:.1f} ms; S3 calls: {calls}"))
        # Ratios of the best times: on a shared machine the minimum is the steadier estimate.
        ratio = big[key][1] / small[key][1]
        floor_key = "floor_posts" if key == "list_posts" else "floor_section"
        floor_ratio = big[floor_key][1] / small[floor_key][1]
        target = f"<= {TARGET}" if key == "open_section" else ""
        own = [(result[key][1] - result[floor_key][1]) * 1000 for result in (small, big)]
        rows.append(Row("3 browse", f"{what}: {n_big:,} vs {n_small:,} objects (best times)", ratio, "x",
                        reference=f"moto floor x{floor_ratio:.2f}", ratio=ratio, target=target,
                        ok=check(ratio, TARGET) if target else None,
                        note=(f"the same single LIST sent with bare boto3 (moto's own cost, a scan of every key "
                              f"in the bucket): {small[floor_key][1] * 1000:.1f} -> {big[floor_key][1] * 1000:.1f} "
                              f"ms; the tool's time above it: {own[0]:+.1f} -> {own[1]:+.1f} ms")))
    for label in ("small", "big"):
        rows.append(Row("3 browse", f"set-up of the {label} S3 store", None, "", note=setup[label]))
    return rows + local_rows(cfg, repeats)


if __name__ == "__main__":
    worker_main(run)
