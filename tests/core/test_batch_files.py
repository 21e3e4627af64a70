"""Batch files: the three formats, defaults, and bad entries reported by line number."""

from __future__ import annotations

from pathlib import Path

import pytest

from blog_images_tui.batchfile import (
    BatchFileError,
    OptionDefaults,
    detect_format,
    load_batch,
    plan_batch,
    read_entries,
)
from blog_images_tui.config import parse_config
from blog_images_tui.errors import BadInput

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"
TEMPLATES = parse_config((EXAMPLES / "blog-images.toml").read_text(), "blog-images.toml")[1]


def plan(text: str, kind: str, defaults: OptionDefaults | None = None):
    entries = read_entries(text, kind, f"batch.{kind}")
    return plan_batch(entries, defaults or OptionDefaults(), TEMPLATES, f"batch.{kind}")


def problems_of(text: str, kind: str, defaults: OptionDefaults | None = None) -> list[tuple[int | None, str]]:
    with pytest.raises(BatchFileError) as caught:
        plan(text, kind, defaults)
    assert "\n" not in caught.value.message  # one line
    return caught.value.problems


def test_the_three_example_files_describe_the_same_images():
    jsonl, csv_, toml = (load_batch(str(EXAMPLES / f"batch.{ext}"), defaults=OptionDefaults(), templates=TEMPLATES)
                         for ext in ("jsonl", "csv", "toml"))
    assert len(jsonl) == 4 and len(csv_) == len(toml) == 3
    # Same fields, same job ids, whatever the format (so a file can be converted and re-run).
    assert [job.request.job_id for job in csv_] == [job.request.job_id for job in toml] == \
           [job.request.job_id for job in jsonl[:3]]
    hero = jsonl[0]
    assert hero.request.prompt == "STYLE: flat vector illustration, muted palette. SUBJECT: a lighthouse at dawn."
    assert hero.template == "hero" and hero.request.filename == "hero"
    assert [job.line for job in jsonl] == [2, 3, 4, 5]  # the comment line is line 1
    assert [job.line for job in csv_] == [2, 3, 4]
    assert [job.line for job in toml] == [2, 9, 15]
    assert jsonl[3].request.job_id == "harbour-night"
    assert all(job.cost.usd and job.cost.usd > 0 for job in jsonl)


def test_entry_beats_command_line_beats_model_default():
    text = ('{"post_id": 1, "section_id": 1, "prompt": "a", "size": "1024x1024"}\n'
            '{"post_id": 1, "section_id": 2, "prompt": "b"}\n'
            '{"post_id": 1, "section_id": 3, "prompt": "c", "model": "dall-e-3", "size": "1024x1024",'
            ' "quality": "hd"}\n')
    jobs = plan(text, "jsonl", OptionDefaults(size="1536x1024", quality="low"))
    assert [job.request.size for job in jobs[:2]] == ["1024x1024", "1536x1024"]
    assert jobs[1].request.model == "gpt-image-2" and jobs[1].request.quality == "low"
    assert jobs[2].request.model == "dall-e-3"
    assert plan(text, "jsonl")[1].request.size == "1792x1024"


def test_csv_empty_cells_take_the_defaults_and_vars_columns_fill_templates():
    text = "post_id,section_id,template,var.subject,size\n7,1,hero,a fox,\n7,2,hero,a hare,1024x1024\n"
    jobs = plan(text, "csv", OptionDefaults(size="1536x864"))
    assert [job.request.size for job in jobs] == ["1536x864", "1024x1024"]
    assert jobs[1].request.prompt.endswith("SUBJECT: a hare.")


def test_csv_vars_cell_may_hold_json():
    jobs = plan('post_id,section_id,template,vars\n7,1,diagram,"{""topic"": ""tides""}"\n', "csv")
    assert "of tides" in jobs[0].request.prompt


def test_csv_quoted_multiline_cell_keeps_line_numbers_right():
    text = 'post_id,section_id,prompt\n1,1,"two\nlines"\n1,x y,bad\n'
    assert problems_of(text, "csv")[0][0] == 4


