"""Input side: prompts. Unusual text is stored exactly; too much text is refused before any request."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from blog_images_tui import api
from blog_images_tui.errors import BadInput
from blog_images_tui.models import MODELS
from tests.support import TEST_KEY
from tests.support.faults import Cli, generate_args, raw_files, tree

RAW = "content/posts/1/sections/2/raw"

PROMPTS = {
    "emoji": "A 🐱‍👤 ninja cat with 👩🏽‍🚀 on the 🌕, flags 🇯🇵 🏳️‍🌈, keycap 1️⃣",
    "rtl": "منارة عند الفجر — מגדלור בשחר — \u202eoverride\u202c and \u200fmarks\u200e",
    "combining": "cafe\u0301 vs caf\u00e9, Z\u0351\u0300a\u0324l\u0347g\u0310o",  # NFD stays NFD
    "quotes-and-controls": 'line one\nline two\t"quoted" \\backslash\\ {braces} <tags> &amp; \' %s %(x)s',
    "5000-chars": ("Ünïcödé ✓ lighthouse 灯台 منارة 🌅 " * 200)[:5000],
}


def _stored_metadata(root: str) -> dict:
    [meta] = [name for name in raw_files(root) if name.endswith("_metadata.json")]
    return json.loads((Path(root) / RAW / meta).read_text(encoding="utf-8"))


@pytest.mark.parametrize("prompt", list(PROMPTS.values()), ids=list(PROMPTS))
def test_unusual_prompts_round_trip_exactly(cli: Cli, api_env, local_store_url, prompt):
    run = cli.run(*generate_args(local_store_url, prompt=prompt, extra=("--json",)))
    assert run.code == 0, run
    assert api_env.requests[0].body["prompt"] == prompt  # sent as is
    assert _stored_metadata(local_store_url)["prompt"] == prompt  # stored as is
    assert json.loads(run.stdout)["metadata"]["prompt"] == prompt  # and reported as is
    shown = cli.run("show", "1", "2", raw_files(local_store_url)[0], "--store", local_store_url)
    assert shown.code == 0 and json.loads(shown.stdout)["prompt"] == prompt


def test_5000_character_prompt_is_5000_characters():
    assert len(PROMPTS["5000-chars"]) == 5000


@pytest.mark.parametrize("model, size", [("gpt-image-2", "64x64"), ("dall-e-3", "1024x1024"),
                                         ("dall-e-2", "256x256")])
def test_prompt_over_the_models_limit_exits_2_without_a_request(cli: Cli, api_env, local_store_url, model, size):
    limit = MODELS[model].prompt_limit
    prompt = ("ü" * (limit + 1))
    run = cli.run("generate", "--prompt", prompt, "--post-id", "1", "--section-id", "2", "--model", model,
                  "--size", size, "--store", local_store_url)
    assert run.code == 2, run
    assert f"{limit + 1} characters" in run.stderr and f"at most {limit}" in run.stderr
    assert prompt not in run.stderr  # the message names the length, not the text
    assert api_env.requests == []
    assert tree(local_store_url) == []


def test_prompt_at_the_models_limit_is_sent(cli: Cli, api_env, local_store_url):
    prompt = "ü" * MODELS["dall-e-2"].prompt_limit
    run = cli.run("generate", "--prompt", prompt, "--post-id", "1", "--section-id", "2", "--model", "dall-e-2",
                  "--size", "256x256", "--store", local_store_url)
    assert run.code == 0, run
    assert _stored_metadata(local_store_url)["prompt"] == prompt


@pytest.mark.parametrize("prompt", ["", "   ", "\n\t "], ids=["empty", "spaces", "whitespace"])
def test_empty_prompts_exit_2_without_a_request(cli: Cli, api_env, local_store_url, prompt):
    run = cli.run(*generate_args(local_store_url, prompt=prompt))
    assert run.code == 2, run
    assert "prompt is empty" in run.stderr
    assert api_env.requests == []
    assert tree(local_store_url) == []


def test_nul_in_a_prompt_is_refused_without_a_request(debug_log, api_env, local_store_url):
    with pytest.raises(BadInput, match="NUL"):
        asyncio.run(api.agenerate("a light\x00house", 1, 2, store=local_store_url, api_key=TEST_KEY, size="64x64"))
    assert api_env.requests == []
    assert tree(local_store_url) == []
