"""The ``tui`` command and the core's independence from Textual (plain tests, no app running)."""

from __future__ import annotations

from blog_images_tui import cli


def test_tui_command_passes_its_options_to_the_app(monkeypatch, tmp_path):
    started = []
    from blog_images_tui.tui.app import BlogImagesApp

    monkeypatch.setattr(BlogImagesApp, "run", lambda self: started.append(self.config))
    assert cli.main(["tui", "--store", str(tmp_path), "--jobs", "3", "--preview", "text"]) == 0
    assert cli.main(["--store", "memory://x"]) == 0  # no subcommand: the app, same defaults
    assert started[0].store_url == str(tmp_path) and started[0].concurrency == 3 and started[0].preview == "text"
    assert started[1].store_url == "memory://x" and started[1].concurrency == 2


def test_tui_command_refuses_bad_options(capsys):
    assert cli.main(["tui", "--jobs", "0"]) == 2
    assert "error: --jobs must be between 1 and 8" in capsys.readouterr().err


def test_the_core_imports_no_textual():
    import subprocess
    import sys

    code = ("import sys, blog_images_tui.api, blog_images_tui.jobs, blog_images_tui.cli; "
            "assert 'textual' not in sys.modules, 'the core imported textual'")
    subprocess.run([sys.executable, "-c", code], check=True)

