"""Issue 10: answers from the Images API that bend the protocol, and the key in any spelling.

Items 1 (a stream asked for, one JSON body answered, and the reverse), 7
(retry only what cannot have been billed; --timeout bounds the whole answer),
8 (line-wrapped base64, another format than asked), 10 (the whole image is
verified; a damaged one is kept, never stored as good) and 12 (a malformed
key is exit 3 before any request; redaction covers transformed spellings).
The real openai SDK talks to the fake Images API over HTTP on 127.0.0.1.
"""

from __future__ import annotations

import asyncio
import base64
import json
from pathlib import Path

import pytest

from blog_images_tui.errors import TemporaryFailure
from blog_images_tui.generation import ClientSettings, ImageGenerator, ImageRequest
from blog_images_tui.ids import SectionRef
from blog_images_tui.imageformat import NotAnImage, check_image
from blog_images_tui.recovery import finish_recovery, list_pending
from blog_images_tui.secrets import ApiKey
from blog_images_tui.service import generate_into_store
from blog_images_tui.storage import open_store
from blog_images_tui.testing.fake_images_api import Reply, make_image, make_png
from tests.support import TEST_KEY
from tests.support.faults import Cli, generate_args, pending_folders, raw_files

pytestmark = pytest.mark.usefixtures("api_env")

RAW = "content/posts/1/sections/2/raw"
SECTION = SectionRef(1, 2)


def run_in_process(fake_api, store_url: str, *, partial_images: int = 0, timeout_s: float = 30,
                   max_retries: int = 2, output_format: str = "png", filename: str = "hero"):
    partials: list[int] = []
    settings = ClientSettings(api_key=ApiKey(TEST_KEY, "test"), base_url=fake_api.base_url, timeout_s=timeout_s,
                              max_retries=max_retries)
    request = ImageRequest(prompt="a lighthouse", section=SECTION, filename=filename, size="64x64",
                           partial_images=partial_images, output_format=output_format)

    async def on_partial(index: int, data: bytes) -> None:
        partials.append(index)

    async def go():
        async with ImageGenerator(settings) as generator:
            return await generate_into_store(request, open_store(store_url), generator,
                                             on_partial=on_partial if partial_images else None)

    return asyncio.run(go()), partials


# ------------------------------------------------------------------ 1. stream asked, JSON answered (and back)


def test_a_stream_answered_with_one_json_body_is_stored(fake_api, local_store_url):
    fake_api.enqueue(Reply.plain_json())
    stored, partials = run_in_process(fake_api, local_store_url, partial_images=2)
    assert fake_api.requests[0].body.get("stream") is True  # a stream was asked for
    assert partials == []  # none came: the one JSON body is the answer
    assert raw_files(local_store_url) == ["hero.png", "hero_metadata.json"]
    check_image(Path(stored.image_path).read_bytes())
    assert len(fake_api.requests) == 1


def test_a_plain_request_answered_with_a_stream_is_stored(fake_api, local_store_url):
    fake_api.enqueue(Reply.stream_anyway())
    stored, _ = run_in_process(fake_api, local_store_url)
    assert "stream" not in fake_api.requests[0].body
    check_image(Path(stored.image_path).read_bytes())
    assert len(fake_api.requests) == 1


def test_a_stream_still_delivers_previews(fake_api, local_store_url):
    stored, partials = run_in_process(fake_api, local_store_url, partial_images=2)
    assert partials == [0, 1]
    check_image(Path(stored.image_path).read_bytes())


def test_cli_stream_request_behind_a_proxy_that_ignores_stream(cli: Cli, fake_api, local_store_url):
    # The TUI always streams; the CLI path shares the reader: either answer to either request.
    fake_api.enqueue(Reply.plain_json(), Reply.stream_anyway())
    for name in ("one", "two"):
        run = cli.run(*generate_args(local_store_url, extra=("--filename", name)))
        assert run.code == 0, run
    assert raw_files(local_store_url) == ["one.png", "one_metadata.json", "two.png", "two_metadata.json"]


# ------------------------------------------------------------------ 7. retries that could pay twice


@pytest.mark.parametrize("status", [502, 504])
def test_gateway_errors_may_have_been_billed_and_are_not_retried(cli: Cli, fake_api, local_store_url, status):
    fake_api.enqueue(Reply.server_error(status), Reply.ok(), Reply.ok())
    run = cli.run(*generate_args(local_store_url))
    assert run.code == 5, run
    assert len(fake_api.requests) == 1
    assert f"HTTP {status}" in run.stderr and "may have been billed" in run.stderr
    assert raw_files(local_store_url) == []


@pytest.mark.parametrize("status", [500, 503])
def test_500_and_503_are_retried(cli: Cli, fake_api, local_store_url, status):
    fake_api.enqueue(Reply.server_error(status), Reply.ok())
    run = cli.run(*generate_args(local_store_url, extra=("--filename", "hero")))
    assert run.code == 0, run
    assert len(fake_api.requests) == 2


def test_a_read_timeout_is_not_retried(fake_api, local_store_url):
    fake_api.enqueue(Reply.hang(60), Reply.ok())
    with pytest.raises(TemporaryFailure, match="may have been billed") as caught:
        run_in_process(fake_api, local_store_url, timeout_s=1)
    assert caught.value.retryable is False
    assert len(fake_api.requests) == 1


