"""Tests for the fake OpenAI Images API, driven by the real openai SDK (no mocks)."""

from __future__ import annotations

import asyncio
import base64
import binascii
import http.client
import io
import json
import struct
import subprocess
import sys
import threading
import time
import zlib

import openai
import pytest
from PIL import Image

from blog_images_tui.testing.fake_images_api import (
    FakeImagesAPI,
    RecordedRequest,
    Reply,
    make_image,
    make_png,
    png_size,
)
from tests.support import wait_until


@pytest.fixture
def fake():
    with FakeImagesAPI() as server:
        yield server


def sync_client(fake: FakeImagesAPI, **kw) -> openai.OpenAI:
    kw.setdefault("max_retries", 0)
    return openai.OpenAI(api_key=kw.pop("api_key", "sk-test"), base_url=fake.base_url, **kw)


def async_client(fake: FakeImagesAPI, **kw) -> openai.AsyncOpenAI:
    kw.setdefault("max_retries", 0)
    return openai.AsyncOpenAI(api_key=kw.pop("api_key", "sk-test"), base_url=fake.base_url, **kw)


def ihdr_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    length, tag = struct.unpack(">I4s", data[8:16])
    assert (length, tag) == (13, b"IHDR")
    return struct.unpack(">II", data[16:24])


def png_raw_pixels(data: bytes) -> bytes:
    """Inflate the IDAT stream (zlib checks the adler32) and verify every chunk CRC."""
    pos, idat = 8, b""
    while pos < len(data):
        (n,) = struct.unpack(">I", data[pos : pos + 4])
        tag, body = data[pos + 4 : pos + 8], data[pos + 8 : pos + 8 + n]
        (crc,) = struct.unpack(">I", data[pos + 8 + n : pos + 12 + n])
        assert crc == zlib.crc32(tag + body)
        if tag == b"IDAT":
            idat += body
        pos += 12 + n
    return zlib.decompress(idat)


def http_get(url: str) -> http.client.HTTPResponse:
    parts = url.split("/", 3)
    host, port = parts[2].split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=5)
    conn.request("GET", "/" + parts[3])
    return conn.getresponse()


# --------------------------------------------------------------------------- images


@pytest.mark.parametrize("size", [(1, 1), (3, 2), (1024, 1024), (1792, 1024), (1024, 1792), (77, 300)])
def test_make_png_is_a_real_png_of_the_requested_size(size):
    w, h = size
    data = make_png(w, h)
    assert ihdr_size(data) == (w, h) == png_size(data)
    assert len(png_raw_pixels(data)) == (3 * w + 1) * h
    with Image.open(io.BytesIO(data)) as img:
        img.load()
        assert img.size == (w, h) and img.mode == "RGB"


def test_make_png_is_fast_and_cached():
    t0 = time.perf_counter()
    make_png(1793, 1021)  # an uncached size
    assert time.perf_counter() - t0 < 0.5
    assert make_png(1793, 1021) is make_png(1793, 1021)


def test_make_png_noise_sizes():
    full = make_png(1792, 1024, noise=True)
    assert 5_400_000 < len(full) < 5_600_000
    three = make_png(1792, 1024, noise=True, target_bytes=3_000_000)
    assert 3_000_000 <= len(three) < 3_050_000
    assert three != make_png(1792, 1024, noise=True, target_bytes=3_000_000)  # fresh noise every call
    half = make_png(1792, 1024, noise=True, noise_fraction=0.5)
    assert 2_700_000 < len(half) < 2_800_000
    for data in (full, three, half):
        assert ihdr_size(data) == (1792, 1024)
        assert len(png_raw_pixels(data)) == (3 * 1792 + 1) * 1024
    with Image.open(io.BytesIO(three)) as img:
        img.load()


@pytest.mark.parametrize("fmt, pil_format", [("jpeg", "JPEG"), ("jpg", "JPEG"), ("webp", "WEBP"), ("png", "PNG")])
def test_make_image_formats(fmt, pil_format):
    with Image.open(io.BytesIO(make_image(320, 200, fmt))) as img:
        assert img.format == pil_format and img.size == (320, 200)


