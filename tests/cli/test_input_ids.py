"""Input side: ids and filenames that could escape a section's ``raw/`` folder.

The CLI refuses them (exit 2, one escaped line, no request, nothing written),
and property-based tests show that whatever the validator does accept lands
inside its own section's ``raw/`` folder: as a resolved path on local disk
and as a key on S3 (moto).
"""

from __future__ import annotations

import asyncio
import posixpath
import shutil
import tempfile
import uuid
from pathlib import Path

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from blog_images_tui import api, layout
from blog_images_tui.errors import BadInput
from blog_images_tui.ids import SLUG_PATTERN, SectionRef, parse_filename, parse_id
from blog_images_tui.storage import open_store
from blog_images_tui.testing.fake_images_api import make_png
from tests.support import TEST_KEY
from tests.support.faults import SMALL, Cli, tree

# The list, and the look-alikes and tricks around it.
HOSTILE = {
    "dotdot": "../../etc",
    "absolute": "/abs",
    "slash": "a/b",
    "backslash": "a\\b",
    "empty": "",
    "newline": "a\nb",
    "escape-sequence": "a\x1b[31mred",
    "tab": "a\tb",
    "300-chars": "a" * 300,
    "cyrillic-a": "\u0430bc",
    "fullwidth": "\uff41\uff42\uff43",
    "fullwidth-digits": "\uff11\uff12",
    "arabic-digit": "\u0663",
    "zero-width-space": "intro\u200b",
    "rtl-override": "hero\u202egnp",
    "fullwidth-solidus": "a\uff0fb",
    "dot": ".",
    "dotdot-only": "..",
    "leading-dash": "-rf",
    "space": "a b",
    "colon": "c:x",
    "percent-encoded": "%2e%2e",
    "tilde": "~root",
}
ARGS = {"post": "--post-id", "section": "--section-id", "filename": "--filename"}


def _argv(store: str, position: str, value: str) -> list[str]:
    values = {"post": "1", "section": "2", "filename": "hero"}
    argv = ["generate", "--prompt", "a lighthouse", *SMALL, "--store", store]
    for name, option in ARGS.items():
        # --option=VALUE: a value starting with '-' is still a value
        argv.append(f"{option}={value if name == position else values[name]}")
    return argv


