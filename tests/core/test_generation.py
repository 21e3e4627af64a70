"""Generation through the real openai SDK against the fake Images API on 127.0.0.1."""

from __future__ import annotations

import asyncio

import pytest

from blog_images_tui.errors import ApiRejected, AuthConfigError, BadInput, TemporaryFailure
from blog_images_tui.generation import ClientSettings, ImageGenerator, ImageRequest, UnusableImage, download_image
from blog_images_tui.ids import SectionRef
from blog_images_tui.pacing import Pacing
from blog_images_tui.secrets import ApiKey, redact
from blog_images_tui.service import generate_with_retries
from blog_images_tui.testing.fake_images_api import Reply
from tests.support import TEST_KEY

SECTION = SectionRef(53, 1)


def settings(fake, key=TEST_KEY, **kw) -> ClientSettings:
    return ClientSettings(api_key=ApiKey(key, "test"), base_url=fake.base_url, **kw)


def generate(fake, request: ImageRequest, retries: int = 2, **kw):
    async def go():
        async with ImageGenerator(settings(fake, **kw)) as generator:
            return await generate_with_retries(request.validated(), generator, Pacing(max_retries=retries))

    return asyncio.run(go())


def request(**kw) -> ImageRequest:
    return ImageRequest(prompt=kw.pop("prompt", "a lighthouse at dawn"), section=SECTION, **kw)


def test_b64_answer_is_decoded_and_verified(fake_api):
    image = generate(fake_api, request(size="1536x864"))
    assert (image.info.format, image.info.width, image.info.height) == ("png", 1536, 864)
    assert image.source == "b64_json" and image.request_id.startswith("req_")
    assert image.usage["total_tokens"] > 0
    body = fake_api.requests[0].body
    assert body["model"] == "gpt-image-2" and body["size"] == "1536x864" and body["output_format"] == "png"
    # GPT image models reject these: they must never be sent.
    assert "response_format" not in body and "style" not in body


def test_default_size_is_the_original_1792x1024(fake_api):
    image = generate(fake_api, request())
    assert (image.info.width, image.info.height) == (1792, 1024)


@pytest.mark.parametrize("fmt", ["jpeg", "webp"])
def test_other_formats_are_verified(fake_api, fmt):
    image = generate(fake_api, request(size="1024x1024", output_format=fmt))
    assert image.info.format == fmt


def test_legacy_model_asks_for_b64_and_sends_style(fake_api):
    generate(fake_api, request(model="dall-e-3", size="1024x1792", quality="hd", style="natural"))
    body = fake_api.requests[0].body
    assert body["response_format"] == "b64_json" and body["style"] == "natural"
    assert "output_format" not in body


def test_revised_prompt_is_kept(fake_api):
    fake_api.enqueue(Reply.ok(revised_prompt="A calm lighthouse"))
    assert generate(fake_api, request()).revised_prompt == "A calm lighthouse"


def test_url_answer_is_downloaded_from_the_configured_host(fake_api):
    fake_api.enqueue(Reply.url())
    image = generate(fake_api, request(size="1024x1024"))
    assert image.source == "url" and image.info.width == 1024


def test_invalid_key_is_auth_error_and_key_is_redacted(fake_api):
    with pytest.raises(AuthConfigError) as caught:
        generate(fake_api, request(), key="sk-wrong-key-0000000000")
    assert caught.value.exit_code == 3
    assert "sk-wrong-key" not in redact(str(caught.value))
    assert "sk-wrong-key" not in str(caught.value)


def test_content_policy_is_rejected_without_retry(fake_api):
    fake_api.enqueue(Reply.error(400, code="content_policy_violation", message="Rejected by the safety system."))
    with pytest.raises(ApiRejected) as caught:
        generate(fake_api, request())
    assert "content policy" in str(caught.value) and caught.value.exit_code == 4
    assert len(fake_api.requests) == 1


def test_rate_limit_with_retry_after_is_retried_once(fake_api):
    fake_api.enqueue(Reply.rate_limited(1), Reply.ok())
    image = generate(fake_api, request())
    assert image.info.format == "png"
    assert len(fake_api.requests) == 2
    gap = fake_api.requests[1].received_at - fake_api.requests[0].received_at
    assert gap >= 0.9  # Retry-After honoured


def test_server_error_then_success(fake_api):
    fake_api.enqueue(Reply.server_error(), Reply.ok())
    assert generate(fake_api, request()).info.format == "png"
    assert len(fake_api.requests) == 2


def test_server_error_every_time_is_bounded(fake_api):
    fake_api.enqueue(*[Reply.server_error() for _ in range(5)])
    with pytest.raises(TemporaryFailure) as caught:
        generate(fake_api, request(), retries=2)
    assert caught.value.exit_code == 5 and "3 attempts" in str(caught.value)
    assert len(fake_api.requests) == 3


