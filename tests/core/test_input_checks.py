"""Issue 10, item 14: bad input is refused with a clear line and its exit code, before anything is sent.

``--timeout nan`` (and other non-finite timeouts), ids of thousands of
digits in batch files, a CSV quote left open, CSV prompts kept exactly as
written, and store locations that are mistyped (a local store whose parent
folder does not exist, ``s3:/bucket`` with one slash).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from blog_images_tui.batchfile import read_entries
from blog_images_tui.errors import BadInput
from blog_images_tui.generation import ClientSettings
from tests.support.faults import Cli, generate_args, raw_files

pytestmark = pytest.mark.usefixtures("api_env")

HUGE = "1" * 5001


@pytest.mark.parametrize("value", ["nan", "inf", "-inf", "0", "-1"])
def test_a_timeout_that_is_not_a_positive_number_is_exit_2(cli: Cli, fake_api, local_store_url, value):
    run = cli.run(*generate_args(local_store_url, extra=("--timeout", value)))
    assert run.code == 2, run
    assert "--timeout" in run.stderr
    assert fake_api.requests == []


@pytest.mark.parametrize("value", [float("nan"), float("inf"), 0.0, True])
def test_client_settings_refuse_a_non_finite_timeout(value):
    with pytest.raises(BadInput):
        ClientSettings(api_key=None, timeout_s=value)


@pytest.mark.parametrize("kind, text", [
    ("jsonl", json.dumps({"post_id": 0, "section_id": 1, "prompt": "x"}).replace("0", HUGE, 1) + "\n"),
    ("csv", f"post_id,section_id,prompt\n{HUGE},1,x\n"),
    ("toml", f'[[image]]\npost_id = {HUGE}\nsection_id = 1\nprompt = "x"\n'),
], ids=["jsonl", "csv", "toml"])
def test_an_id_of_5001_digits_is_exit_2(cli: Cli, fake_api, local_store_url, tmp_path, kind, text):
    batch = tmp_path / f"jobs.{kind}"
    batch.write_text(text)
    run = cli.run("batch", str(batch), "--store", local_store_url)
    assert run.code == 2, run
    assert fake_api.requests == []
    assert "internal error" not in run.stderr


def test_a_cli_id_of_5001_digits_is_exit_2(cli: Cli, fake_api, local_store_url):
    run = cli.run(*generate_args(local_store_url, post=HUGE))
    assert run.code == 2, run
    assert fake_api.requests == []


def test_an_unclosed_csv_quote_is_refused_with_its_line(cli: Cli, fake_api, local_store_url, tmp_path):
    batch = tmp_path / "jobs.csv"
    batch.write_text('post_id,section_id,prompt\n1,1,a fox\n1,2,"a cat on a mat\n1,3,a dog\n1,4,a bird\n')
    run = cli.run("batch", str(batch), "--store", local_store_url)
    assert run.code == 2, run
    assert "line 3" in run.stderr
    assert fake_api.requests == []


def test_a_quoted_multi_line_csv_prompt_is_still_fine():
    entries = read_entries('post_id,section_id,prompt\n1,1,"two\nlines"\n1,2,x\n', "csv", "jobs.csv")
    assert [entry.fields["prompt"] for entry in entries] == ["two\nlines", "x"]


def test_a_csv_prompt_is_sent_exactly_as_written(cli: Cli, fake_api, local_store_url, tmp_path):
    batch = tmp_path / "jobs.csv"
    batch.write_text('post_id,section_id,prompt,size\n 1 , 2 ,"  a fox, in snow  ",64x64\n')
    run = cli.run("batch", str(batch), "--store", local_store_url)
    assert run.code == 0, run
    assert fake_api.requests[0].body["prompt"] == "  a fox, in snow  "


def test_a_local_store_whose_parent_does_not_exist_is_exit_6(cli: Cli, fake_api, tmp_path):
    mistyped = tmp_path / "no-such-folder" / "static"
    run = cli.run(*generate_args(str(mistyped)))
    assert run.code == 6, run
    assert "does not exist" in run.stderr
    assert fake_api.requests == []
    assert not mistyped.parent.exists()


@pytest.mark.parametrize("url", ["s3:/bucket/blog", "s3:bucket", "gs:/x"])
def test_a_url_with_one_slash_is_exit_6_and_creates_no_folder(cli: Cli, fake_api, url):
    run = cli.run(*generate_args(url))
    assert run.code == 6, run
    assert "mistyped URL" in run.stderr
    assert fake_api.requests == []
    assert not any(Path(cli.workdir).glob(url.split(":", 1)[0] + ":*"))
    assert raw_files(cli.workdir / url) == []
