"""The template picker above the prompt: choose a prompt template, fill its variables.

Templates come from the config files (:mod:`blog_images_tui.templates`, read
by the screen in a worker and handed over with :meth:`TemplatePicker.set_templates`).
Choosing one shows an input per variable; on every change the picker renders
the template with the core and posts :class:`TemplatePicker.Filled` with the
prompt text, which the form puts in its prompt. A missing variable is named
inline, in the core's words, and left as ``{name}`` in the text.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from textual import on
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.widgets import Input, Label, Select, Static

from blog_images_tui.errors import BadInput
from blog_images_tui.templates import PromptTemplate

#: Variable names longer than this are cut in their label (the input's tooltip has the whole name).
VAR_LABEL_MAX = 16


class TemplatePicker(Vertical):
    """The prompt's header row (its ``label``, then the template choice), the variables and a help line."""

    @dataclass
    class Filled(Message):
        """The chosen template, rendered with the variables typed so far: the prompt to show."""

        picker: TemplatePicker
        text: str

    def __init__(self, label: str, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.label = label
        self.templates: dict[str, PromptTemplate] = {}
        #: the chosen template, None for a prompt written by hand
        self.template: PromptTemplate | None = None
        #: the prompt text the template last filled in (to tell a hand-edited prompt from it)
        self.filled_prompt: str | None = None
        self._help = "Fill the prompt from a template of blog-images.toml"

    def compose(self) -> ComposeResult:
        with Horizontal(id="prompt-row"):
            yield Label(self.label, classes="form-label")
            yield Label("Template", id="template-label")
            yield Select([], id="template", compact=True, allow_blank=True, prompt="loading…", disabled=True,
                         tooltip=self._help)
        yield Vertical(id="template-vars")
        yield Static("", id="template-help", markup=False)

    @property
    def select(self) -> Select:
        return self.query_one("#template", Select)

    def set_templates(self, templates: Mapping[str, PromptTemplate], searched: tuple[str, ...] = (),
                      problem: str | None = None) -> None:
        """Offer ``templates`` (those of the open store); ``problem`` when they could not be read."""
        self.templates = dict(templates)
        picker = self.select
        chosen = self.template
        picker.set_options([(name, name) for name in sorted(self.templates)])
        picker.disabled = not self.templates
        if problem:
            picker.prompt = "unreadable"
            self._help = problem
        elif not self.templates:
            picker.prompt = "none found"
            self._help = "No [templates.NAME] in " + (", ".join(searched) or "any config file")
        else:
            picker.prompt = "none"
            self._help = "Fill the prompt from a template: " + ", ".join(sorted(self.templates))
        picker.tooltip = self._help
        if chosen is not None and self.templates.get(chosen.name) == chosen:
            picker.value = chosen.name  # the same template in the new store: keep it and its values
        # otherwise set_options left the picker blank, and its Changed message clears the variables

    def clear(self) -> None:
        """Choose no template (the prompt is the user's, or a reused image's)."""
        self.select.clear()

    @on(Select.Changed, "#template")
    async def _template_chosen(self, event: Select.Changed) -> None:
        event.stop()
        # The picker's value now, not the event's: set_templates may blank it and choose again at once.
        value = self.select.value
        template = self.templates.get(str(value)) if value is not Select.NULL else None
        if template == self.template:
            return
        self.template = template
        box = self.query_one("#template-vars", Vertical)
        await box.remove_children()
        if template is None:
            self.filled_prompt = None
            self._show_help("")
            self.select.tooltip = self._help
            return
        self.select.tooltip = f"{template.name}: {template.text}\nfrom {template.source}"
        rows = []
        label_width = min(VAR_LABEL_MAX, max((len(name) for name in template.variables), default=0)) + 3
        for name in template.variables:
            default = template.defaults.get(name, "")
            label = Label(name, classes="var-label")
            label.styles.width = label_width  # the inputs line up under each other
            rows.append(Horizontal(
                label,
                Input(default, id=f"var-{name}", classes="template-var", compact=True,
                      placeholder=default or "required", tooltip=f"{{{name}}} in template {template.name}"),
                classes="var-row"))
        await box.mount_all(rows)
        self._fill()

    @on(Input.Changed, ".template-var")
    def _variable_changed(self, event: Input.Changed) -> None:
        event.stop()
        self._fill()

    def values(self) -> dict[str, str]:
        """The variables typed so far; an empty input is not given (its default, if any, applies)."""
        values = {}
        for field in self.query(".template-var").results(Input):
            if field.value and field.id:
                values[field.id.removeprefix("var-")] = field.value
        return values

    def _fill(self) -> None:
        """Render the template into a prompt; a missing variable is said inline, in the core's words."""
        template = self.template
        if template is None:
            return
        values = self.values()
        try:
            text, problem = template.render(values), ""
        except BadInput as error:
            problem = str(error)
            # Show where the missing ones go: their {name} stays in the prompt until they are given.
            missing = {name: "{" + name + "}" for name in template.variables
                       if name not in values and name not in template.defaults}
            try:
                text = template.render({**values, **missing})
            except BadInput:
                text = template.text
        self.filled_prompt = text
        self.post_message(self.Filled(self, text))
        self._show_help(problem)

    def _show_help(self, problem: str) -> None:
        template = self.template
        help_line = self.query_one("#template-help", Static)
        if problem:
            help_line.update(problem)
        elif template is not None:
            help_line.update(template.description or f"from {template.source}")
        else:
            help_line.update("")
        help_line.set_class(bool(problem), "-error")
        help_line.set_class(template is not None, "-visible")

    def first_missing_variable(self) -> Input | None:
        """The first variable input left empty that has no default (where to put the cursor)."""
        defaults = self.template.defaults if self.template else {}
        return next((field for field in self.query(".template-var").results(Input)
                     if not field.value and field.id and field.id.removeprefix("var-") not in defaults), None)

    def used(self, prompt: str) -> dict | None:
        """The chosen template and its variables, if ``prompt`` is what it filled in (else the user's)."""
        if self.template is None or prompt != self.filled_prompt:
            return None
        return self.template.used(self.values())

    def problem_with(self, prompt: str) -> BadInput | None:
        """Why the chosen template cannot fill ``prompt`` (None: it can, or none is chosen).

        A prompt edited by hand after the template filled it is the user's own: it is sent as it is.
        """
        template = self.template
        if template is None or prompt != self.filled_prompt:
            return None
        try:
            template.render(self.values())
        except BadInput as error:
            return error
        return None
