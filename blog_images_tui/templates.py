"""Named prompt templates with variables, e.g. ``STYLE: {style}. SUBJECT: {subject}.``

Templates live in TOML config files (see :mod:`blog_images_tui.config` for
where)::

    [templates.hero]
    description = "Wide header image for a post"
    prompt = "STYLE: {style}. SUBJECT: {subject}."
    vars = { style = "flat vector illustration" }   # defaults, optional

A variable is ``{name}`` (letters, digits, ``_``); ``{{`` and ``}}`` are
literal braces. Nothing else is interpreted: no attribute access, no format
specs, so a template can never reach into Python objects. Rendering with a
variable missing, or with one the template does not have, is a
:class:`~blog_images_tui.errors.BadInput` naming it.
"""

from __future__ import annotations

import re
import string
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from blog_images_tui.errors import BadInput
from blog_images_tui.ids import SLUG_PATTERN

VARIABLE_PATTERN = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,63}")
TEMPLATE_KEYS = ("prompt", "description", "vars")


@dataclass(frozen=True)
class PromptTemplate:
    """One named template and where it was defined."""

    name: str
    text: str
    description: str = ""
    #: default values for some variables
    defaults: Mapping[str, str] = field(default_factory=dict)
    source: str = ""
    variables: tuple[str, ...] = ()

    def used(self, values: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """What the metadata keeps of this template for ``values``: its name and every variable's value."""
        given = {name: str(value) for name, value in dict(values or {}).items()}
        return {"name": self.name, "vars": {name: given.get(name, self.defaults.get(name, ""))
                                            for name in self.variables}}

    def render(self, values: Mapping[str, Any] | None = None) -> str:
        """The prompt with every variable filled from ``values``, then the defaults."""
        values = dict(values or {})
        unknown = sorted(set(values) - set(self.variables))
        if unknown:
            have = ", ".join(self.variables) or "none"
            raise BadInput(f"template {self.name!r} has no variable {unknown[0]!r} (its variables: {have})")
        merged = {**self.defaults, **{key: _value_text(key, value) for key, value in values.items()}}
        missing = [name for name in self.variables if name not in merged]
        if missing:
            hint = " ".join(f"--var {name}=..." for name in missing)
            raise BadInput(f"template {self.name!r} needs variable {missing[0]!r}"
                           + (f" (and {', '.join(repr(m) for m in missing[1:])})" if missing[1:] else "")
                           + f": give {hint}")
        return _substitute(self.text, merged)

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "prompt": self.text, "description": self.description,
                "variables": list(self.variables), "defaults": dict(self.defaults), "source": self.source}


def _value_text(name: str, value: Any) -> str:
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise BadInput(f"variable {name!r} must be text or a number, not {type(value).__name__}")
    return str(value)


def _parse(text: str, where: str) -> list[tuple[str, str | None]]:
    """(literal, variable) pieces of a template; BadInput for anything but ``{name}``."""
    try:
        pieces = list(string.Formatter().parse(text))
    except ValueError as error:  # "Single '}' encountered", "unmatched '{'"
        raise BadInput(f"{where}: {error} (write {{{{ and }}}} for literal braces)") from None
    out = []
    for literal, name, spec, conversion in pieces:
        if name is not None:
            if not VARIABLE_PATTERN.fullmatch(name) or spec or conversion:
                shown = "{" + name + (f"!{conversion}" if conversion else "") + (f":{spec}" if spec else "") + "}"
                raise BadInput(f"{where}: {shown} is not a variable; use {{name}} with letters, digits and _")
        out.append((literal, name))
    return out


def _substitute(text: str, values: Mapping[str, str]) -> str:
    return "".join(literal + (values[name] if name is not None else "") for literal, name in _parse(text, "template"))


def variables_of(text: str, where: str = "template") -> tuple[str, ...]:
    """The variable names of a template text, in order of first use."""
    seen: dict[str, None] = {}
    for _literal, name in _parse(text, where):
        if name is not None:
            seen.setdefault(name, None)
    return tuple(seen)


def make_template(name: str, table: Any, source: str) -> PromptTemplate:
    """Build one template from its TOML table (or a plain prompt string)."""
    where = f"{source}: [templates.{name}]"
    if not SLUG_PATTERN.fullmatch(name):
        raise BadInput(f"{source}: invalid template name {name!r}: use letters, digits, '-' and '_'")
    if isinstance(table, str):
        table = {"prompt": table}
    if not isinstance(table, dict):
        raise BadInput(f"{where} must be a table with a prompt")
    unknown = sorted(set(table) - set(TEMPLATE_KEYS))
    if unknown:
        raise BadInput(f"{where}: unknown key {unknown[0]!r} (known: {', '.join(TEMPLATE_KEYS)})")
    text = table.get("prompt")
    if not isinstance(text, str) or not text.strip():
        raise BadInput(f"{where}: prompt is missing or empty")
    description = table.get("description", "")
    if not isinstance(description, str):
        raise BadInput(f"{where}: description must be text")
    variables = variables_of(text, where)
    defaults_table = table.get("vars", {})
    if not isinstance(defaults_table, dict):
        raise BadInput(f"{where}: vars must be a table of default values")
    defaults = {}
    for key, value in defaults_table.items():
        if key not in variables:
            raise BadInput(f"{where}: vars.{key} is not a variable of the prompt (its variables: "
                           f"{', '.join(variables) or 'none'})")
        try:
            defaults[key] = _value_text(key, value)
        except BadInput as error:
            raise BadInput(f"{where}: {error.message}") from None
    return PromptTemplate(name=name, text=text, description=description, defaults=defaults, source=source,
                          variables=variables)


def templates_from_table(table: Any, source: str) -> dict[str, PromptTemplate]:
    """Every template of a config file's ``[templates]`` table."""
    if not isinstance(table, dict):
        raise BadInput(f"{source}: templates must be a table of [templates.NAME] tables")
    return {name: make_template(name, value, source) for name, value in table.items()}


def parse_vars(items: Iterable[str] | None) -> dict[str, str]:
    """``["key=value", ...]`` from ``--var`` into a dict; BadInput for a malformed one."""
    values: dict[str, str] = {}
    for item in items or ():
        key, sep, value = item.partition("=")
        key = key.strip()
        if not sep or not VARIABLE_PATTERN.fullmatch(key):
            raise BadInput(f"invalid --var {item!r}: use NAME=VALUE (NAME of letters, digits and _)")
        if key in values:
            raise BadInput(f"--var {key} given twice")
        values[key] = value
    return values


def find_template(templates: Mapping[str, PromptTemplate], name: str, *, sources: Iterable[str] = ()) -> PromptTemplate:
    """The template called ``name``, or BadInput listing the known ones and where we looked."""
    template = templates.get(name)
    if template is not None:
        return template
    known = ", ".join(sorted(templates)) or "none"
    looked = ", ".join(sources)
    raise BadInput(f"unknown template {name!r} (known: {known})" + (f"; read {looked}" if looked else "")
                   , hint="see `blog-images templates`")