# --------------------------------------------------------------------------- success answers


def test_default_success_is_a_png_of_the_requested_size(fake):
    with sync_client(fake) as client:
        raw = client.images.with_raw_response.generate(
            prompt="a lighthouse at dusk", model="gpt-image-1", size="1792x1024", quality="low"
        )
        result = raw.parse()
    assert raw.headers["content-type"] == "application/json"
    assert raw.headers["x-request-id"].startswith("req_")
    assert result.size == "1792x1024" and result.output_format == "png" and result.quality == "low"
    assert result.background == "opaque" and result.created > 0
    assert len(result.data) == 1 and result.data[0].revised_prompt is None
    image = base64.b64decode(result.data[0].b64_json)
    assert ihdr_size(image) == (1792, 1024)
    usage = result.usage
    assert usage.total_tokens == usage.input_tokens + usage.output_tokens
    assert usage.input_tokens_details.text_tokens == usage.input_tokens
    assert usage.output_tokens_details.image_tokens == usage.output_tokens > 0

    [req] = fake.requests
    assert isinstance(req, RecordedRequest)
    assert req.path == "/v1/images/generations"
    assert req.body["prompt"] == "a lighthouse at dusk" and req.body["model"] == "gpt-image-1"
    assert req.headers["Authorization"] == req.headers["authorization"] == "Bearer sk-test"
    assert req.received_at <= time.monotonic()
    assert fake.in_flight == 0 and fake.max_concurrent == 1


def test_size_auto_n_and_revised_prompt(fake):
    fake.enqueue(Reply.ok(revised_prompt="A detailed lighthouse"))
    with sync_client(fake) as client:
        result = client.images.generate(prompt="lighthouse", size="auto", n=2)
        second = client.images.generate(prompt="lighthouse")  # queue empty again: default
    assert result.size == "1024x1024" and len(result.data) == 2
    assert all(d.revised_prompt == "A detailed lighthouse" for d in result.data)
    assert ihdr_size(base64.b64decode(result.data[1].b64_json)) == (1024, 1024)
    assert second.data[0].revised_prompt is None


@pytest.mark.parametrize("fmt, pil_format", [("jpeg", "JPEG"), ("webp", "WEBP")])
def test_jpeg_and_webp_answers(fake, fmt, pil_format):
    with sync_client(fake) as client:
        result = client.images.generate(prompt="x", size="512x384", output_format=fmt)
    assert result.output_format == fmt
    with Image.open(io.BytesIO(base64.b64decode(result.data[0].b64_json))) as img:
        assert img.format == pil_format and img.size == (512, 384)


def test_image_bytes_factory_and_explicit_image(fake):
    calls = []

    def factory(w, h, fmt):
        calls.append((w, h, fmt))
        return make_png(w, h)

    fake.image_bytes_factory = factory
    fake.enqueue(Reply.ok(image=b"\x89PNG custom"))
    with sync_client(fake) as client:
        first = client.images.generate(prompt="x", size="64x32")
        second = client.images.generate(prompt="x", size="64x32")
    assert base64.b64decode(first.data[0].b64_json) == b"\x89PNG custom"
    assert ihdr_size(base64.b64decode(second.data[0].b64_json)) == (64, 32)
    assert calls == [(64, 32, "png")]


