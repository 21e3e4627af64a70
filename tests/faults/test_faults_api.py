"""API-side faults, injected by the fake Images API and met by the real CLI.

Each case runs ``blog-images generate`` in a subprocess (known key, ``-vv``,
``--log-file``; the harness checks the key leaks nowhere) and asserts the exit
code, the message, how many requests reached the server and what is in the
store afterwards: one image and its metadata, or nothing at all.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from blog_images_tui.errors import TemporaryFailure
from blog_images_tui.generation import ClientSettings, ImageGenerator, ImageRequest, download_image
from blog_images_tui.ids import SectionRef
from blog_images_tui.secrets import ApiKey
from blog_images_tui.testing.fake_images_api import Reply
from tests.support import TEST_KEY
from tests.support.faults import Cli, generate_args, pending_folders, raw_files, tree

RAW = "content/posts/1/sections/2/raw"

pytestmark = pytest.mark.usefixtures("api_env")


def stored_pair(root: str) -> tuple[str, dict]:
    """The one image and its metadata in post 1 / section 2; fails unless exactly that pair is there."""
    names = raw_files(root)
    assert len(names) == 2, names
    image = next(name for name in names if not name.endswith("_metadata.json"))
    metadata = json.loads((Path(root) / "content/posts/1/sections/2/raw" / names[1 - names.index(image)]).read_text())
    return image, metadata


def assert_nothing_written(root: str) -> None:
    """No image, no metadata, no temp file: only the folders the write check made."""
    assert [entry for entry in tree(root) if not entry.endswith("/")] == []


# ---------------------------------------------------------------------------------- retries


def test_429_with_retry_after_1_waits_retries_and_stores_once(cli: Cli, fake_api, local_store_url):
    fake_api.enqueue(Reply.rate_limited(1))
    run = cli.run(*generate_args(local_store_url))
    assert run.code == 0, run
    assert len(fake_api.requests) == 2
    waited = fake_api.requests[1].received_at - fake_api.requests[0].received_at
    assert waited >= 0.9, f"Retry-After 1 was not honoured (retried after {waited:.2f} s)"
    image, metadata = stored_pair(local_store_url)
    assert metadata["image_path"].endswith(image)


def test_429_with_retry_after_300_is_not_retried(cli: Cli, fake_api, local_store_url):
    fake_api.enqueue(Reply.rate_limited(300), Reply.ok())
    run = cli.run(*generate_args(local_store_url))
    assert run.code == 5, run
    assert len(fake_api.requests) == 1
    assert run.elapsed < 30
    assert "rate limited" in run.stderr and "300" in run.stderr and "not retried" in run.stderr
    assert_nothing_written(local_store_url)


def test_500_then_200_retries_once_and_stores_one_image(cli: Cli, fake_api, local_store_url):
    fake_api.enqueue(Reply.server_error(500), Reply.ok())
    run = cli.run(*generate_args(local_store_url))
    assert run.code == 0, run
    assert len(fake_api.requests) == 2
    stored_pair(local_store_url)


def test_500_every_time_gives_up_after_bounded_attempts(cli: Cli, fake_api, local_store_url):
    fake_api.enqueue(*[Reply.server_error(500)] * 10)
    run = cli.run(*generate_args(local_store_url))
    assert run.code == 5, run
    assert len(fake_api.requests) == 3  # the first try and --max-retries 2
    assert "HTTP 500" in run.stderr and "after 3 attempts" in run.stderr
    assert_nothing_written(local_store_url)


def test_max_retries_zero_means_one_attempt(cli: Cli, fake_api, local_store_url):
    fake_api.enqueue(*[Reply.server_error(503)] * 3)
    run = cli.run(*generate_args(local_store_url, extra=("--max-retries", "0")))
    assert run.code == 5, run
    assert len(fake_api.requests) == 1
    assert_nothing_written(local_store_url)


@pytest.mark.parametrize("reply", [
    Reply.error(500, type="server_error", headers={"x-should-retry": "false"}),
    Reply.error(429, code="rate_limit_exceeded", headers={"x-should-retry": "false", "Retry-After": "0"}),
], ids=["500", "429"])
def test_x_should_retry_false_is_not_retried(cli: Cli, fake_api, local_store_url, reply):
    fake_api.enqueue(reply, Reply.ok())
    run = cli.run(*generate_args(local_store_url))
    assert run.code == 5, run
    assert len(fake_api.requests) == 1
    assert fake_api.pending_replies == 1
    assert_nothing_written(local_store_url)


# ---------------------------------------------------------------------------------- refusals

WRONG_KEY = "wrong-key-Zq8Xv7Lm3Np2Rt6Y"  # not shaped like sk-...: only registration can redact it


@pytest.mark.parametrize("wrong_key", [WRONG_KEY, "sk-proj-WRONGkey0123456789abcdefXYZ"], ids=["plain", "sk-shaped"])
def test_401_exits_3_without_echoing_the_key(cli: Cli, fake_api, local_store_url, monkeypatch, wrong_key):
    # The fake server answers like OpenAI: "Incorrect API key provided: <the key>".
    monkeypatch.setenv("OPENAI_AUTH_TOKEN", wrong_key)
    cli.secrets.append(wrong_key)
    run = cli.run(*generate_args(local_store_url))
    assert run.code == 3, run
    assert len(fake_api.requests) == 1
    assert "authentication failed" in run.stderr and "Incorrect API key provided" in run.stderr
    assert "[REDACTED]" in run.stderr
    assert "OPENAI_AUTH_TOKEN" in run.stderr  # the hint says where the key comes from
    assert_nothing_written(local_store_url)


def test_403_organization_not_verified_exits_3_with_the_hint(cli: Cli, fake_api, local_store_url):
    fake_api.enqueue(Reply.error(403, type="invalid_request_error"))
    run = cli.run(*generate_args(local_store_url))
    assert run.code == 3, run
    assert len(fake_api.requests) == 1
    assert "permission denied" in run.stderr and "verify your organization" in run.stderr
    assert_nothing_written(local_store_url)


@pytest.mark.parametrize("code", ["content_policy_violation", "moderation_blocked"])
def test_400_content_policy_exits_4(cli: Cli, fake_api, local_store_url, code):
    fake_api.enqueue(Reply.error(400, code=code))
    run = cli.run(*generate_args(local_store_url))
    assert run.code == 4, run
    assert len(fake_api.requests) == 1
    assert "content policy" in run.stderr
    assert_nothing_written(local_store_url)


# ---------------------------------------------------------------------------------- the network


def test_a_response_that_never_comes_is_ended_by_the_timeout(cli: Cli, fake_api, local_store_url):
    fake_api.enqueue(Reply.hang(120), Reply.hang(120), Reply.ok())
    run = cli.run(*generate_args(local_store_url, extra=("--timeout", "1", "--max-retries", "1")))
    assert run.code == 5, run
    # The request was sent: the server may be generating (and billing) it. Never asked again (issue 10).
    assert len(fake_api.requests) == 1
    assert run.elapsed < 20
    assert "did not answer in time" in run.stderr and "may have been billed" in run.stderr
    assert_nothing_written(local_store_url)


@pytest.mark.parametrize("fault", [Reply.reset_mid_body, Reply.reset], ids=["mid-body", "before-answer"])
def test_connection_reset_after_the_request_was_sent_is_not_retried(cli: Cli, fake_api, local_store_url, fault):
    fake_api.enqueue(*[fault() for _ in range(5)])
    run = cli.run(*generate_args(local_store_url))
    assert run.code == 5, run
    assert len(fake_api.requests) == 1  # it may have been billed: not repeated (issue 10, item 7)
    assert "may have been billed" in run.stderr
    assert_nothing_written(local_store_url)


# ---------------------------------------------------------------------------------- bad payloads


@pytest.mark.parametrize("reply, message", [
    (Reply.truncated_b64(), "truncated"),
    (Reply.invalid_b64(), "not valid base64"),
    (Reply.not_image(), "not a PNG, JPEG or WebP"),
], ids=["truncated-b64", "invalid-b64", "not-an-image"])
def test_bad_payloads_are_kept_never_stored_as_good(cli: Cli, fake_api, local_store_url, reply, message):
    fake_api.enqueue(reply, Reply.ok())
    run = cli.run(*generate_args(local_store_url))
    assert run.code == 7, run  # paid for: kept for recovery with its reason (issue 10, items 8 and 10)
    assert message in run.stderr and "does not verify" in run.stderr
    # A 200 was paid for: asking again could pay twice, so it is not retried.
    assert len(fake_api.requests) == 1
    assert_nothing_written(local_store_url)
    [kept] = pending_folders(cli.workdir / "recovery")
    assert json.loads((kept / "target.json").read_text())["problem"]


@pytest.mark.parametrize("asked, actual, extension", [("png", "jpeg", "jpg"), ("jpeg", "png", "png")])
def test_another_format_than_asked_is_stored_as_what_it_is(cli: Cli, fake_api, local_store_url, asked, actual,
                                                           extension):
    fake_api.enqueue(Reply.wrong_format(actual))
    run = cli.run(*generate_args(local_store_url, extra=("--format", asked, "--filename", "hero")))
    assert run.code == 0, run
    assert raw_files(local_store_url) == [f"hero.{extension}", "hero_metadata.json"]
    metadata = json.loads((Path(local_store_url) / RAW / "hero_metadata.json").read_text())
    assert (metadata["output_format"], metadata["requested_format"]) == (actual, asked)


def _generate_in_process(fake_api, root: str, max_image_bytes: int):
    """The real generator and the real store, with a small size cap (the CLI's is 64 MiB)."""
    from blog_images_tui.service import generate_into_store
    from blog_images_tui.storage import open_store

    settings = ClientSettings(api_key=ApiKey(TEST_KEY, "test"), base_url=fake_api.base_url, max_retries=2,
                              max_image_bytes=max_image_bytes)
    request = ImageRequest(prompt="big", section=SectionRef(1, 2), size="64x64")

    async def go():
        async with ImageGenerator(settings) as generator:
            return await generate_into_store(request, open_store(root), generator)

    return asyncio.run(go())


def test_a_body_over_the_size_cap_is_refused_before_any_write(debug_log, fake_api, local_store_url):
    fake_api.enqueue(Reply.oversized(3 * 2**20), Reply.ok())
    with pytest.raises(TemporaryFailure, match="over the 1 MiB cap") as caught:
        _generate_in_process(fake_api, local_store_url, max_image_bytes=2**20)
    assert caught.value.exit_code == 5
    assert len(fake_api.requests) == 1
    assert_nothing_written(local_store_url)


def test_an_image_just_under_the_cap_is_stored(debug_log, fake_api, local_store_url):
    stored = _generate_in_process(fake_api, local_store_url, max_image_bytes=2**20)
    assert Path(stored.image_path).is_file()


# ---------------------------------------------------------------------------------- url answers


def test_url_answer_is_downloaded_and_stored(cli: Cli, fake_api, local_store_url):
    fake_api.enqueue(Reply.url())
    run = cli.run(*generate_args(local_store_url))
    assert run.code == 0, run
    assert len(fake_api.file_requests) == 1
    stored_pair(local_store_url)


def test_expired_url_gives_a_clear_error(cli: Cli, fake_api, local_store_url):
    fake_api.enqueue(Reply.url(expired=True))
    run = cli.run(*generate_args(local_store_url))
    assert run.code == 4, run
    assert "HTTP 403" in run.stderr and "expired" in run.stderr
    assert len(fake_api.requests) == 1 and len(fake_api.file_requests) == 1
    assert_nothing_written(local_store_url)


@pytest.mark.parametrize("url, message", [
    ("http://images.example.com/img.png", "https only"),
    ("ftp://images.example.com/img.png", "https only"),
    ("file:///etc/passwd", "https only"),
    ("https://169.254.169.254/latest/meta-data/iam/security-credentials/", "private address"),
    ("https://[::ffff:169.254.169.254]/latest/meta-data/", "private address"),
    ("https://127.0.0.2/img.png", "private address"),
    ("https://100.64.0.1/img.png", "private address"),
    ("https://10.0.0.7/img.png", "private address"),
    ("https://0.0.0.0/img.png", "private address"),
    # The same addresses spelled the ways inet_aton (and so getaddrinfo) still accepts.
    ("https://2852039166/latest/meta-data/", "private address"),
    ("https://0xA9FEA9FE/latest/meta-data/", "private address"),
    ("https://169.254.43518/latest/meta-data/", "private address"),
    ("https://0x7f.1/img.png", "private address"),
    ("https://localhost/img.png", "private address"),
    ("https://metadata.localhost./img.png", "private address"),
], ids=lambda value: value if "://" not in value else value.split("://")[0] + "-" + value.split("/")[2])
def test_url_answers_pointing_at_plain_http_or_private_hosts_are_refused(cli: Cli, fake_api, local_store_url,
                                                                          url, message):
    fake_api.enqueue(Reply.url(scheme_http_absolute=url))
    run = cli.run(*generate_args(local_store_url))
    assert run.code == 5, run
    assert "refusing to download" in run.stderr and message in run.stderr
    assert fake_api.file_requests == []
    assert_nothing_written(local_store_url)


@pytest.mark.parametrize("target", [
    "http://169.254.169.254/latest/meta-data/",
    "https://169.254.169.254/latest/meta-data/",
    "http://localhost:{port}/files/elsewhere.png",
    "https://images.example.com/img.png",
], ids=["metadata-http", "metadata-https", "localhost", "other-host"])
def test_url_redirects_to_another_host_are_refused(cli: Cli, fake_api, local_store_url, target):
    fake_api.enqueue(Reply.url(redirect_to=target.format(port=fake_api.port)))
    run = cli.run(*generate_args(local_store_url))
    assert run.code == 5, run
    assert "refusing a redirect" in run.stderr
    assert len(fake_api.file_requests) == 1  # the redirect itself, never its target
    assert_nothing_written(local_store_url)


def test_truncated_download_is_refused(cli: Cli, fake_api, local_store_url):
    fake_api.enqueue(Reply.url(truncate=True))
    run = cli.run(*generate_args(local_store_url))
    assert run.code == 5, run
    assert "download failed" in run.stderr or "truncated" in run.stderr
    assert_nothing_written(local_store_url)


def test_download_over_the_size_cap_is_refused(debug_log, fake_api):
    fake_api.enqueue(Reply.url())
    from blog_images_tui.testing.fake_images_api import make_png

    # Put a 200 KB image on the fake's /files and fetch it with a 100 KB cap.
    big = make_png(256, 256, noise=True)
    fake_api.image_bytes_factory = lambda w, h, fmt: big
    import openai

    client = openai.OpenAI(api_key=TEST_KEY, base_url=fake_api.base_url, max_retries=0)
    url = client.images.generate(model="gpt-image-2", prompt="x", size="256x256").data[0].url
    with pytest.raises(TemporaryFailure, match="over the 0 MiB cap|over the"):
        asyncio.run(download_image(url, base_url=fake_api.base_url, max_bytes=100_000, timeout_s=5))
