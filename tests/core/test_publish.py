"""Publishing: derivatives that decode as they claim, valid markup, alt text, idempotency.

Real encoders on real images (made here with Pillow), real stores (local disk
and memory; S3 on moto is in test_publish_s3.py).
"""

from __future__ import annotations

import asyncio
import hashlib
import io
import json
import threading
from pathlib import Path

import pytest
from PIL import Image, ImageCms

from blog_images_tui import encoding, layout
from blog_images_tui.encoding import DIGITAL_SOURCE_TYPE, SourceFacts
from blog_images_tui.errors import BadInput
from blog_images_tui.markup import derive_alt
from blog_images_tui.publish import Publisher, image_metadata, read_manifest, set_alt
from blog_images_tui.storage import open_store
from blog_images_tui.webplan import PublishSettings, derivative_name, plan
from tests.support.publish import (
    PROMPT,
    SECTION,
    SMALL,
    make_image,
    parse_html,
    publish,
    srcset_widths,
    stored,
    web_files,
)


@pytest.fixture(params=["local", "memory"])
def store(request):
    return open_store(request.getfixturevalue(f"{request.param}_store_url"))



# -- the files ------------------------------------------------------------------------------------
def test_every_derivative_decodes_as_what_it_claims(store):
    stored(store)
    result = publish(store, settings=PublishSettings(widths=(64, 128), formats=("avif", "webp", "jpeg")))
    files = web_files(store)
    entries = result.manifest["derivatives"]
    assert {(e["format"], e["width"]) for e in entries} == {(f, w) for f in ("avif", "webp", "jpeg") for w in (64, 128)}
    for entry in entries:
        name = entry["path"].rsplit("/", 1)[-1]
        data = files[name]
        image = Image.open(io.BytesIO(data))
        image.load()
        assert image.format == encoding.FORMATS[entry["format"]].pillow
        assert image.size == (entry["width"], entry["height"])
        assert entry["height"] == round(entry["width"] * 180 / 320)  # aspect kept
        assert entry["bytes"] == len(data) and entry["sha256"] == hashlib.sha256(data).hexdigest()
        assert entry["content_type"] == f"image/{'jpeg' if entry['format'] == 'jpeg' else entry['format']}"
        assert name.endswith({"avif": ".avif", "webp": ".webp", "jpeg": ".jpg"}[entry["format"]])
        # provenance: the re-encoded file says it is AI-generated
        assert DIGITAL_SOURCE_TYPE.encode() in image.info["xmp"] if isinstance(image.info.get("xmp"), bytes) \
            else DIGITAL_SOURCE_TYPE in str(image.info.get("xmp"))
    assert set(files) == {e["path"].rsplit("/", 1)[-1] for e in entries} | {"hero_web.json"}
    # the source in raw/ is never touched
    assert store.read_bytes(layout.image_path(SECTION, "hero", "png")) == make_image()


def test_no_upscale_and_the_source_width_once_when_every_width_is_wider(store):
    stored(store, data=make_image(300, 150))
    result = publish(store, settings=PublishSettings(widths=(200, 480, 960), formats=("webp",)))
    assert [e["width"] for e in result.manifest["derivatives"]] == [200]
    assert any("480, 960" in note and "never upscaled" in note for note in result.manifest["notes"])

    stored(store, "small", data=make_image(100, 50))
    small = publish(store, "small", settings=PublishSettings(widths=(480, 960), formats=("webp",)))
    assert [(e["width"], e["height"]) for e in small.manifest["derivatives"]] == [(100, 50)]


def test_transparency_is_kept_and_a_jpeg_fallback_becomes_png(store):
    stored(store, data=make_image(mode="RGBA", transparent=True))
    result = publish(store, settings=PublishSettings(widths=(128,), formats=("avif", "webp"), fallback="jpeg"))
    manifest = result.manifest
    assert manifest["source"]["transparent"] is True
    assert manifest["settings"]["fallback_format"] == "png"
    assert any("transparent" in note and "PNG" in note for note in manifest["notes"])
    files = web_files(store)
    for entry in manifest["derivatives"]:
        image = Image.open(io.BytesIO(files[entry["path"].rsplit("/", 1)[-1]])).convert("RGBA")
        low, high = image.getchannel("A").getextrema()
        assert low < 20 and high == 255, entry["format"]  # the transparent third stays transparent
    assert {e["format"] for e in manifest["derivatives"]} == {"avif", "webp", "png"}
    assert "jpeg" not in manifest["settings"]["source_formats"]


