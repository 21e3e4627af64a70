"""The first ten minutes from a fresh clone (issue 11, items 9, 10 and 12): the examples run as the
README says and explain themselves without arguments, dev.py says what it is doing, the README's
template commands and demo are complete, and it links nothing outside the repository."""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support import files_under

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text()
EXAMPLES = ["generate_from_python.py", "generate_via_subprocess.py"]


def without_venv_on_path() -> dict:
    """The environment of a shell where .venv is not activated: its bin/ is not on PATH."""
    venv_bin = str(Path(sys.executable).parent)
    path = os.pathsep.join(p for p in os.environ["PATH"].split(os.pathsep) if p != venv_bin)
    return {**os.environ, "PATH": path}


@pytest.mark.parametrize("script", EXAMPLES)
def test_an_example_without_arguments_prints_its_usage(script):
    result = subprocess.run([sys.executable, str(ROOT / "examples" / script)], capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == 2
    assert result.stderr.startswith(f"usage: python3 dev.py run examples/{script}") and "Traceback" not in result.stderr


@pytest.mark.parametrize("script", EXAMPLES)
def test_an_example_run_by_a_python_without_blog_images_says_how_to_run_it(script, tmp_path):
    # -I -S: no site-packages, so the project is not importable (a system python3 on a fresh clone).
    result = subprocess.run([sys.executable, "-I", "-S", str(ROOT / "examples" / script), "53", "1", "x"],
                            capture_output=True, text=True, timeout=60, cwd=tmp_path,
                            env={"PATH": without_venv_on_path()["PATH"]})
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert "blog-images is not installed for this Python" in result.stderr and "dev.py run" in result.stderr


def test_the_subprocess_example_runs_with_the_venv_not_activated(api_env, local_store_url):
    env = {**without_venv_on_path(), "BLOG_IMAGES_STORE": local_store_url}
    result = subprocess.run([sys.executable, str(ROOT / "examples" / "generate_via_subprocess.py"), "53", "1",
                             "A lighthouse"], capture_output=True, text=True, env=env, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "stored " in result.stdout and len(files_under(local_store_url)) == 2


def load_dev():
    spec = importlib.util.spec_from_file_location("dev_under_test", ROOT / "dev.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_dev_py_says_what_it_runs_and_runs_a_file_with_the_venv_python(monkeypatch, tmp_path, capsys):
    dev = load_dev()
    # A .venv already set up (its stamp matches), and exec replaced by a record: nothing is installed or run.
    monkeypatch.setattr(dev, "VENV", tmp_path)
    monkeypatch.setattr(dev, "PYTHON", tmp_path / "python")
    monkeypatch.setattr(dev, "BIN", tmp_path)
    monkeypatch.setattr(dev, "STAMP", tmp_path / "stamp")
    (tmp_path / "python").write_text("")
    import hashlib

    (tmp_path / "stamp").write_text(hashlib.sha256((ROOT / "pyproject.toml").read_bytes()).hexdigest())
    ran = []
    monkeypatch.setattr(dev.os, "execv", lambda path, args: ran.append(args))
    monkeypatch.chdir(tmp_path)
    dev.main(["test"])
    assert "running pytest on the whole suite (several minutes" in capsys.readouterr().err
    assert ran[-1] == [str(tmp_path / "python"), "-m", "pytest"]
    monkeypatch.chdir(tmp_path)
    dev.main(["run", "examples/generate_from_python.py", "53"])
    assert ran[-1] == [str(tmp_path / "python"), "examples/generate_from_python.py", "53"]
    assert Path.cwd() == tmp_path  # the file is named from where the user is
    assert dev.main([]) == 2 and "dev.py run FILE" in capsys.readouterr().err


def test_the_readme_says_where_the_template_file_is_and_its_commands_work_there(tmp_path):
    # As the README says: the example file copied beside static/, the commands run from that folder
    # (a repo root: examples/ beside it), the example batch planned with the templates it names.
    assert "cp examples/blog-images.toml ." in README
    shutil.copy(ROOT / "examples" / "blog-images.toml", tmp_path / "blog-images.toml")
    shutil.copytree(ROOT / "examples", tmp_path / "examples")
    (tmp_path / "static").mkdir()
    def cli(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "blog_images_tui", *args], cwd=tmp_path,
                              capture_output=True, text=True, timeout=60)
    filled = cli("templates", "hero", "--var", "subject=owl")
    assert filled.returncode == 0 and "owl" in filled.stdout, filled.stderr
    assert "blog-images batch examples/batch.jsonl --dry-run" in README
    planned = cli("batch", "examples/batch.jsonl", "--dry-run")
    assert planned.returncode == 0, planned.stderr
    assert "nothing was sent" in planned.stdout + planned.stderr
    assert not (tmp_path / "examples" / "static").exists()


def test_the_demo_says_how_to_stop_the_fake_server():
    demo = README[README.index("fake_images_api --port"):]
    demo = demo[:demo.index("```")]
    assert "&\n" in demo and "kill %1" in demo


def test_the_readme_links_nothing_outside_the_repository():
    # A parent-folder path ("../shared/...") leaves the repository; an ellipsis ("GET .../images") does not.
    assert re.findall(r"(?<!\.)\.\./\S*", README) == []
    for target in re.findall(r"\]\(([^)#]+)\)", README):
        if not re.match(r"https?://", target):
            assert (ROOT / target).exists(), target
    outside = [url for url in re.findall(r"\]\((https?://[^)]+)\)", README)]
    assert outside == []