def test_url_answers_and_file_serving(fake):
    fake.enqueue(
        Reply.url(),
        Reply.url(expired=True),
        Reply.url(redirect_to="http://169.254.169.254/latest/meta-data"),
        Reply.url(truncate=True),
        Reply.url(scheme_http_absolute="http://169.254.169.254/latest"),
    )
    with sync_client(fake) as client:
        urls = [client.images.generate(prompt="x", size="200x100").data[0].url for _ in range(5)]
        by_format = client.images.generate(prompt="x", size="100x50", response_format="url")
    assert all(u.startswith(fake.url_for("/files/")) for u in urls[:4])
    assert urls[4] == "http://169.254.169.254/latest"

    ok = http_get(urls[0])
    body = ok.read()
    assert ok.status == 200 and ok.getheader("Content-Type") == "image/png"
    assert ihdr_size(body) == (200, 100)

    expired = http_get(urls[1])
    assert expired.status == 403 and b"AuthenticationFailed" in expired.read()

    redirect = http_get(urls[2])
    assert redirect.status == 302
    assert redirect.getheader("Location") == "http://169.254.169.254/latest/meta-data"

    truncated = http_get(urls[3])
    assert truncated.status == 200
    with pytest.raises(http.client.IncompleteRead):
        truncated.read()

    served = http_get(by_format.data[0].url)
    assert ihdr_size(served.read()) == (100, 50)
    assert len(fake.file_requests) == 5 and len(fake.requests) == 6


def test_unknown_paths_get_a_json_404(fake):
    resp = http_get(fake.url_for("/v1/models"))
    assert resp.status == 404
    assert json.loads(resp.read())["error"]["message"] == "Invalid URL (GET /v1/models)"
    missing = http_get(fake.url_for("/files/nope.png"))
    assert missing.status == 404 and "error" in json.loads(missing.read())
    assert fake.requests == []


def test_keep_alive_serves_many_requests_on_one_connection(fake):
    conn = http.client.HTTPConnection("127.0.0.1", fake.port, timeout=5)
    for _ in range(5):
        conn.request("POST", "/v1/images/generations", body=json.dumps({"prompt": "x", "size": "16x16"}))
        resp = conn.getresponse()
        assert resp.status == 200 and not resp.will_close
        assert ihdr_size(base64.b64decode(json.loads(resp.read())["data"][0]["b64_json"])) == (16, 16)
    conn.close()
    assert len(fake.requests) == 5


def test_bad_parameters_get_400_without_consuming_the_queue(fake):
    fake.enqueue(Reply.ok(revised_prompt="kept"))
    with sync_client(fake) as client:
        with pytest.raises(openai.BadRequestError) as err:
            client.images.generate(prompt="x", size="huge")
        assert err.value.body["param"] == "size"
        with pytest.raises(openai.BadRequestError):
            client.images.generate(prompt="x", extra_body={"output_format": "bmp"})
        assert client.images.generate(prompt="x").data[0].revised_prompt == "kept"


# --------------------------------------------------------------------------- errors


@pytest.mark.parametrize(
    "reply, exc_class, code",
    [
        (Reply.error(400, code="content_policy_violation"), openai.BadRequestError, "content_policy_violation"),
        (Reply.error(400, code="moderation_blocked"), openai.BadRequestError, "moderation_blocked"),
        (Reply.error(401, code="invalid_api_key"), openai.AuthenticationError, "invalid_api_key"),
        (Reply.error(403), openai.PermissionDeniedError, None),
        (Reply.error(404, code="model_not_found"), openai.NotFoundError, "model_not_found"),
        (Reply.rate_limited(1), openai.RateLimitError, "rate_limit_exceeded"),
        (Reply.server_error(), openai.InternalServerError, None),
        (Reply.server_error(503), openai.InternalServerError, None),
    ],
)
def test_error_replies_raise_the_sdk_exception(fake, reply, exc_class, code):
    fake.enqueue(reply)

    async def go():
        async with async_client(fake) as client:
            with pytest.raises(exc_class) as err:
                await client.images.generate(prompt="x")
            return err.value

    error = asyncio.run(go())
    assert error.status_code == reply.status
    assert error.code == code
    assert error.body["message"] == reply.options["message"]
    assert error.body["param"] is None
    assert error.response.headers["x-request-id"].startswith("req_")
    if reply.status == 403:
        assert "organization must be verified" in error.message
    if reply.status == 429:
        assert error.response.headers["retry-after"] == "1"