def test_an_opaque_image_with_an_alpha_channel_keeps_its_jpeg_fallback(store):
    stored(store, data=make_image(mode="RGBA", transparent=False))
    result = publish(store, settings=PublishSettings(widths=(64,), formats=("webp",), fallback="jpeg"))
    assert result.manifest["settings"]["fallback_format"] == "jpeg"
    assert result.manifest["notes"] == []


def test_the_colour_profile_survives(store):
    profile = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    stored(store, data=make_image(icc=profile))
    result = publish(store, settings=PublishSettings(widths=(64,), formats=("avif", "webp", "jpeg")))
    assert result.manifest["source"]["icc_profile"] is True
    for name, data in web_files(store).items():
        if not name.endswith(".json"):
            assert Image.open(io.BytesIO(data)).info.get("icc_profile") == profile, name


# -- the markup -----------------------------------------------------------------------------------
def test_the_html_is_a_valid_picture_with_sizes_dimensions_and_escaped_alt(store):
    stored(store)
    manifest = publish(store, settings=PublishSettings(widths=(64, 128, 256), formats=("avif", "webp", "jpeg"))
                       ).manifest
    tags = parse_html(manifest["html"])
    assert [tag for tag, _ in tags] == ["picture", "source", "source", "img"]
    by_url = {e["url"]: e for e in manifest["derivatives"]}
    (_, avif), (_, webp), (_, img) = tags[1:]
    assert (avif["type"], webp["type"]) == ("image/avif", "image/webp")  # AVIF before WebP
    for attrs, fmt in ((avif, "avif"), (webp, "webp"), (img, "jpeg")):
        assert attrs["sizes"]  # every width-described srcset has sizes
        candidates = srcset_widths(attrs["srcset"])
        assert [w for _, w in candidates] == [64, 128, 256]
        for url, width in candidates:
            assert by_url[url]["format"] == fmt and by_url[url]["width"] == width
    widest = by_url[img["src"]]
    assert widest["format"] == "jpeg" and widest["width"] == 256
    assert (int(img["width"]), int(img["height"])) == (widest["width"], widest["height"])
    assert img["loading"] == "lazy" and img["decoding"] == "async"
    assert img["alt"] == derive_alt(PROMPT) == 'A "lighthouse" <b>at</b> dawn & dusk'
    assert "<b>" not in manifest["html"] and "&quot;lighthouse&quot;" in manifest["html"]
    assert manifest["alt_source"] == "prompt"
    assert manifest["markdown"] == f'![A "lighthouse" \\<b\\>at\\</b\\> dawn & dusk]({widest["url"]})'


def test_urls_are_root_relative_or_use_the_configured_prefix(local_store_url, memory_store_url):
    store = open_store(local_store_url)
    stored(store)
    entry = publish(store).manifest["derivatives"][0]
    assert entry["url"].startswith("/content/posts/53/sections/1/web/hero-64w-")
    cdn = open_store(memory_store_url, url_prefix="https://cdn.example/blog/")
    stored(cdn)
    assert publish(cdn).manifest["derivatives"][0]["url"].startswith(
        "https://cdn.example/blog/content/posts/53/sections/1/web/hero-64w-")


# -- names and idempotency -----------------------------------------------------------------------
def test_names_change_whenever_what_shapes_the_bytes_changes():
    facts = SourceFacts(320, 180, False, False)
    encoder = encoding.encoder_id()
    base = {d.name for d in plan("hero", "a" * 64, facts, SMALL.validated(), encoder).derivatives}
    variants = {
        "quality": PublishSettings(widths=(64, 128), quality=(("avif", 40), ("webp", 70))),
        "widths": PublishSettings(widths=(65, 129)),
    }
    for what, settings in variants.items():
        names = {d.name for d in plan("hero", "a" * 64, facts, settings.validated(), encoder).derivatives}
        assert not names & base, what
    assert not base & {d.name for d in plan("hero", "b" * 64, facts, SMALL.validated(), encoder).derivatives}
    assert not base & {d.name for d in plan("hero", "a" * 64, facts, SMALL.validated(), encoder + "x").derivatives}
    # one format's quality changes only that format's names
    webp_only = {d.name for d in plan("hero", "a" * 64, facts, PublishSettings(
        widths=(64, 128), quality=(("webp", 70),)).validated(), encoder).derivatives}
    assert {n for n in base if n.endswith(".avif")} <= webp_only
    assert derivative_name("hero", "a" * 64, "webp", 64, 36, 80, encoder) == derivative_name(
        "hero", "a" * 64, "webp", 64, 36, 80, encoder)