@pytest.mark.parametrize("kind, text, line, message", [
    # JSON Lines
    ("jsonl", '{"post_id": 1, "section_id": 1, "prompt": "ok"}\n\n{"post_id": 1, "section_id": 2, "prompt": "x"',
     3, "not valid JSON"),
    ("jsonl", '{"post_id": 1, "section_id": 1, "prompt": "ok"}\n[1, 2]\n', 2, "expected a JSON object"),
    ("jsonl", '{"post_id": 1, "section_id": 1}\n', 1, "missing prompt (or template)"),
    ("jsonl", '{"post_id": 1, "prompt": "p"}\n', 1, "missing section_id"),
    ("jsonl", '{"post_id": "../etc", "section_id": 1, "prompt": "p"}\n', 1, "invalid post id"),
    ("jsonl", '{"post_id": 1, "section_id": 1, "promt": "typo"}\n', 1, "unknown field 'promt'"),
    ("jsonl", '{"post_id": 1, "section_id": 1, "prompt": "p", "size": "big"}\n', 1, "invalid size 'big'"),
    ("jsonl", '{"post_id": 1, "section_id": 1, "prompt": "p", "size": "1000x1000"}\n', 1, "multiples of 16"),
    ("jsonl", '{"post_id": 1, "section_id": 1, "template": "hero"}\n', 1, "needs variable 'subject'"),
    ("jsonl", '{"post_id": 1, "section_id": 1, "template": "nope"}\n', 1, "unknown template 'nope'"),
    ("jsonl", '{"post_id": 1, "section_id": 1, "prompt": "p", "template": "hero"}\n', 1, "not both"),
    ("jsonl", '{"post_id": 1, "section_id": 1, "prompt": "p", "vars": {"a": 1}}\n', 1, "without a template"),
    ("jsonl", '{"post_id": 1, "section_id": 1, "prompt": "p", "filename": "a.png"}\n', 1, "invalid filename"),
    ("jsonl", '{"post_id": 1, "section_id": 1, "prompt": "p", "id": "a/b"}\n', 1, "invalid id"),
    ("jsonl", '{"post_id": 1, "section_id": 1, "prompt": ["p"]}\n', 1, "prompt must be text"),
    ("jsonl", '{"post_id": 1, "section_id": 1, "prompt": "p", "format": "gif"}\n', 1, "format 'gif'"),
    # CSV
    ("csv", "post_id,section_id,prompt\n1,1,ok\n1,1 1,bad id\n", 3, "invalid section id"),
    ("csv", "post_id,section_id,promt\n1,1,x\n", 1, "unknown column 'promt'"),
    ("csv", "post_id,section_id,prompt\n1,1,ok\n1,2,x,extra\n", 3, "4 cells but the header has 3"),
    ("csv", "post_id,section_id,prompt,quality\n1,1,ok,low\n1,2,x,ultra\n", 3, "quality 'ultra'"),
    ("csv", 'post_id,section_id,template,vars\n1,1,hero,{bad json}\n', 2, "JSON object"),
    # TOML
    ("toml", '[[image]]\npost_id = 1\nsection_id = 1\nprompt = "ok"\n\n[[image]]\npost_id = 1\nsection_id = 2\n'
             'prompt = "p"\nsize = "huge"\n', 6, "invalid size"),
    ("toml", '[[image]]\npost_id = 1\nsection_id = 1\nprompt = "ok"\n[[image]]\npost_id = \n', 6, "not valid TOML"),
    ("toml", '[[image]]\npost_id = 1\nsection_id = 1\nprompt = "ok"\nsize = 1024\n', 1, "invalid size '1024'"),
    ("toml", '[[image]]\npost_id = 1\nsection_id = 1\nprompt = "ok"\nsize = true\n', 1, "size must be text"),
])
def test_a_bad_entry_is_reported_with_its_line(kind, text, line, message):
    problems = problems_of(text, kind)
    assert problems[0][0] == line, problems
    assert message in problems[0][1], problems


