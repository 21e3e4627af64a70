"""Edits, references, masks, variants and lineage through the core, the real SDK and the fake API,
on local disk and on moto's S3."""

from __future__ import annotations

import asyncio
import hashlib
import io

import pytest
from PIL import Image

from blog_images_tui.editing import EditOptions, plan_edit
from blog_images_tui.errors import BadInput
from blog_images_tui.generation import ClientSettings, ImageGenerator, ImageRequest
from blog_images_tui.ids import SectionRef
from blog_images_tui.models import validate_options
from blog_images_tui.pricing import estimate
from blog_images_tui.secrets import ApiKey
from blog_images_tui.service import create_into_store
from blog_images_tui.storage import open_store
from blog_images_tui.testing.fake_images_api import Reply, make_jpeg, make_png
from tests.support import TEST_KEY

SECTION = SectionRef(53, 1)


def rgba_png(width: int, height: int, *, hole: bool = True, mode: str = "RGBA") -> bytes:
    image = Image.new("RGBA", (width, height), (0, 0, 0, 255))
    if hole:
        image.paste((0, 0, 0, 0), (0, 0, width // 2, height // 2))
    buffer = io.BytesIO()
    image.convert(mode).save(buffer, format="PNG")
    return buffer.getvalue()


def settings(fake) -> ClientSettings:
    return ClientSettings(api_key=ApiKey(TEST_KEY, "test"), base_url=fake.base_url)


def run(fake, store, request: ImageRequest):
    async def go():
        async with ImageGenerator(settings(fake)) as generator:
            return await create_into_store(request, store, generator)

    return asyncio.run(go())


@pytest.fixture(params=["local", "s3"])
def store(request):
    return open_store(request.getfixturevalue(f"{request.param}_store_url"))


def generated_source(fake, store, name="hero", size="1024x1024"):
    return run(fake, store, ImageRequest(prompt="a lighthouse", section=SECTION, filename=name, size=size,
                                         model="gpt-image-1.5"))[0]


# -- the model table ------------------------------------------------------------------------------

def options(**kw):
    base = dict(model="gpt-image-2", prompt="x", size=None, quality=None, style=None, output_format=None,
                background=None)
    return validate_options(**{**base, **kw})


@pytest.mark.parametrize("kw, message", [
    (dict(operation="edit", input_images=1, input_fidelity="high"), "does not take --input-fidelity"),
    (dict(model="gpt-image-1-mini", size="1024x1024", operation="edit", input_images=1, input_fidelity="high"),
     "use one of: low"),
    (dict(operation="edit", input_images=1, moderation="low"), "--moderation is not available for edits"),
    (dict(model="dall-e-3", size="1024x1024", operation="edit", input_images=1), "does not take edits"),
    (dict(operation="edit", input_images=17), "at most 16 input images"),
    (dict(model="dall-e-2", size="1024x1024", operation="edit", input_images=2), "at most 1 input image"),
    (dict(mask=True), "--mask is not available for generations"),
    (dict(n=11), "use 1 to 10"),
    (dict(model="dall-e-3", size="1024x1024", n=2), "use 1 to 1"),
    (dict(compression=80), "--compression needs --format jpeg or webp"),
    (dict(compression=101, output_format="webp"), "0 to 100"),
    (dict(moderation="strict"), "use one of: auto, low"),
])
def test_the_model_table_refuses_locally_with_the_allowed_values(kw, message):
    with pytest.raises(BadInput, match=message):
        options(**kw)


def test_allowed_combinations_pass():
    assert options(model="gpt-image-1.5", size="1024x1024", operation="edit", input_images=3, mask=True,
                   input_fidelity="high", n=4).n == 4
    assert options(moderation="low", compression=60, output_format="jpeg").compression == 60


def test_estimates_count_every_variant():
    one = estimate(ImageRequest(prompt="x", section=SECTION, model="gpt-image-1.5", size="1024x1024",
                                quality="low"))
    three = estimate(ImageRequest(prompt="x", section=SECTION, model="gpt-image-1.5", size="1024x1024",
                                  quality="low", n=3))
    assert three.usd == pytest.approx(3 * one.usd - 2 * (one.usd - 0.009), rel=1e-6)  # the prompt once


# -- variants ---------------------------------------------------------------------------------------

def test_three_variants_are_stored_as_three_with_their_metadata(api_env, store):
    stored = run(api_env, store, ImageRequest(prompt="a lighthouse", section=SECTION, filename="cand", n=3,
                                              size="1024x1024", model="gpt-image-1.5", quality="low"))
    assert [item.filename for item in stored] == ["cand-1", "cand-2", "cand-3"]
    assert len(api_env.requests) == 1 and api_env.requests[0].body["n"] == 3
    assert "stream" not in api_env.requests[0].body
    metas = [store.read_metadata(SECTION, item.filename) for item in stored]
    assert [m["variant"] for m in metas] == [1, 2, 3] and {m["variants"] for m in metas} == {3}
    assert len({m["group_id"] for m in metas}) == 1
    assert all(m["requested"] == 3 and m["received"] == 3 and m["operation"] == "generate" for m in metas)
    assert all("usage" not in m and m["request_usage"]["output_tokens"] > 0 for m in metas)
    shares = [m["cost_usd"] for m in metas]
    assert len(set(shares)) == 1 and shares[0] > 0
    listed = {entry.image_name for entry in store.list_images(SECTION)}
    assert listed == {"cand-1.png", "cand-2.png", "cand-3.png"}


def test_a_partial_answer_stores_what_came_and_says_so(api_env, store):
    api_env.enqueue(Reply.ok(count=2))
    stored = run(api_env, store, ImageRequest(prompt="x", section=SECTION, filename="few", n=3, size="1024x1024"))
    assert [item.filename for item in stored] == ["few-1", "few-2"]
    meta = store.read_metadata(SECTION, "few-1")
    assert (meta["requested"], meta["received"], meta["variants"]) == (3, 2, 2)


def test_a_taken_variant_name_is_refused_before_any_request(api_env, store):
    generated_source(api_env, store, name="cand-2")
    before = len(api_env.requests)
    with pytest.raises(BadInput, match="cand-2.png already exists"):
        run(api_env, store, ImageRequest(prompt="x", section=SECTION, filename="cand", n=3, size="1024x1024"))
    assert len(api_env.requests) == before


# -- edits --------------------------------------------------------------------------------------------

def test_an_edit_sends_the_source_with_its_type_and_records_lineage(api_env, store):
    source = generated_source(api_env, store)
    request = plan_edit(store, "53/1/hero", EditOptions(prompt="the same, at night", filename="night"))
    assert (request.model, request.size, request.output_format) == ("gpt-image-1.5", "1024x1024", "png")
    stored = run(api_env, store, request)[0]
    sent = api_env.requests[-1]
    assert sent.path.endswith("/images/edits")
    assert [(name, kind) for name, _, kind, _ in sent.files] == [("image[]", "image/png")]
    assert sent.files[0][3] == store.read_image(SECTION, "hero.png")
    assert "moderation" not in sent.body
    meta = store.read_metadata(SECTION, "night")
    assert meta["operation"] == "edit" and meta["prompt"] == "the same, at night"
    assert meta["source"] == {"post_id": 53, "section_id": 1, "name": "hero", "sha256": source.metadata["sha256"]}
    assert meta["references"] == [] and "mask" not in meta
    assert stored.image_path.endswith("night.png")
    assert store.read_image(SECTION, "hero.png")  # the source is untouched


def test_an_edit_with_references_and_a_mask(api_env, store, tmp_path):
    generated_source(api_env, store)
    generated_source(api_env, store, name="logo")
    (tmp_path / "assets").mkdir()
    brand = tmp_path / "assets" / "brand asset.jpg"
    brand.write_bytes(make_jpeg(40, 40))
    mask = tmp_path / "assets" / "mask.png"
    mask.write_bytes(rgba_png(1024, 1024))
    request = plan_edit(store, "53/1/hero.png", EditOptions(
        prompt="add the logo", references=["53/1/logo", str(brand)], mask=str(mask), filename="branded",
        section=SectionRef(53, 2), input_fidelity="high"))
    run(api_env, store, request)
    sent = api_env.requests[-1]
    assert [(name, kind) for name, _, kind, _ in sent.files] == [
        ("image[]", "image/png"), ("image[]", "image/png"), ("image[]", "image/jpeg"), ("mask", "image/png")]
    assert sent.body["input_fidelity"] == "high"
    meta = store.read_metadata(SectionRef(53, 2), "branded")
    logo_sha = store.read_metadata(SECTION, "logo")["sha256"]
    assert meta["references"] == [
        {"post_id": 53, "section_id": 1, "name": "logo", "sha256": logo_sha},
        {"name": "brand asset.jpg", "sha256": hashlib.sha256(brand.read_bytes()).hexdigest()}]
    assert meta["mask"] == {"name": "mask.png", "sha256": hashlib.sha256(mask.read_bytes()).hexdigest()}
    assert "assets" not in str(meta)  # never a path of the user's machine


def bad_masks(tmp_path):
    cases = {
        "a JPEG": (make_jpeg(1024, 1024), "must be a PNG"),
        "no alpha": (make_png(1024, 1024), "no alpha channel"),
        "other size": (rgba_png(512, 512), "same dimensions"),
        "fully opaque": (rgba_png(1024, 1024, hole=False), "no fully transparent pixel"),
        "not an image": (b"GIF89a not really", "not a usable image"),
        "grey without alpha": (rgba_png(1024, 1024, mode="L"), "no alpha channel"),
    }
    return cases


@pytest.mark.parametrize("case", ["a JPEG", "no alpha", "other size", "fully opaque", "not an image",
                                  "grey without alpha"])
def test_every_bad_mask_is_refused_before_anything_is_sent(api_env, local_store_url, tmp_path, case):
    store = open_store(local_store_url)
    generated_source(api_env, store)
    data, message = bad_masks(tmp_path)[case]
    mask = tmp_path / "mask.png"
    mask.write_bytes(data)
    before = len(api_env.requests)
    with pytest.raises(BadInput, match=message):
        plan_edit(store, "53/1/hero", EditOptions(prompt="x", mask=str(mask)))
    assert len(api_env.requests) == before


def test_a_missing_source_or_reference_is_bad_input(api_env, local_store_url):
    store = open_store(local_store_url)
    with pytest.raises(BadInput, match="no image nope"):
        plan_edit(store, "53/1/nope", EditOptions(prompt="x"))
    generated_source(api_env, store)
    with pytest.raises(BadInput, match="reference image not found"):
        plan_edit(store, "53/1/hero", EditOptions(prompt="x", references=["./missing.png"]))
    with pytest.raises(BadInput, match="invalid image reference|invalid post id"):
        plan_edit(store, "../etc/passwd", EditOptions(prompt="x"))


def test_edit_defaults_fall_back_when_the_source_model_takes_no_edits(api_env, local_store_url, tmp_path):
    from blog_images_tui.importing import import_image, read_import

    store = open_store(local_store_url)
    photo = tmp_path / "photo.webp"
    Image.new("RGB", (1000, 700), (10, 20, 30)).save(photo, format="WEBP")
    import_image(store, SECTION, read_import(str(photo)))
    request = plan_edit(store, "53/1/photo", EditOptions(prompt="x"))
    # imported: no model, a size gpt-image-2 cannot make (700 is not a multiple of 16) -> auto; format kept
    assert (request.model, request.size, request.output_format) == ("gpt-image-2", "auto", "webp")


def test_the_python_api_imports_edits_and_deletes(api_env, local_store_url, tmp_path):
    from blog_images_tui import api

    photo = tmp_path / "photo.png"
    photo.write_bytes(make_png(256, 256))
    imported = api.import_image(str(photo), 9, 1, store=local_store_url)
    assert imported.metadata["operation"] == "import"
    edited = api.edit("9/1/photo", "in blue", store=local_store_url, n=2, filename="blue", size="1024x1024")
    assert [item.filename for item in edited] == ["blue-1", "blue-2"]
    assert edited[0].metadata["source"]["sha256"] == imported.metadata["sha256"]
    with pytest.raises(BadInput, match="is the source of"):
        api.delete(9, 1, ["photo"], store=local_store_url)
    assert [entry.filename for entry in api.delete(9, 1, ["blue-2"], store=local_store_url)] == ["blue-2"]


def test_variants_the_store_refuses_are_each_kept_and_recover_finishes(api_env, tmp_path, monkeypatch, capsys):
    from blog_images_tui.cli import main
    from blog_images_tui.errors import NotStored
    from blog_images_tui.recovery import list_pending
    from blog_images_tui.storage import Store
    from tests.support.faulty_backend import FAULT_ENV, FaultyLocalBackend

    root = tmp_path / "static"
    root.mkdir()
    store = Store(str(root), FaultyLocalBackend())
    monkeypatch.setenv(FAULT_ENV, "metadata:eacces-link")  # every metadata write refused, the images land
    with pytest.raises(NotStored, match="2 of 2 images generated but not stored") as caught:
        run(api_env, store, ImageRequest(prompt="x", section=SECTION, filename="pair", n=2, size="1024x1024"))
    assert "blog-images recover" in caught.value.hint
    assert len(api_env.requests) == 1 and len(list_pending()) == 2
    monkeypatch.delenv(FAULT_ENV)
    assert main(["recover", "--store", str(root)]) == 0
    capsys.readouterr()
    local = open_store(str(root))
    metas = [local.read_metadata(SECTION, name) for name in ("pair-1", "pair-2")]
    assert [m["variant"] for m in metas] == [1, 2] and metas[0]["group_id"] == metas[1]["group_id"]
    assert list_pending() == [] and len(api_env.requests) == 1  # recovering never asks again


def test_images_stored_before_background_counted_in_the_job_id_are_still_recognised(api_env, local_store_url):
    from blog_images_tui.jobs import JobEngine, compute_job_id, prepare_job_request

    store = open_store(local_store_url)
    request = prepare_job_request(ImageRequest(prompt="x", section=SECTION, size="1024x1024",
                                               background="opaque"))
    old_id = compute_job_id(request, legacy=True)
    assert old_id != request.job_id  # background is part of the id now
    # an image stored by the previous version: its automatic name and metadata carry the old id
    from dataclasses import replace

    run(api_env, store, replace(request, job_id=old_id, filename=f"20261101T000000Z-{old_id[:12]}"))
    before = len(api_env.requests)

    async def rerun():
        engine = JobEngine(store, settings(api_env))
        try:
            return await engine.run([request])
        finally:
            await engine.aclose()

    (job,) = asyncio.run(rerun())
    assert job.state.value == "skipped" and len(api_env.requests) == before