def test_publishing_again_changes_nothing_and_says_so(store, local_store_url):
    stored(store)
    first = publish(store)
    before = web_files(store)
    times = {p.name: p.stat().st_mtime_ns for p in Path(local_store_url).rglob("web/*")}
    again = publish(store)
    assert (again.created, again.manifest_written, again.changed) == ([], False, False)
    assert sorted(again.reused) == sorted(first.created)
    assert web_files(store) == before
    assert again.manifest == first.manifest
    if store.backend.name == "local":
        assert {p.name: p.stat().st_mtime_ns for p in Path(local_store_url).rglob("web/*")} == times


def test_other_settings_add_only_the_missing_derivatives(store):
    stored(store)
    first = publish(store, settings=PublishSettings(widths=(64,)))
    second = publish(store, settings=PublishSettings(widths=(64, 128)))
    assert sorted(second.reused) == sorted(first.created)
    assert len(second.created) == 2 and all("-128w-" in name for name in second.created)
    assert second.manifest_written
    assert len(read_manifest(store, SECTION, "hero")["derivatives"]) == 4


def test_a_run_cut_short_is_completed_by_the_next(store):
    """Derivatives left without a manifest (a killed run) are checked, reused, and the manifest written."""
    stored(store)
    full = publish(store)
    manifest_rel = layout.web_manifest_path(SECTION, "hero")
    store.remove_file(manifest_rel)  # as if the run had died before writing it
    again = publish(store)
    assert again.created == [] and sorted(again.reused) == sorted(full.created)
    assert again.manifest == full.manifest


def test_a_file_under_a_derivative_name_that_is_not_that_file_is_refused(store):
    stored(store)
    full = publish(store)
    store.remove_file(layout.web_manifest_path(SECTION, "hero"))
    victim = full.manifest["derivatives"][0]["path"].rsplit("/", 1)[-1]
    store.remove_file(f"{layout.web_dir(SECTION)}/{victim}")
    store.create(f"{layout.web_dir(SECTION)}/{victim}", b"not an image", "image/avif")
    from blog_images_tui.errors import StoreUnusable

    with pytest.raises(StoreUnusable, match="not the AVIF"):
        publish(store)
    assert read_manifest(store, SECTION, "hero") is None  # no manifest naming a bad file


# -- alt text -------------------------------------------------------------------------------------
def test_alt_comes_from_the_option_then_the_metadata_then_the_prompt(store):
    stored(store)
    assert publish(store).manifest["alt_source"] == "prompt"
    result = publish(store, alt="A lighthouse at dawn")
    assert (result.manifest["alt"], result.manifest["alt_source"]) == ("A lighthouse at dawn", "metadata")
    assert image_metadata(store, SECTION, "hero")["alt"] == "A lighthouse at dawn"
    assert publish(store).manifest["alt"] == "A lighthouse at dawn"  # kept from the metadata


def test_setting_alt_changes_only_alt_in_the_metadata_and_updates_the_snippets(store):
    stored(store)
    publish(store)
    before = image_metadata(store, SECTION, "hero")
    result = set_alt(store, SECTION, "hero", 'Two "quoted" words & <more>')
    assert (result.previous, result.metadata_changed, result.manifest_changed) == (None, True, True)
    after = image_metadata(store, SECTION, "hero")
    assert {k: v for k, v in after.items() if k != "alt"} == before
    manifest = read_manifest(store, SECTION, "hero")
    assert manifest["alt"] == after["alt"] and manifest["alt_source"] == "metadata"
    img = [attrs for tag, attrs in parse_html(manifest["html"]) if tag == "img"][0]
    assert img["alt"] == 'Two "quoted" words & <more>'
    again = set_alt(store, SECTION, "hero", 'Two "quoted" words & <more>')
    assert (again.metadata_changed, again.manifest_changed) == (False, False)


def test_alt_of_an_unpublished_image_sets_the_metadata_only(store):
    stored(store)
    result = set_alt(store, SECTION, "hero", "Alt")
    assert result.metadata_changed and not result.manifest_changed
    assert read_manifest(store, SECTION, "hero") is None


@pytest.mark.parametrize("text", ["line\x00nul", "bell\x07", "x" * 1001, "rtl \u202e override"])
def test_bad_alt_text_is_refused_before_anything_is_written(store, text):
    stored(store)
    before = image_metadata(store, SECTION, "hero")
    with pytest.raises(BadInput):
        set_alt(store, SECTION, "hero", text)
    with pytest.raises(BadInput):
        publish(store, alt=text)
    assert image_metadata(store, SECTION, "hero") == before
    assert web_files(store) == {}