def test_a_connection_that_never_reached_the_server_is_retryable(local_store_url):
    import socket

    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    settings = ClientSettings(api_key=ApiKey(TEST_KEY, "test"), base_url=f"http://127.0.0.1:{port}/v1",
                              timeout_s=5, max_retries=0)
    request = ImageRequest(prompt="x", section=SECTION, size="64x64").validated()

    async def go():
        async with ImageGenerator(settings) as generator:
            return await generator.generate(request)

    with pytest.raises(TemporaryFailure, match="could not reach") as caught:
        asyncio.run(go())
    assert caught.value.retryable is True  # nothing was sent: asking again cannot pay twice


def test_timeout_bounds_a_body_trickled_byte_by_byte(cli: Cli, fake_api, local_store_url):
    # Each piece arrives well within the SDK's per-read timeout; the whole takes 30 s.
    fake_api.enqueue(Reply.trickle(seconds=30, pieces=300), Reply.ok())
    run = cli.run(*generate_args(local_store_url, extra=("--timeout", "2")), timeout=60)
    assert run.code == 5, run
    assert run.elapsed < 15, run
    assert "may have been billed" in run.stderr
    assert len(fake_api.requests) == 1
    assert raw_files(local_store_url) == []


# ------------------------------------------------------------------ 8. paid images dropped for their form


def test_line_wrapped_base64_is_accepted(fake_api, local_store_url):
    fake_api.enqueue(Reply.wrapped_b64(76))
    stored, _ = run_in_process(fake_api, local_store_url)
    check_image(Path(stored.image_path).read_bytes())
    assert len(fake_api.requests) == 1


def test_another_format_than_asked_is_stored_as_what_it_came_in(fake_api, local_store_url):
    fake_api.enqueue(Reply.wrong_format("webp"))
    stored, _ = run_in_process(fake_api, local_store_url, output_format="png")
    assert raw_files(local_store_url) == ["hero.webp", "hero_metadata.json"]
    assert stored.metadata["output_format"] == "webp" and stored.metadata["requested_format"] == "png"
    assert check_image(Path(stored.image_path).read_bytes()).format == "webp"


# ------------------------------------------------------------------ 10. the whole image is verified


def test_check_image_finds_damage_anywhere_in_a_png():
    good = make_png(64, 64, noise=True)
    check_image(good)
    middle = len(good) // 2
    for damaged in (good[:middle] + bytes(32) + good[middle + 32:],  # zeros inside IDAT
                    good[:middle] + b"garbage!" + good[middle + 8:],
                    good[:40] + good[41:]):  # one byte gone
        with pytest.raises(NotAnImage):
            check_image(damaged)


@pytest.mark.parametrize("fmt", ["jpeg", "webp"])
def test_check_image_decodes_jpeg_and_webp(fmt):
    good = make_image(64, 64, fmt)
    assert check_image(good).format == fmt
    with pytest.raises(NotAnImage):
        check_image(good[: len(good) * 2 // 3])


def test_a_damaged_png_is_kept_never_stored_and_recover_refuses_it(cli: Cli, fake_api, local_store_url):
    fake_api.enqueue(Reply.damaged_png())
    run = cli.run(*generate_args(local_store_url, extra=("--filename", "hero")))
    assert run.code == 7, run
    assert "does not verify" in run.stderr and "CRC" in run.stderr
    assert raw_files(local_store_url) == []  # never stored as good
    [kept] = pending_folders(cli.workdir / "recovery")
    note = json.loads((kept / "target.json").read_text())
    assert "CRC" in note["problem"]
    [pending] = [item for item in list_pending(cli.workdir / "recovery")]
    with pytest.raises(Exception, match="did not verify"):
        finish_recovery(pending, open_store(local_store_url))
    assert kept.is_dir() and raw_files(local_store_url) == []  # the paid copy stays where it is
    run = cli.run("recover")
    assert run.code == 6 and "did not verify" in run.stdout, run
    assert kept.is_dir()


# ------------------------------------------------------------------ 12. the key, malformed or transformed


@pytest.mark.parametrize("bad_key", [TEST_KEY[:10] + "\n" + TEST_KEY[10:], TEST_KEY + " extra", "sk-ключ-0123456789"])
def test_a_malformed_key_is_exit_3_before_any_request(cli: Cli, fake_api, local_store_url, monkeypatch, bad_key):
    monkeypatch.setenv("OPENAI_AUTH_TOKEN", bad_key)
    cli.secrets += [part for part in bad_key.split() if len(part) >= 8]
    run = cli.run(*generate_args(local_store_url))
    assert run.code == 3, run
    assert "OPENAI_AUTH_TOKEN" in run.stderr
    assert fake_api.requests == []
    for part in bad_key.split():
        assert part not in run.output and part not in run.log


@pytest.mark.parametrize("transform", ["base64", "upper", "no_prefix"])
def test_a_key_echoed_back_transformed_is_redacted(cli: Cli, fake_api, local_store_url, transform):
    shown = {"base64": base64.b64encode(TEST_KEY.encode()).decode(), "upper": TEST_KEY.upper(),
             "no_prefix": TEST_KEY.split("-", 1)[1]}[transform]
    cli.secrets.append(shown)  # checked everywhere after the run: output, log, files
    fake_api.enqueue(Reply.echo_key(transform))
    run = cli.run(*generate_args(local_store_url))
    assert run.code == 4, run
    assert "[REDACTED]" in run.stderr
