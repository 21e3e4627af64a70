"""Secrets: the API key (and the store's credentials) never leave the process.

Every CLI case of the fault suite already runs with the known key and
``-vv --log-file`` and is checked by the harness (stdout, stderr, the log
file, every file under the test folder including the recovery folder and the
stores, every object of watched S3 buckets). The cases here go after the
places a secret could still slip through: error messages that carry it,
tracebacks, the recovery note, AWS credentials in botocore's debug log, the
``--api-key`` flag, and a Textual crash report.
"""

from __future__ import annotations

import io
import json

import pytest
from rich.console import Console

from tests.support import TEST_KEY
from tests.support.faults import FAULT_ENV, Cli, deny_put_policy, generate_args, pending_folders

AWS_SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYzEXAMPLEKEY"
AWS_SESSION = "FwoGZXIvYXdzEBYaDEXAMPLESESSIONTOKENabcdefghijklmnop0123456789"


def test_api_key_flag_works_and_the_key_is_never_printed(cli: Cli, fake_api, local_store_url):
    run = cli.run(*generate_args(local_store_url, extra=("--api-key", TEST_KEY, "--base-url", fake_api.base_url)))
    assert run.code == 0, run
    assert "visible to other users" in run.stderr  # the warning, without the key (the harness checks)
    assert fake_api.requests[0].headers["authorization"] == f"Bearer {TEST_KEY}"


def test_a_store_error_carrying_the_key_is_redacted_everywhere(cli: Cli, api_env, faulty_backend, local_store_url):
    """The error text goes to stderr, the log, and the recovery note's reason: all redacted."""
    run = cli.run(*generate_args(faulty_backend + local_store_url, extra=("--filename", "hero")),
                  env={FAULT_ENV: "image:raise-key"})
    assert run.code == 7, run
    assert "write refused for Bearer [REDACTED]" in run.stderr
    [kept] = pending_folders(cli.workdir / "recovery")
    note = json.loads((kept / "target.json").read_text())
    assert "[REDACTED]" in note["reason"]


def test_an_internal_error_traceback_is_redacted(cli: Cli, api_env, faulty_backend, local_store_url):
    run = cli.run(*generate_args(faulty_backend + local_store_url), env={FAULT_ENV: "open:raise-key"})
    assert run.code == 1, run
    assert "Traceback" in run.stderr  # -v shows it...
    assert "backend exploded with token=[REDACTED]" in run.stderr  # ...redacted
    assert api_env.requests == []


@pytest.mark.s3
def test_aws_credentials_never_reach_output_or_the_debug_log(cli: Cli, api_env, moto_s3, s3_store_url, monkeypatch):
    # botocore logs every request's headers at DEBUG, X-Amz-Security-Token included.
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", AWS_SECRET)
    monkeypatch.setenv("AWS_SESSION_TOKEN", AWS_SESSION)
    cli.secrets += [AWS_SECRET, AWS_SESSION]
    bucket = s3_store_url.split("/")[2]
    cli.watch_bucket(moto_s3, bucket)
    run = cli.run(*generate_args(s3_store_url))
    assert run.code == 0, run
    assert "X-Amz-Security-Token" in run.log  # the header was logged, its value was not


@pytest.mark.s3
def test_store_option_credentials_are_kept_out_of_output_and_the_recovery_note(cli: Cli, api_env, moto_s3,
                                                                             s3_store_url):
    bucket = s3_store_url.split("/")[2]
    cli.watch_bucket(moto_s3, bucket)
    cli.secrets += [AWS_SECRET, AWS_SESSION]
    moto_s3.client().put_bucket_policy(Bucket=bucket, Policy=deny_put_policy(bucket, "*_metadata.json"))
    run = cli.run(*generate_args(s3_store_url, extra=(
        "--store-option", "key=AKIAEXAMPLEKEYID0001", "--store-option", f"secret={AWS_SECRET}",
        "--store-option", f"token={AWS_SESSION}")))
    assert run.code == 7, run
    [kept] = pending_folders(cli.workdir / "recovery")
    note = json.loads((kept / "target.json").read_text())
    assert set(note["store_options"]) <= {"endpoint_url", "profile", "region", "cache_control", "public_base_url",
                                          "anon"}


# ---------------------------------------------------------------------------------- the TUI


@pytest.mark.asyncio
async def test_a_textual_crash_report_never_shows_the_key(memory_store_url, api_env, monkeypatch):
    """An unhandled exception in the app: Textual prints a traceback (with locals) on exit."""
    from blog_images_tui.tui.app import make_app
    from blog_images_tui.tui.screens.main import MainScreen

    def explode(self) -> None:
        authorization = f"Bearer {TEST_KEY}"  # a local holding the key, as the SDK's frames do
        raise RuntimeError(f"forced crash while sending {authorization}")

    monkeypatch.setattr(MainScreen, "action_jobs", explode)
    app = make_app(memory_store_url, preview="text")  # the key comes from OPENAI_AUTH_TOKEN
    app.animation_level = "none"
    # What Textual prints to stderr when it exits after the crash, recorded.
    app.error_console = Console(record=True, width=200, file=io.StringIO(), stderr=True)
    with pytest.raises(RuntimeError, match="forced crash"):
        async with app.run_test(size=(100, 30)) as pilot:
            await pilot.press("j")
            await pilot.pause()
    report = app.error_console.export_text()
    assert "forced crash while sending Bearer [REDACTED]" in report
    assert TEST_KEY not in report
    assert "locals" not in report