def test_two_concurrent_alt_edits_never_lose_one(local_store_url):
    """Each edit replaces the version before it: one replaces the original, the other replaces that one."""
    store = open_store(local_store_url)
    stored(store)
    publish(store)
    for round_ in range(8):
        original = image_metadata(store, SECTION, "hero").get("alt")
        texts = [f"round {round_} by A", f"round {round_} by B"]
        barrier = threading.Barrier(2)
        results = {}

        def edit(text, barrier=barrier, results=results):
            barrier.wait()
            results[text] = set_alt(open_store(local_store_url), SECTION, "hero", text)

        threads = [threading.Thread(target=edit, args=(text,)) for text in texts]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        a, b = (results[text] for text in texts)
        # A then B, or B then A; never both on top of the original (a lost update)
        assert (a.previous, b.previous) in {(original, a.alt), (b.alt, original)}, (original, a, b)
        last = b.alt if b.previous == a.alt else a.alt
        assert image_metadata(store, SECTION, "hero")["alt"] == last
        assert read_manifest(store, SECTION, "hero")["alt"] == last  # manifest and metadata agree


def test_publishing_a_missing_image_is_bad_input_and_writes_nothing(store):
    with pytest.raises(BadInput, match="no image ghost"):
        publish(store, "ghost")
    assert web_files(store) == {}


def test_a_whole_section_publishes_at_once(store):
    for name in ("one", "two", "three"):
        stored(store, name)

    async def go():
        async with Publisher(store) as publisher:
            return await publisher.publish_many([(SECTION, n) for n in ("one", "two", "three", "ghost")], SMALL)

    results = asyncio.run(go())
    assert [type(r).__name__ for r in results] == ["PublishResult"] * 3 + ["BadInput"]
    names = set(web_files(store))
    assert {"one_web.json", "two_web.json", "three_web.json"} <= names
    assert len(names) == 3 + 3 * 4


def test_manifest_is_json_with_the_source_and_no_timestamp(store):
    stored(store)
    manifest = publish(store).manifest
    raw = store.read_bytes(layout.web_manifest_path(SECTION, "hero"))
    assert json.loads(raw) == manifest
    assert manifest["source"]["sha256"] == hashlib.sha256(make_image()).hexdigest()
    assert manifest["source"]["name"] == "hero.png"
    assert {"path", "url", "format", "width", "height", "bytes", "sha256"} <= set(manifest["derivatives"][0])


def test_doctor_finds_derivatives_without_a_manifest_and_manifests_naming_missing_files(store):
    from blog_images_tui.doctor import Problem, examine

    stored(store)
    stored(store, "other")
    full = publish(store)
    publish(store, "other")
    assert examine(store).healthy
    web = layout.web_dir(SECTION)
    store.remove_file(f"{web}/{full.manifest['derivatives'][0]['path'].rsplit('/', 1)[-1]}")
    store.remove_file(layout.web_manifest_path(SECTION, "other"))
    found = {(f.problem, f.relative) for f in examine(store).findings}
    assert (Problem.MANIFEST_NAMES_MISSING_FILES, layout.web_manifest_path(SECTION, "hero")) in found
    assert any(problem is Problem.DERIVATIVES_WITHOUT_MANIFEST and "/other-" in relative
               for problem, relative in found)
    assert len(found) == 2
    publish(store)
    publish(store, "other")
    assert examine(store).healthy  # publishing again repairs both


def test_api_publish_takes_the_store_project_files_publish_table(local_store_url):
    from blog_images_tui import api

    store = open_store(local_store_url)
    stored(store)
    Path(local_store_url).parent.joinpath("blog-images.toml").write_text(
        '[publish]\nwidths = [48, 96]\nformats = ["webp", "jpeg"]\n')
    result = api.publish(53, 1, "hero", store=local_store_url, quality={"jpeg": 60})
    assert [(e["format"], e["width"]) for e in result.manifest["derivatives"]] == [
        ("webp", 48), ("jpeg", 48), ("webp", 96), ("jpeg", 96)]
    assert result.manifest["settings"]["quality"] == {"jpeg": 60}
    assert api.publish(53, 1, "hero", store=local_store_url, widths=(64,)).manifest["settings"]["widths"] == [64]
    assert api.set_alt(53, 1, "hero", "Alt from the API", store=local_store_url).manifest_changed
