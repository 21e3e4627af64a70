"""Prompt templates and config files: format, locations, precedence, and their CLI."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from blog_images_tui.cli import main
from blog_images_tui.config import Defaults, load_config, parse_config, user_config_path
from blog_images_tui.errors import BadInput
from blog_images_tui.storage import open_store
from blog_images_tui.templates import make_template, parse_vars
from tests.support import files_under

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE_CONFIG = ROOT / "examples" / "blog-images.toml"


def template(text: str, **vars):
    table = {"prompt": text}
    if vars:
        table["vars"] = vars
    return make_template("t", table, "test.toml")


def test_the_original_example_renders():
    hero = template("STYLE: {style}. SUBJECT: {subject}.")
    assert hero.variables == ("style", "subject")
    assert hero.render({"style": "watercolor", "subject": "a fox"}) == "STYLE: watercolor. SUBJECT: a fox."


def test_defaults_fill_missing_variables_and_given_values_win():
    hero = template("{style} {subject}", style="ink")
    assert hero.render({"subject": "a fox"}) == "ink a fox"
    assert hero.render({"subject": "a fox", "style": "oil"}) == "oil a fox"


def test_a_missing_variable_is_bad_input_naming_it():
    with pytest.raises(BadInput) as caught:
        template("STYLE: {style}. SUBJECT: {subject}.").render({"style": "ink"})
    assert "'subject'" in caught.value.message and "--var subject=" in caught.value.message


def test_an_unknown_variable_is_bad_input():
    with pytest.raises(BadInput, match="no variable 'subjet'"):
        template("{subject}").render({"subjet": "typo"})


def test_literal_braces_and_values_with_braces_stay_literal():
    assert template("{{json}} {x}").render({"x": "{y}"}) == "{json} {y}"


@pytest.mark.parametrize("text", ["{a.b}", "{0}", "{}", "{x:>10}", "{x!r}", "{a[0]}", "unclosed {x", "stray }"])
def test_anything_but_plain_variables_is_refused_when_loading(text):
    with pytest.raises(BadInput) as caught:
        template(text)
    assert "test.toml" in caught.value.message


def test_defaults_for_variables_the_prompt_lacks_are_refused():
    with pytest.raises(BadInput, match="vars.colour is not a variable"):
        make_template("t", {"prompt": "{color}", "vars": {"colour": "red"}}, "test.toml")


@pytest.mark.parametrize("items, message", [(["novalue"], "NAME=VALUE"), (["a b=1"], "NAME=VALUE"),
                                             (["x=1", "x=2"], "twice")])
def test_bad_var_options(items, message):
    with pytest.raises(BadInput, match=message):
        parse_vars(items)


def test_var_values_may_contain_equals_signs():
    assert parse_vars(["q=a=b"]) == {"q": "a=b"}


def test_example_config_parses():
    defaults, templates = parse_config(EXAMPLE_CONFIG.read_text(), str(EXAMPLE_CONFIG))
    assert defaults.model == "gpt-image-2" and defaults.jobs == 3
    assert set(templates) == {"hero", "diagram"}
    assert templates["hero"].text == "STYLE: {style}. SUBJECT: {subject}."


@pytest.mark.parametrize("text, message", [
    ("[defaults]\nmodle = 'x'\n", "unknown key 'modle'"),
    ("[defaults]\njobs = 0\n", "jobs must be at least 1"),
    ("[defaults]\nbudget = 'lots'\n", "budget must be"),
    ("[templates.hero]\ndescription = 'no prompt'\n", "prompt is missing"),
    ("[templates.hero]\nprompt = 'x'\ncolour = 1\n", "unknown key 'colour'"),
    ("[templates]\nhero = 3\n", "must be a table"),
    ("[defaults\nmodel = 1\n", "line 1"),
])
def test_bad_config_files_name_the_file_and_problem(text, message):
    with pytest.raises(BadInput) as caught:
        parse_config(text, "/somewhere/blog-images.toml")
    assert message in caught.value.message and "/somewhere/blog-images.toml" in caught.value.message


def test_a_template_can_be_a_plain_string():
    _, templates = parse_config('[templates]\nquick = "a photo of {thing}"\n', "x.toml")
    assert templates["quick"].render({"thing": "tea"}) == "a photo of tea"


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def test_precedence_user_then_store_project_then_current_folder(tmp_path, monkeypatch):
    project = tmp_path / "site"
    store_dir = project / "static"
    store_dir.mkdir(parents=True)
    elsewhere = tmp_path / "cwd"
    elsewhere.mkdir()
    write(user_config_path(), '[defaults]\nmodel = "gpt-image-1.5"\nsize = "1024x1024"\nquality = "low"\n'
                              '[templates.a]\nprompt = "user a"\n[templates.u]\nprompt = "user only"\n')
    write(project / "blog-images.toml", '[defaults]\nsize = "1536x1024"\nquality = "high"\n'
                                        '[templates.a]\nprompt = "project a"\n[templates.b]\nprompt = "project b"\n')
    write(elsewhere / "blog-images.toml", '[defaults]\nquality = "medium"\n[templates.b]\nprompt = "cwd b"\n')
    config = load_config(open_store(str(store_dir)), cwd=elsewhere)
    assert config.defaults == Defaults(model="gpt-image-1.5", size="1536x1024", quality="medium")
    assert {name: t.text for name, t in config.templates.items()} == {
        "a": "project a", "b": "cwd b", "u": "user only"}
    assert config.sources == (str(user_config_path()), str(project / "blog-images.toml"),
                              str(elsewhere / "blog-images.toml"))


def test_a_file_inside_the_local_store_is_not_read(tmp_path):
    # A local store is usually the site's static/ folder: a config there would be published.
    store_dir = tmp_path / "static"
    write(store_dir / "blog-images.toml", '[templates.secret]\nprompt = "x"\n')
    assert load_config(open_store(str(store_dir)), cwd=tmp_path / "nowhere").templates == {}


def test_the_project_file_of_a_remote_store_is_at_its_root(memory_store_url, tmp_path):
    store = open_store(memory_store_url)
    store.fs.pipe_file(f"{store.root}/blog-images.toml", b'[templates.shared]\nprompt = "team {x}"\n')
    config = load_config(store, cwd=tmp_path)
    assert config.templates["shared"].render({"x": "style"}) == "team style"
    assert config.sources == (store.display_path("blog-images.toml"),)


@pytest.mark.s3
def test_the_project_file_can_live_in_an_s3_store(s3_store_url, tmp_path):
    store = open_store(s3_store_url)
    store.fs.pipe_file(f"{store.root}/blog-images.toml", b'[defaults]\nquality = "low"\n')
    assert load_config(store, cwd=tmp_path).defaults.quality == "low"


# -- the commands ---------------------------------------------------------------------------------

def test_templates_command_lists_templates_and_files(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    write(tmp_path / "blog-images.toml", EXAMPLE_CONFIG.read_text())
    assert main(["templates", "--store", str(tmp_path / "static")]) == 0
    out = capsys.readouterr().out
    assert "hero  - Wide header image for a post" in out and "STYLE: {style}. SUBJECT: {subject}." in out
    assert "diagram" in out and str(tmp_path / "blog-images.toml") in out

    assert main(["templates", "--json", "--store", str(tmp_path / "static")]) == 0
    data = json.loads(capsys.readouterr().out)
    assert [t["name"] for t in data["templates"]] == ["diagram", "hero"]
    assert data["templates"][1]["variables"] == ["style", "subject"]


def test_templates_command_fills_one_in(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    write(tmp_path / "blog-images.toml", EXAMPLE_CONFIG.read_text())
    assert main(["templates", "hero", "--var", "subject=a fox"]) == 0
    assert capsys.readouterr().out == "STYLE: flat vector illustration, muted palette. SUBJECT: a fox.\n"
    assert main(["templates", "nope"]) == 2
    assert "unknown template 'nope' (known: diagram, hero)" in capsys.readouterr().err


def test_templates_command_without_files_says_where_to_put_them(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main(["templates"]) == 0
    out = capsys.readouterr().out
    assert "no templates" in out and str(user_config_path()) in out


def test_generate_with_a_template(api_env, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    write(tmp_path / "blog-images.toml", EXAMPLE_CONFIG.read_text())
    store = tmp_path / "static"
    code = main(["generate", "--template", "hero", "--var", "subject=a lighthouse", "--post-id", "53",
                 "--section-id", "1", "--filename", "hero", "--store", str(store), "--json"])
    assert code == 0, capsys.readouterr().err
    result = json.loads(capsys.readouterr().out)
    assert result["metadata"]["prompt"] == "STYLE: flat vector illustration, muted palette. SUBJECT: a lighthouse."
    assert api_env.requests[0].body["prompt"] == result["metadata"]["prompt"]
    assert result["metadata"]["cost_usd"] > 0


@pytest.mark.parametrize("args, message", [
    (["--template", "hero"], "needs variable 'subject'"),
    (["--template", "hero", "--var", "subject=x", "--var", "mood=y"], "no variable 'mood'"),
    (["--template", "nope"], "unknown template 'nope'"),
    (["--template", "hero", "--var", "subject=x", "--prompt", "also"], "not both"),
    (["--var", "subject=x", "--prompt", "p"], "--var needs --template"),
    ([], "give --prompt"),
])
def test_generate_template_mistakes_are_bad_input_and_send_nothing(api_env, tmp_path, monkeypatch, capsys,
                                                                   args, message):
    monkeypatch.chdir(tmp_path)
    write(tmp_path / "blog-images.toml", EXAMPLE_CONFIG.read_text())
    store = tmp_path / "static"
    store.mkdir()
    code = main(["generate", "--post-id", "53", "--section-id", "1", "--store", str(store), *args])
    err = capsys.readouterr().err
    assert code == 2 and message in err and err.count("\n") == 1
    assert api_env.requests == []
    assert files_under(store) == []