@pytest.mark.parametrize("value", list(HOSTILE.values()), ids=list(HOSTILE))
@pytest.mark.parametrize("position", list(ARGS))
def test_hostile_ids_and_filenames_exit_2_without_a_request(cli: Cli, api_env, local_store_url, position, value):
    run = cli.run(*_argv(local_store_url, position, value))
    assert run.code == 2, run
    errors = [line for line in run.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "invalid" in errors[0], run
    assert "\x1b" not in run.stderr and "\u202e" not in run.stderr  # shown escaped, never interpreted
    assert api_env.requests == []
    assert tree(local_store_url) == []  # not even a folder


@pytest.mark.parametrize("kwargs", [
    {"post_id": "1\x00"}, {"section_id": "\x00"}, {"filename": "hero\x00.png"},
    {"post_id": 0}, {"post_id": -3}, {"post_id": True}, {"section_id": "007"}, {"filename": "hero_metadata"},
    {"filename": "hero.png"}, {"filename": ".hidden"},
], ids=lambda kwargs: repr(kwargs))
def test_values_argv_cannot_carry_are_refused_by_the_api(debug_log, api_env, local_store_url, kwargs):
    arguments = {"post_id": 1, "section_id": 2, "filename": "hero", **kwargs}
    with pytest.raises(BadInput) as caught:
        asyncio.run(api.agenerate("a lighthouse", arguments.pop("post_id"), arguments.pop("section_id"),
                                  store=local_store_url, api_key=TEST_KEY, size="64x64", **arguments))
    assert caught.value.exit_code == 2
    assert "\x00" not in str(caught.value)
    assert api_env.requests == []
    assert tree(local_store_url) == []


# ---------------------------------------------------------------------------------- properties

NASTY_ALPHABET = "aZ09-_./\\\x00\n\r\t :~%\u202e\u200b\uff0f\u0430\u0663"
candidate = st.one_of(
    st.from_regex(SLUG_PATTERN, fullmatch=True),
    st.text(alphabet=NASTY_ALPHABET, max_size=12),
    st.text(max_size=120),
    st.integers(min_value=-5, max_value=10**12).map(str),
    st.sampled_from(list(HOSTILE.values())),
)
ids = st.one_of(candidate, st.integers(min_value=-5, max_value=10**12))
# Leaning towards accepted values, so the "where does it land" tests see many of them.
slug = st.from_regex(SLUG_PATTERN, fullmatch=True)
def _weighted(*choices):  # st.one_of flattens nested one_ofs into equal weights; this keeps ours
    return st.integers(0, len(choices) - 1).flatmap(lambda index: choices[index])


leaning_ids = _weighted(slug, st.integers(min_value=1, max_value=10**12), slug, ids)
leaning_names = _weighted(slug, slug, slug, candidate)


def _accepted(post, section, filename):
    try:
        accepted = SectionRef.parse(post, section), parse_filename(filename)
    except BadInput:
        event("refused")
        return None
    event("accepted")
    return accepted


@given(value=st.one_of(candidate, st.integers()))
def test_anything_the_id_validator_accepts_is_a_positive_int_or_an_ascii_slug(value):
    try:
        parsed = parse_id(value)
    except BadInput:
        return
    if isinstance(parsed, int):
        assert parsed > 0 and str(parsed).isascii() and str(parsed).isdigit()
    else:
        assert parsed.isascii() and 1 <= len(parsed) <= 100
        assert not set(parsed) - set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_")
        assert parsed[0] not in "-_"


def _expected_parts(section: SectionRef) -> tuple[str, ...]:
    return ("content", "posts", str(section.post_id), "sections", str(section.section_id), "raw")


PNG = make_png(8, 8)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(post=leaning_ids, section=leaning_ids, filename=leaning_names)
def test_accepted_names_land_inside_their_raw_folder_on_local_disk(post, section, filename):
    accepted = _accepted(post, section, filename)
    if accepted is None:
        return
    section_ref, name = accepted
    root = Path(tempfile.mkdtemp(prefix="blog-images-prop-"))
    try:
        store = open_store(str(root / "static"))
        stored = store.save(section_ref, name, "png", PNG, {"prompt": "x"})
        static = (root / "static").resolve()
        raw = static.joinpath(*_expected_parts(section_ref))
        for written in (stored.image_path, stored.metadata_path):
            resolved = Path(written).resolve()
            assert resolved.parent == raw and resolved.is_file()
            assert resolved.relative_to(static).parts[:-1] == _expected_parts(section_ref)
        # And nothing else anywhere: the whole tree is the two files of that one folder.
        files = sorted(p.resolve() for p in root.rglob("*") if p.is_file())
        assert files == sorted([raw / f"{name}.png", raw / f"{name}_metadata.json"])
    finally:
        shutil.rmtree(root)


@settings(max_examples=500, deadline=None)
@given(post=leaning_ids, section=leaning_ids, filename=leaning_names)
def test_accepted_names_map_to_keys_inside_their_raw_prefix_on_s3(post, section, filename):
    accepted = _accepted(post, section, filename)
    if accepted is None:
        return
    section_ref, name = accepted
    store = open_store("s3://a-bucket/blog")
    prefix = "blog/" + "/".join(_expected_parts(section_ref)) + "/"
    for relative in (layout.image_path(section_ref, name, "png"), layout.metadata_path(section_ref, name)):
        bucket, key, _version = store.fs.split_path(store.fs._strip_protocol(store.display_path(relative)))
        assert bucket == "a-bucket"
        assert key.startswith(prefix) and "/" not in key[len(prefix):]
        assert posixpath.normpath(key) == key and not key.startswith("/")
        assert all(part not in ("", ".", "..") for part in key.split("/"))


@pytest.fixture(scope="module")
def moto_bucket_store(moto_s3):
    """One bucket for the S3 property test; examples use unique sections."""
    return moto_s3, moto_s3.new_bucket("props")


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(post=leaning_ids, section=leaning_ids, filename=leaning_names)
def test_accepted_names_are_written_inside_their_raw_prefix_on_moto(moto_bucket_store, monkeypatch, post,
                                                                     section, filename):
    moto_s3, bucket = moto_bucket_store
    accepted = _accepted(post, section, filename)
    if accepted is None:
        return
    section_ref, name = accepted
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", moto_s3.endpoint_url)
    prefix = f"p-{uuid.uuid4().hex[:8]}"  # a fresh store root per example
    store = open_store(f"s3://{bucket}/{prefix}")
    store.save(section_ref, name, "png", PNG, {"prompt": "x"})
    client = moto_s3.client()
    keys = sorted(item["Key"] for item in client.list_objects_v2(Bucket=bucket, Prefix=f"{prefix}/")["Contents"])
    raw = f"{prefix}/" + "/".join(_expected_parts(section_ref))
    assert keys == sorted([f"{raw}/{name}.png", f"{raw}/{name}_metadata.json"])
    assert client.get_object(Bucket=bucket, Key=f"{raw}/{name}.png")["Body"].read() == PNG