def test_wrong_api_key_401_echoes_the_key():
    with FakeImagesAPI(api_key="sk-right") as fake:
        with sync_client(fake, api_key="sk-proj-SECRET-123") as client:
            with pytest.raises(openai.AuthenticationError) as err:
                client.images.generate(prompt="x")
        assert "Incorrect API key provided: sk-proj-SECRET-123" in str(err.value)
        assert err.value.code == "invalid_api_key"
        fake.enqueue(Reply.ok(revised_prompt="unconsumed"))
        with sync_client(fake, api_key="sk-right") as client:
            assert client.images.generate(prompt="x").data[0].revised_prompt == "unconsumed"
        assert len(fake.requests) == 2


def test_retry_after_then_success():
    with FakeImagesAPI() as fake:
        fake.enqueue(Reply.rate_limited(retry_after=1))
        t0 = time.monotonic()
        with sync_client(fake, max_retries=2) as client:
            result = client.images.generate(prompt="x", size="32x32")
        assert ihdr_size(base64.b64decode(result.data[0].b64_json)) == (32, 32)
        assert len(fake.requests) == 2
        first, second = fake.requests
        assert 0.9 <= second.received_at - first.received_at < 3
        assert time.monotonic() - t0 < 4
        assert [r.headers["x-stainless-retry-count"] for r in fake.requests] == ["0", "1"]
        # the SDK reuses one idempotency key across retries
        assert first.headers.get("idempotency-key") == second.headers.get("idempotency-key")


def test_x_should_retry_header_is_obeyed(fake):
    fake.enqueue(Reply.error(400, code="temporary", headers={"x-should-retry": "true", "retry-after-ms": "10"}))
    with sync_client(fake, max_retries=1) as client:
        client.images.generate(prompt="x")
    assert len(fake.requests) == 2
    fake.reset()
    fake.enqueue(Reply.error(500, headers={"x-should-retry": "false"}))
    with sync_client(fake, max_retries=3) as client:
        with pytest.raises(openai.InternalServerError):
            client.images.generate(prompt="x")
    assert len(fake.requests) == 1


def test_hang_ends_with_client_timeout_quickly(fake):
    fake.enqueue(Reply.hang())

    async def go():
        async with async_client(fake, timeout=0.5) as client:
            t0 = time.monotonic()
            with pytest.raises(openai.APITimeoutError):
                await client.images.generate(prompt="x")
            return time.monotonic() - t0

    assert asyncio.run(go()) < 2
    # the handler notices the hang-up, so nothing stays in flight
    wait_until(lambda: fake.in_flight == 0, timeout=2, what="nothing in flight")


@pytest.mark.parametrize("reply", [Reply.reset(), Reply.reset_mid_body()], ids=["reset", "reset_mid_body"])
def test_connection_resets_raise_api_connection_error(fake, reply):
    fake.enqueue(reply)
    with sync_client(fake) as client:
        with pytest.raises(openai.APIConnectionError) as err:
            client.images.generate(prompt="x")
        assert not isinstance(err.value, openai.APITimeoutError)
        # the server is fine afterwards
        assert client.images.generate(prompt="x").data[0].b64_json


