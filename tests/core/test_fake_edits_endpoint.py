"""The fake Images API's edits endpoint refuses what the real one refuses, through the real SDK."""

from __future__ import annotations

import io

import openai
import pytest
from PIL import Image

from blog_images_tui.testing.fake_images_api import Reply, make_jpeg, make_png, png_size
from tests.support import TEST_KEY


def rgba_png(width: int, height: int, *, hole: bool = True) -> bytes:
    image = Image.new("RGBA", (width, height), (0, 0, 0, 255))
    if hole:
        image.paste((0, 0, 0, 0), (0, 0, width // 2, height // 2))
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


@pytest.fixture
def client(fake_api):
    with openai.OpenAI(api_key=TEST_KEY, base_url=fake_api.base_url, max_retries=0) as sdk:
        yield sdk


def test_several_image_parts_a_mask_and_n_are_taken(fake_api, client):
    first, second = make_png(64, 32), make_jpeg(64, 32)
    answer = client.images.edit(
        model="gpt-image-1.5", prompt="the same, at night", n=3, size="1024x1024",
        image=[("first.png", first, "image/png"), ("second.jpg", second, "image/jpeg")],
        mask=("mask.png", rgba_png(64, 32), "image/png"), input_fidelity="high")
    assert len(answer.data) == 3
    assert png_size(__import__("base64").b64decode(answer.data[0].b64_json)) == (1024, 1024)
    record = fake_api.requests[-1]
    assert record.path.endswith("/images/edits")
    parts = [(name, filename, kind) for name, filename, kind, _ in record.files]
    assert parts == [("image[]", "first.png", "image/png"), ("image[]", "second.jpg", "image/jpeg"),
                     ("mask", "mask.png", "image/png")]
    assert record.files[0][3] == first and record.files[1][3] == second
    assert record.body["prompt"] == "the same, at night" and record.body["n"] == "3"


def test_a_part_sent_as_octet_stream_is_refused(fake_api, client):
    with pytest.raises(openai.BadRequestError, match="unsupported mimetype"):
        client.images.edit(model="gpt-image-2", prompt="x", image=("a.bin", make_png(8, 8), "application/octet-stream"))


def test_moderation_is_not_a_parameter_of_edits(fake_api, client):
    with pytest.raises(openai.BadRequestError, match="Unknown parameter: 'moderation'"):
        client.images.edit(model="gpt-image-2", prompt="x", image=("a.png", make_png(8, 8), "image/png"),
                           extra_body={"moderation": "low"})


@pytest.mark.parametrize("mask, message", [
    (make_png(64, 32), "missing alpha channel"),  # RGB, no alpha
    (rgba_png(32, 32), "mask size does not match"),
])
def test_bad_masks_are_refused(fake_api, client, mask, message):
    with pytest.raises(openai.BadRequestError, match=message):
        client.images.edit(model="gpt-image-2", prompt="x", image=("a.png", make_png(64, 32), "image/png"),
                           mask=("m.png", mask, "image/png"))


def test_input_fidelity_is_refused_on_gpt_image_2_and_n_is_bounded(fake_api, client):
    image = ("a.png", make_png(8, 8), "image/png")
    with pytest.raises(openai.BadRequestError, match="input_fidelity"):
        client.images.edit(model="gpt-image-2", prompt="x", image=image, input_fidelity="high")
    with pytest.raises(openai.BadRequestError, match="'n'"):
        client.images.edit(model="gpt-image-1.5", prompt="x", image=image, n=11)
    with pytest.raises(openai.BadRequestError, match="not an image|Invalid image"):
        client.images.edit(model="gpt-image-1.5", prompt="x", image=("a.png", b"hello", "image/png"))


def test_generations_take_n_and_a_scripted_partial_answer(fake_api, client):
    assert len(client.images.generate(model="gpt-image-2", prompt="x", n=4, size="64x64").data) == 4
    fake_api.enqueue(Reply.ok(count=2))
    assert len(client.images.generate(model="gpt-image-2", prompt="x", n=3, size="64x64").data) == 2


def test_edit_usage_counts_the_input_images(fake_api, client):
    image = ("a.png", make_png(8, 8), "image/png")
    one = client.images.edit(model="gpt-image-1.5", prompt="x", image=[image]).usage
    two = client.images.edit(model="gpt-image-1.5", prompt="x", image=[image, image]).usage
    assert two.input_tokens_details.image_tokens == 2 * one.input_tokens_details.image_tokens > 0
    assert client.images.generate(prompt="x").usage.input_tokens_details.image_tokens == 0
