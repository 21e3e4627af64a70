"""One naming rule for automatic names (issue 11, item 8): the CLI's generate, the job engine (the
app and batch) and the README's example all give ``YYYYMMDDTHHMMSSZ-`` and 12 hex characters; the
template used, with its variables, is in the metadata."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from blog_images_tui import api, layout
from blog_images_tui.generation import ImageRequest
from blog_images_tui.ids import SectionRef
from blog_images_tui.jobs import JobEngine
from blog_images_tui.storage import open_store
from blog_images_tui.templates import PromptTemplate

AUTOMATIC = re.compile(r"\d{8}T\d{6}Z-[0-9a-f]{12}")
README = (Path(__file__).resolve().parents[2] / "README.md").read_text()


def test_the_rule_and_the_readme_agree():
    assert AUTOMATIC.fullmatch(layout.timestamp_filename())
    assert AUTOMATIC.fullmatch(layout.job_filename("0123456789ab"))
    examples = re.findall(r"raw/(\d{8}T\d{6}Z-[0-9a-z]+)\.png", README)
    assert examples and all(AUTOMATIC.fullmatch(name) for name in examples)


def test_generate_and_the_engine_name_alike(api_env, memory_store_url):
    stored = api.generate("a fox", 5, 1, store=memory_store_url, size="1024x1024")
    assert AUTOMATIC.fullmatch(stored.filename), stored.filename


@pytest.mark.asyncio
async def test_an_engine_job_names_by_the_same_rule_with_its_id(api_env, memory_store_url):
    from blog_images_tui.api import client_settings

    engine = JobEngine(open_store(memory_store_url), client_settings(), force=True)
    try:
        [job] = await engine.run([ImageRequest(prompt="a fox", section=SectionRef(5, 1), size="1024x1024")])
    finally:
        await engine.aclose()
    assert AUTOMATIC.fullmatch(job.result.filename) and job.result.filename.endswith(job.id[:12])


def test_the_template_used_is_saved_in_the_metadata(api_env, memory_store_url, monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "blog-images.toml").write_text('[templates.hero]\nprompt = "STYLE: {style}. SUBJECT: {subject}."\n'
                                                'vars = { style = "flat" }\n')
    from blog_images_tui import cli

    assert cli.main(["generate", "--store", memory_store_url, "--template", "hero", "--var", "subject=owl",
                     "--post-id", "5", "--section-id", "2", "--filename", "owl", "--size", "1024x1024"]) == 0
    metadata = open_store(memory_store_url).read_metadata(SectionRef(5, 2), "owl")
    assert metadata["prompt"] == "STYLE: flat. SUBJECT: owl."
    assert metadata["template"] == {"name": "hero", "vars": {"style": "flat", "subject": "owl"}}
    plain = api.generate("by hand", 5, 2, store=memory_store_url, filename="plain", size="1024x1024")
    assert "template" not in plain.metadata


def test_used_names_every_variable():
    template = PromptTemplate(name="t", text="{a} and {b}", defaults={"b": "two"}, source="x", variables=("a", "b"))
    assert template.used({"a": 1}) == {"name": "t", "vars": {"a": "1", "b": "two"}}
