"""Rules of the codebase: the core never imports textual; ids are allowlisted; secrets never leak."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

from blog_images_tui.errors import BadInput
from blog_images_tui.ids import SectionRef, parse_filename, parse_id
from blog_images_tui.imageformat import NotAnImage, sniff
from blog_images_tui.secrets import ApiKey, redact, register_secret, resolve_api_key
from blog_images_tui.testing.fake_images_api import make_image, make_png

ROOT = Path(__file__).resolve().parents[2]
UI_PARTS = {"tui", "cli"}  # the two faces


def core_modules() -> list[Path]:
    files = [p for p in (ROOT / "blog_images_tui").rglob("*.py") if UI_PARTS.isdisjoint(p.relative_to(ROOT).parts)]
    files += list((ROOT / "backends").rglob("*.py"))
    return files


def test_core_has_no_textual_import_statically():
    offenders = []
    for path in core_modules():
        for node in ast.walk(ast.parse(path.read_text())):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else \
                [node.module or ""] if isinstance(node, ast.ImportFrom) else []
            if any(name == "textual" or name.startswith("textual") for name in names):
                offenders.append(str(path.relative_to(ROOT)))
    assert offenders == []


def test_importing_the_core_and_cli_loads_no_textual_and_no_heavy_sdk():
    code = ("import sys, blog_images_tui.api, blog_images_tui.jobs, blog_images_tui.cli, backends.local;"
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('textual','openai','s3fs','botocore')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True).stdout
    assert out.strip() == "[]"


@pytest.mark.parametrize("value, expected", [("53", 53), (53, 53), ("intro", "intro"), ("a-b_c9", "a-b_c9"),
                                             ("x" * 100, "x" * 100)])
def test_valid_ids(value, expected):
    assert parse_id(value) == expected


@pytest.mark.parametrize("value", ["", "0", "-1", "007", "../etc", "/abs", "a/b", "a\\b", ".hidden", "a b", "a\x00b",
                                   "x" * 101, "intrо", "ａ", "a\nb", True, None, 0, -3, 1.5])
def test_invalid_ids(value):
    with pytest.raises(BadInput):
        parse_id(value)


@pytest.mark.parametrize("value", ["x.png", "hero_metadata", "../x", "", "a/b"])
def test_invalid_filenames(value):
    with pytest.raises(BadInput):
        parse_filename(value)


def test_section_ref_messages_are_one_line():
    with pytest.raises(BadInput) as caught:
        SectionRef.parse("x\ny", 1)
    assert "\n" not in str(caught.value)


@pytest.mark.parametrize("fmt", ["png", "jpeg", "webp"])
def test_sniff_reads_format_and_size(fmt):
    info = sniff(make_image(320, 208, fmt))
    assert (info.format, info.width, info.height) == (fmt, 320, 208)


def test_sniff_refuses_truncated_and_foreign_bytes():
    png = make_png(64, 64)
    for bad in (png[: len(png) // 2], b"GIF89a....", b"", b"hello"):
        with pytest.raises(NotAnImage):
            sniff(bad)


def test_key_lookup_order_and_redaction():
    env = {"OPENAI_AUTH_TOKEN": "sk-auth-token-1111111", "OPENAI_API_KEY": "sk-api-key-2222222"}
    assert resolve_api_key(None, env).source == "OPENAI_AUTH_TOKEN"
    assert resolve_api_key(None, {"OPENAI_API_KEY": "sk-api-key-2222222"}).source == "OPENAI_API_KEY"
    assert resolve_api_key("sk-explicit-33333333", env).source == "--api-key"
    assert resolve_api_key(None, {}) is None
    key = ApiKey("sk-secret-value-4444", "x")
    assert "sk-secret" not in repr(key) and "sk-secret" not in str(key)
    register_secret("plain-secret-without-prefix")
    assert redact("a plain-secret-without-prefix b sk-any-other-key-12345") == "a [REDACTED] b [REDACTED]"