def test_broken_image_payloads(fake):
    fake.enqueue(
        Reply.truncated_b64(),
        Reply.invalid_b64(),
        Reply.not_image(),
        Reply.wrong_format(actual="jpeg"),
        Reply.wrong_format(actual="jpeg"),
        Reply.oversized(5_000_000),
    )
    with sync_client(fake) as client:
        answers = [client.images.generate(prompt="x", size="300x200").data[0].b64_json for _ in range(4)]
        asked_jpeg = client.images.generate(prompt="x", size="300x200", output_format="jpeg")
        oversized = client.images.generate(prompt="x", size="300x200").data[0].b64_json
    truncated, invalid, not_image, wrong = answers

    cut = base64.b64decode(truncated, validate=True)
    assert cut == make_png(300, 200)[: len(cut)] and len(cut) < len(make_png(300, 200))
    with pytest.raises(binascii.Error):
        base64.b64decode(invalid)
    with pytest.raises(binascii.Error):
        base64.b64decode(invalid, validate=True)
    assert base64.b64decode(not_image) == b"hello, not an image"
    with Image.open(io.BytesIO(base64.b64decode(wrong))) as img:
        assert img.format == "JPEG" and img.size == (300, 200)
    assert asked_jpeg.output_format == "jpeg"
    with Image.open(io.BytesIO(base64.b64decode(asked_jpeg.data[0].b64_json))) as img:
        assert img.format == "PNG"  # "vice versa"
    big = base64.b64decode(oversized)
    assert len(big) == 5_000_000 and big.startswith(b"\x89PNG\r\n\x1a\n")


def test_delay_then_reply():
    with FakeImagesAPI() as fake:
        fake.enqueue(Reply.delay(0.3, Reply.error(400, code="content_policy_violation")))
        t0 = time.monotonic()
        with sync_client(fake) as client:
            with pytest.raises(openai.BadRequestError):
                client.images.generate(prompt="x")
        assert time.monotonic() - t0 >= 0.3


# --------------------------------------------------------------------------- streaming


def test_streaming_yields_partials_then_completed():
    with FakeImagesAPI(latency=0.3) as fake:

        async def go():
            async with async_client(fake) as client:
                stream = await client.images.generate(
                    prompt="x", size="256x128", stream=True, partial_images=2, output_format="png"
                )
                out = []
                async for event in stream:
                    out.append((time.monotonic(), event))
                return out

        t0 = time.monotonic()
        events = asyncio.run(go())
        assert [e.type for _, e in events] == [
            "image_generation.partial_image",
            "image_generation.partial_image",
            "image_generation.completed",
        ]
        assert [e.partial_image_index for _, e in events[:2]] == [0, 1]
        assert events[0][0] - t0 >= 0.09  # spaced by latency / (partial_images + 1)
        assert events[-1][0] - t0 >= 0.29
        completed = events[-1][1]
        assert isinstance(completed, openai.types.ImageGenCompletedEvent)
        assert completed.size == "256x128" and completed.output_format == "png" and completed.usage.total_tokens > 0
        assert ihdr_size(base64.b64decode(completed.b64_json)) == (256, 128)
        assert fake.requests[0].body["stream"] is True and fake.requests[0].body["partial_images"] == 2


def test_streaming_sync_client(fake):
    with sync_client(fake) as client:
        events = list(client.images.generate(prompt="x", stream=True, partial_images=1, size="64x64"))
    assert [e.type for e in events] == ["image_generation.partial_image", "image_generation.completed"]


# --------------------------------------------------------------------------- concurrency & lifecycle


def test_max_concurrent_reaches_four():
    with FakeImagesAPI(latency=0.3) as fake:

        async def go():
            async with async_client(fake) as client:
                return await asyncio.gather(*[client.images.generate(prompt=f"p{i}", size="64x64") for i in range(4)])

        t0 = time.monotonic()
        results = asyncio.run(go())
        assert time.monotonic() - t0 < 1.0
        assert len(results) == 4 and fake.max_concurrent == 4 and fake.in_flight == 0
        assert sorted(r.body["prompt"] for r in fake.requests) == ["p0", "p1", "p2", "p3"]
        fake.reset()
        assert fake.requests == [] and fake.max_concurrent == 0
        fake.set_latency(0)
        assert fake.latency == 0


def test_stop_returns_quickly_with_a_hanging_request():
    fake = FakeImagesAPI().start()
    fake.enqueue(Reply.hang(3600))
    errors = []

    def call():
        try:
            with sync_client(fake, timeout=30) as client:
                client.images.generate(prompt="x")
        except Exception as exc:  # noqa: BLE001
            errors.append(exc)

    thread = threading.Thread(target=call, daemon=True)
    thread.start()
    assert fake.wait_for_requests(1, timeout=5)
    t0 = time.monotonic()
    fake.stop()
    assert time.monotonic() - t0 < 1.0
    thread.join(timeout=5)
    assert not thread.is_alive()
    assert len(errors) == 1 and isinstance(errors[0], openai.APIConnectionError)
    fake.stop()  # idempotent