def test_long_retry_after_is_not_waited_for(fake_api):
    fake_api.enqueue(Reply.rate_limited(300))
    with pytest.raises(TemporaryFailure) as caught:
        generate(fake_api, request())
    assert "300" in str(caught.value) and len(fake_api.requests) == 1


def test_timeout_ends_a_hanging_request(fake_api):
    fake_api.enqueue(Reply.hang(30))
    with pytest.raises(TemporaryFailure) as caught:
        generate(fake_api, request(), retries=0, timeout_s=0.5)
    assert "in time" in str(caught.value)


def test_missing_key_is_refused_before_any_request(fake_api):
    with pytest.raises(AuthConfigError) as caught:
        ImageGenerator(ClientSettings(api_key=None, base_url=fake_api.base_url))
    assert "OPENAI_AUTH_TOKEN" in str(caught.value)
    assert fake_api.requests == []


# A real image in another format is accepted as what it is (tests/faults/test_reliability_answers.py).
@pytest.mark.parametrize("payload", [Reply.not_image(), Reply.truncated_b64(), Reply.invalid_b64()])
def test_bad_payloads_are_refused(fake_api, payload):
    fake_api.enqueue(payload)
    with pytest.raises(UnusableImage):  # a TemporaryFailure that carries the paid bytes, to keep
        generate(fake_api, request(size="1024x1024"))
    assert len(fake_api.requests) == 1  # a paid answer is never silently re-bought


def test_oversized_payload_is_refused(fake_api):
    fake_api.enqueue(Reply.oversized(3 * 2**20))
    with pytest.raises(TemporaryFailure) as caught:
        generate(fake_api, request(size="1024x1024"), max_image_bytes=2**20)
    assert "cap" in str(caught.value)


def test_streaming_delivers_partials_then_the_image(fake_api):
    partials = []

    async def go():
        async with ImageGenerator(settings(fake_api)) as generator:
            req = request(size="1024x1024", partial_images=2).validated()
            return await generator.generate(req, on_partial=lambda i, data: partials.append((i, data[:8])))

    image = asyncio.run(go())
    assert [i for i, _ in partials] == [0, 1]
    assert all(head == b"\x89PNG\r\n\x1a\n" for _, head in partials)
    assert image.info.width == 1024 and fake_api.requests[0].body["stream"] is True


def test_download_refuses_plain_http_to_other_hosts_and_metadata_addresses():
    async def fetch(url):
        return await download_image(url, base_url="https://api.example.invalid/v1", max_bytes=1000, timeout_s=1)

    for url in ("http://evil.example/x.png", "https://169.254.169.254/latest/meta-data",
                "https://10.0.0.1/x.png", "ftp://x/y.png"):
        with pytest.raises(TemporaryFailure) as caught:
            asyncio.run(fetch(url))
        assert "refusing" in str(caught.value)


def test_download_refuses_redirect_to_another_host(fake_api):
    fake_api.enqueue(Reply.url(redirect_to="http://169.254.169.254/latest/meta-data"))
    with pytest.raises(TemporaryFailure) as caught:
        generate(fake_api, request(size="1024x1024"))
    assert "redirect" in str(caught.value)


def test_expired_url_is_a_clear_error(fake_api):
    fake_api.enqueue(Reply.url(expired=True))
    with pytest.raises(ApiRejected) as caught:
        generate(fake_api, request(size="1024x1024"))
    assert "expired" in str(caught.value)


@pytest.mark.parametrize("kwargs, words", [
    ({"size": "1000x1000"}, "multiples of 16"),
    ({"size": "3840x1024"}, "aspect"),
    ({"size": "4096x2304"}, "3840x2160"),
    ({"model": "gpt-image-1.5", "size": "1792x1024"}, "1536x1024"),
    ({"style": "vivid"}, "style"),
    ({"quality": "ultra"}, "quality"),
    ({"prompt": " "}, "empty"),
    ({"prompt": "x" * 32001}, "32000"),
    ({"model": "dall-e-3", "prompt": "x" * 4001}, "4000"),
    ({"output_format": "jpeg", "background": "transparent"}, "transparent"),
])
def test_invalid_combinations_are_refused_locally(kwargs, words):
    with pytest.raises(BadInput) as caught:
        request(**kwargs).validated()
    assert words in str(caught.value)


def test_fixed_size_model_gets_its_own_default_size():
    assert request(model="gpt-image-1.5").validated().size == "1536x1024"


def test_unknown_and_retired_models_pass_with_a_warning():
    unknown = request(model="my-local-model", size="800x600").validated()
    assert unknown.warnings and "unknown model" in unknown.warnings[0]
    retired = request(model="dall-e-3").validated()
    assert "retired on 2026-05-12" in retired.warnings[0]