def test_every_bad_entry_is_reported_not_just_the_first():
    text = ('{"post_id": 1, "section_id": 1, "prompt": "ok"}\n'
            '{"post_id": 0, "section_id": 1, "prompt": "p"}\n'
            '{"post_id": 1, "section_id": 1, "prompt": "p", "size": "1x1"}\n'
            '{"post_id": 1, "section_id": 2, "prompt": "ok"}\n'
            '{"post_id": 1, "section_id": 1}\n')
    with pytest.raises(BatchFileError) as caught:
        plan(text, "jsonl")
    assert [line for line, _ in caught.value.problems] == [2, 3, 5]
    assert caught.value.message.startswith("batch.jsonl, line 2: ")
    assert "(and 2 more problems, lines 3, 5)" in caught.value.message
    assert caught.value.lines()[2].startswith("batch.jsonl, line 5: missing prompt")


def test_the_same_image_twice_is_refused_naming_both_lines():
    line = '{"post_id": 1, "section_id": 1, "prompt": "a fox"}\n'
    problems = problems_of(line + '{"post_id": 1, "section_id": 2, "prompt": "x"}\n' + line, "jsonl")
    assert problems == [(3, problems[0][1])] and "the same image as line 1" in problems[0][1]
    # ...but an id or a filename makes them two images:
    assert len(plan(line + line.replace("}", ', "id": "fox-2"}'), "jsonl")) == 2


def test_one_filename_twice_in_a_section_is_refused():
    problems = problems_of('{"post_id": 1, "section_id": 1, "prompt": "a", "filename": "hero"}\n'
                           '{"post_id": 1, "section_id": 1, "prompt": "b", "filename": "hero"}\n', "jsonl")
    assert problems[0][0] == 2 and "also used on line 1" in problems[0][1]


@pytest.mark.parametrize("kind, text", [("jsonl", "\n# only a comment\n"), ("csv", "post_id,section_id,prompt\n"),
                                        ("toml", "# nothing\n"), ("csv", "")])
def test_an_empty_batch_is_bad_input(kind, text):
    with pytest.raises(BatchFileError, match="no images"):
        read_entries(text, kind, "f")


def test_toml_refuses_other_tables():
    with pytest.raises(BatchFileError, match="unknown table or key 'images'"):
        read_entries('[[images]]\npost_id = 1\n', "toml", "f")


def test_format_detection():
    assert detect_format("a.JSONL") == "jsonl" and detect_format("a.ndjson") == "jsonl"
    assert detect_format("a.csv") == "csv" and detect_format("a.toml") == "toml" and detect_format("-") == "jsonl"
    assert detect_format("a.txt", "csv") == "csv"
    with pytest.raises(BadInput, match="--input-format"):
        detect_format("a.txt")


def test_a_missing_or_binary_file_is_bad_input(tmp_path):
    with pytest.raises(BadInput, match="not found"):
        load_batch(str(tmp_path / "nope.jsonl"), defaults=OptionDefaults(), templates={})
    binary = tmp_path / "b.jsonl"
    binary.write_bytes(b"\xff\xfe\x00bad")
    with pytest.raises(BadInput, match="not UTF-8"):
        load_batch(str(binary), defaults=OptionDefaults(), templates={})


def test_csv_with_a_byte_order_mark_from_a_spreadsheet():
    jobs = plan("\ufeffpost_id,section_id,prompt\n1,1,x\n", "csv")
    assert jobs[0].request.section.post_id == 1


def test_csv_cells_written_by_hand_with_spaces_after_commas():
    # Ids and options are trimmed; the prompt is sent exactly as written (issue 10, item 14).
    jobs = plan("post_id, section_id, prompt, size\n 53, 2, a cat on a mat, 1024x1024\n", "csv")
    request = jobs[0].request
    assert (request.section.post_id, request.section.section_id, request.prompt, request.size) == \
           (53, 2, " a cat on a mat", "1024x1024")