def test_base_url_needs_start():
    fake = FakeImagesAPI()
    with pytest.raises(RuntimeError):
        _ = fake.base_url
    with fake:
        assert fake.base_url.startswith("http://127.0.0.1:") and fake.base_url.endswith("/v1")
        assert fake.url_for("files/a.png") == fake.base_url[: -len("/v1")] + "/files/a.png"


def test_module_runs_as_a_demo_server():
    proc = subprocess.Popen(
        [sys.executable, "-m", "blog_images_tui.testing.fake_images_api", "--port", "0", "--latency", "0"],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        line = proc.stdout.readline()
        base_url = line.strip().rsplit(" ", 1)[-1]
        assert base_url.startswith("http://127.0.0.1:") and base_url.endswith("/v1")
        with openai.OpenAI(api_key="sk-demo", base_url=base_url, max_retries=0) as client:
            assert client.images.generate(prompt="x", size="32x32").data[0].b64_json
    finally:
        proc.terminate()
        proc.wait(timeout=5)


def test_restart_keeps_the_port_and_factory_errors_become_500():
    with FakeImagesAPI() as fake:
        base_url = fake.base_url
        with sync_client(fake) as client:
            client.images.generate(prompt="x", size="16x16")
            fake.stop()
            fake.start()
            assert fake.base_url == base_url

            def broken(w, h, fmt):
                raise RuntimeError("factory exploded")

            fake.image_bytes_factory = broken
            with pytest.raises(openai.InternalServerError) as err:
                client.images.generate(prompt="x")
            assert "factory exploded" in err.value.message


def test_invalid_json_body_is_a_400_and_recorded(fake):
    conn = http.client.HTTPConnection("127.0.0.1", fake.port, timeout=5)
    conn.request("POST", "/v1/images/generations", body=b"{not json", headers={"Content-Type": "application/json"})
    resp = conn.getresponse()
    assert resp.status == 400 and json.loads(resp.read())["error"]["type"] == "invalid_request_error"
    conn.close()
    assert fake.requests[0].body == {} and fake.requests[0].raw_body == b"{not json"


def test_latency_applies_to_images_not_to_errors():
    with FakeImagesAPI(latency=0.4) as fake:
        fake.enqueue(Reply.rate_limited(1))
        with sync_client(fake) as client:
            t0 = time.monotonic()
            with pytest.raises(openai.RateLimitError):
                client.images.generate(prompt="x")
            assert time.monotonic() - t0 < 0.3
            fake.set_latency(0.2)
            t0 = time.monotonic()
            client.images.generate(prompt="x", size="16x16")
            assert 0.2 <= time.monotonic() - t0 < 1.5


def test_reset_mid_body_sends_headers_and_part_of_the_json(fake):
    fake.enqueue(Reply.reset_mid_body(), Reply.reset())
    conn = http.client.HTTPConnection("127.0.0.1", fake.port, timeout=5)
    conn.request("POST", "/v1/images/generations", body=json.dumps({"prompt": "x", "size": "64x64"}))
    resp = conn.getresponse()
    assert resp.status == 200 and resp.getheader("Content-Type") == "application/json"
    with pytest.raises(http.client.IncompleteRead) as err:
        resp.read()
    assert err.value.partial.startswith(b'{"created": ')
    conn.close()
    conn = http.client.HTTPConnection("127.0.0.1", fake.port, timeout=5)
    conn.request("POST", "/v1/images/generations", body=json.dumps({"prompt": "x"}))
    with pytest.raises((ConnectionError, http.client.RemoteDisconnected)):
        conn.getresponse()
    conn.close()
