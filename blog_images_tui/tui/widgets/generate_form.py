"""The Generate form: where, what, and how, checked with the core's rules as you type.

Ids and the filename are validated by :func:`blog_images_tui.ids.parse_id` and
:func:`~blog_images_tui.ids.parse_filename` on every keystroke; the whole
request by :meth:`ImageRequest.validated` on submit, so the form refuses
exactly what the CLI refuses, with the same words.

A :class:`~blog_images_tui.tui.widgets.template_picker.TemplatePicker` above
the prompt fills it from the config files' prompt templates. Beside the
submit button, :func:`blog_images_tui.pricing.estimate` says what the
request would cost.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.message import Message
from textual.validation import ValidationResult, Validator
from textual.widgets import Button, Input, Label, Select, Static, TextArea
from textual.widgets.select import NoSelection

from blog_images_tui.config import Defaults
from blog_images_tui.editing import EditOptions
from blog_images_tui.errors import BadInput, BlogImagesError
from blog_images_tui.generation import ImageRequest
from blog_images_tui.ids import PostId, SectionRef, parse_filename, parse_id
from blog_images_tui.models import DEFAULT_MODEL, DEFAULT_SIZE, MODELS, OUTPUT_FORMATS, ModelSpec
from blog_images_tui.pricing import CostEstimate, estimate
from blog_images_tui.storage import ImageEntry
from blog_images_tui.templates import PromptTemplate
from blog_images_tui.tui.cost import cost_help, cost_text
from blog_images_tui.tui.messages import ErrorReported
from blog_images_tui.tui.widgets.edit_fields import EditFields
from blog_images_tui.tui.widgets.template_picker import TemplatePicker

#: Streamed previews to ask for when the model can stream.
PARTIAL_IMAGES = 2

#: The cost does not depend on where an image goes: estimates use this while the ids are not valid yet.
_ANY_SECTION = SectionRef(1, 1)


class CoreRule(Validator):
    """A Textual validator that asks the core: the failure text is the core's own message."""

    def __init__(self, what: str, *, optional: bool = False) -> None:
        super().__init__()
        self.what = what
        self.optional = optional

    def validate(self, value: str) -> ValidationResult:
        if self.optional and not value:
            return self.success()
        try:
            if self.what == "filename":
                parse_filename(value)
            else:
                parse_id(value, what=self.what)
        except BadInput as error:
            return self.failure(str(error))
        return self.success()


def model_options(extra: str | None = None, today: date | None = None) -> list[tuple[Text, str]]:
    """(label, model) for the model picker: retired models say so; ``extra`` is a name not in the table.

    Labels stay on one line (cut with an ellipsis in a narrow list, whole in the JSON of ``models``).
    """
    today = today or date.today()
    options = []
    for name, spec in MODELS.items():
        label = Text(name, no_wrap=True, overflow="ellipsis")
        if spec.retired_on is not None:
            label.append(" retired" if spec.retired_on <= today else f" retires {spec.retired_on.isoformat()}",
                         "italic")
        options.append((label, name))
    if extra is not None and extra not in MODELS:
        options.append((Text(f"{extra} (unknown)", no_wrap=True, overflow="ellipsis"), extra))
    return options


def _sizes_for(spec: ModelSpec | None) -> tuple[str, ...]:
    return spec.suggested_sizes() if spec else MODELS[DEFAULT_MODEL].suggested_sizes()


def _default_size(spec: ModelSpec | None, sizes: tuple[str, ...]) -> str:
    if DEFAULT_SIZE in sizes:
        return DEFAULT_SIZE
    if spec and spec.default_size in sizes:
        return spec.default_size
    return sizes[0]


class GenerateForm(VerticalScroll):
    """Post, section, prompt, model, size, quality, format and filename; ``ctrl+s`` submits."""

    BINDINGS = [Binding("ctrl+s", "submit", "Generate", id="submit-generation")]

    @dataclass
    class Submitted(Message):
        """A valid request, ready for the job engine."""

        request: ImageRequest

    @dataclass
    class EditSubmitted(Message):
        """An edit to plan: the core reads and checks its images in a worker (store and file I/O)."""

        source: ImageEntry
        options: EditOptions

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        #: what the program last put in the post and section fields (a different value is the user's)
        self._filled: dict[str, str] = {}
        #: model, size, quality and format as the defaults left them (None: not mounted yet)
        self._applied_choices: tuple | None = None

    def compose(self) -> ComposeResult:
        yield Static("", id="key-hint", markup=False)
        with Horizontal(classes="form-row"):
            yield Label("Post", classes="form-label")
            yield Input(id="post-id", placeholder="e.g. 53", compact=True,
                        validators=[CoreRule("post id")], validate_on=["changed", "submitted"])
            yield Label("Section", classes="form-label")
            yield Input(id="section-id", placeholder="e.g. 2", compact=True,
                        validators=[CoreRule("section id")], validate_on=["changed", "submitted"])
        yield Static("", id="form-error", markup=False)
        yield TemplatePicker("Prompt", id="template-picker")
        yield TextArea(id="prompt", soft_wrap=True, show_line_numbers=False, compact=True,
                       placeholder="What to draw, in words")
        yield EditFields(id="edit-fields")
        with Horizontal(classes="form-row"):
            yield Label("Model", classes="form-label")
            yield Select(model_options(), value=DEFAULT_MODEL, allow_blank=False,
                         id="model", compact=True)
            yield Static("", id="form-note", markup=False)
        with Horizontal(classes="form-row"):
            yield Label("Size", classes="form-label")
            sizes = _sizes_for(MODELS[DEFAULT_MODEL])
            yield Select([(s, s) for s in sizes], value=_default_size(MODELS[DEFAULT_MODEL], sizes), id="size",
                         compact=True, allow_blank=False)
            yield Label("Quality", classes="form-label")
            yield Select([], id="quality", compact=True, allow_blank=True, prompt="default")
        with Horizontal(classes="form-row"):
            yield Label("Format", classes="form-label")
            yield Select([(f, f) for f in OUTPUT_FORMATS], value="png", allow_blank=False, id="format",
                         compact=True)
            yield Label("File", classes="form-label")
            yield Input(id="filename", placeholder="(automatic)", compact=True,
                        validators=[CoreRule("filename", optional=True)], validate_on=["changed", "submitted"])
        with Horizontal(classes="form-row"):
            yield Label("Variants", classes="form-label", id="variants-label")
            yield Select([(str(k), k) for k in range(1, 11)], value=1, allow_blank=False, id="variants",
                         compact=True, tooltip="images from one request, stored as NAME-1 ... NAME-K")
        with Horizontal(id="form-buttons"):
            yield Button("Generate  ctrl+s", id="generate", variant="primary", compact=True)
            yield Static("", id="cost", markup=False)

    def on_mount(self) -> None:
        self._model_changed(DEFAULT_MODEL)
        self._applied_choices = self._choices()

    def show_key_hint(self, text: str) -> None:
        """Say up front, and for as long as it is true, what stops generating (no API key)."""
        hint = self.query_one("#key-hint", Static)
        hint.update(text)
        hint.set_class(bool(text), "-visible")

    # -- filling ------------------------------------------------------------
    def set_target(self, post_id: PostId | None, section_id: PostId | None = None, *, force: bool = False) -> None:
        """Fill post and section ids from the tree (they stay editable).

        Following the tree never touches a target the user is typing or has typed (a focused or
        edited post or section field): only ``force`` (reusing an image's settings) replaces it.
        """
        post = self.query_one("#post-id", Input)
        section = self.query_one("#section-id", Input)
        if not force and any(self._is_users(field) for field in (post, section)):
            return
        if post_id is not None:
            if section_id is None and post.value != str(post_id):
                self._fill(section, "")  # another post: its sections are not this one's
            self._fill(post, str(post_id))
        if section_id is not None:
            self._fill(section, str(section_id))

    def _is_users(self, field: Input) -> bool:
        return field.has_focus or (bool(field.value) and field.value != self._filled.get(field.id or ""))

    def _fill(self, field: Input, value: str) -> None:
        self._filled[field.id or ""] = value
        field.value = value

    def reuse(self, section: SectionRef, metadata: dict[str, Any]) -> None:
        """Fill the form from an image's metadata: prompt and settings; a new filename is left blank."""
        self.set_target(section.post_id, section.section_id, force=True)
        self.picker.clear()  # the prompt is the image's now, not a template's
        self.query_one("#prompt", TextArea).text = str(metadata.get("prompt") or "")
        model = str(metadata.get("model") or DEFAULT_MODEL)
        model_select = self.query_one("#model", Select)
        if model not in MODELS:
            model_select.set_options(model_options(model))
        model_select.value = model
        self._model_changed(model, size=metadata.get("size"), quality=metadata.get("quality"),
                            output_format=metadata.get("output_format"))
        self.query_one("#filename", Input).value = ""

    # -- edit mode ------------------------------------------------------------
    @property
    def edit_fields(self) -> EditFields:
        return self.query_one(EditFields)

    def start_edit(self, entry: ImageEntry, metadata: dict[str, Any]) -> None:
        """Edit ``entry``: its prompt and settings in the form (the result lands in its section by default)."""
        self.reuse(entry.section, metadata)
        model = str(metadata.get("model") or "")
        spec = MODELS.get(model)
        if spec is None or not spec.takes_edits or spec.retired_on:
            self.query_one("#model", Select).value = DEFAULT_MODEL  # the core's choice for a model that cannot edit
        self.edit_fields.start(entry)
        self.query_one("#generate", Button).label = "Edit  ctrl+s"

    def stop_edit(self) -> None:
        self.edit_fields.stop()
        self.query_one("#generate", Button).label = "Generate  ctrl+s"

    @on(Button.Pressed, "#edit-stop")
    def _stop_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.stop_edit()

    def edit_options(self) -> EditOptions:
        """What the form says about the edit; the core checks it when planning."""
        post = self.query_one("#post-id", Input).value.strip()
        section = self.query_one("#section-id", Input).value.strip()
        size = self.query_one("#size", Select).value
        quality = self.query_one("#quality", Select).value
        return EditOptions(
            prompt=self.query_one("#prompt", TextArea).text.strip(), references=self.edit_fields.references(),
            mask=self.edit_fields.mask(), filename=self.query_one("#filename", Input).value.strip() or None,
            section=SectionRef.parse(post, section), model=str(self.query_one("#model", Select).value),
            size=None if size is Select.NULL else str(size),
            quality=None if quality is Select.NULL else str(quality),
            output_format=str(self.query_one("#format", Select).value), n=self.variants)

    @property
    def variants(self) -> int:
        value = self.query_one("#variants", Select).value
        assert not isinstance(value, NoSelection)  # allow_blank=False: always one of 1..10
        return int(value)

    @on(Select.Changed, "#model")
    def _model_selected(self, event: Select.Changed) -> None:
        if event.value is not Select.NULL:
            self._model_changed(str(event.value))

    def _model_changed(self, model: str, *, size: Any = None, quality: Any = None,
                       output_format: Any = None) -> None:
        """Offer the sizes, qualities and formats of ``model``, keeping choices that still apply."""
        spec = MODELS.get(model)
        size_select = self.query_one("#size", Select)
        quality_select = self.query_one("#quality", Select)
        format_select = self.query_one("#format", Select)
        keep_size = size or (size_select.value if size_select.value is not Select.NULL else None)
        keep_quality = quality or (quality_select.value if quality_select.value is not Select.NULL else None)
        keep_format = output_format or format_select.value

        sizes = _sizes_for(spec)
        if keep_size and keep_size not in sizes and spec is not None and spec.sizes is None:
            sizes = (str(keep_size), *sizes)  # a free-form size from a reused image
        size_select.set_options([(s, s) for s in sizes])
        size_select.value = keep_size if keep_size in sizes else _default_size(spec, sizes)

        qualities = spec.qualities if spec else ()
        quality_select.set_options([(q, q) for q in qualities])
        quality_select.value = keep_quality if keep_quality in qualities else Select.NULL
        quality_select.disabled = not qualities

        formats = spec.output_formats if spec else OUTPUT_FORMATS
        format_select.set_options([(f, f) for f in formats])
        format_select.value = keep_format if keep_format in formats else formats[0]
        streams = spec is None or spec.can_stream
        note = self.query_one("#form-note", Static)
        note.update("live preview" if streams else "no live preview")
        note.tooltip = ("partial images are shown while it draws" if streams
                        else "this model sends the image only when it is done")
        self._update_cost()

    def _choices(self) -> tuple:
        return tuple(self.query_one(f"#{name}", Select).value for name in ("model", "size", "quality", "format"))

    def apply_defaults(self, defaults: Defaults) -> None:
        """Start from the config files' [defaults] (model, size, quality, format), as the CLI does.

        Only while the form still shows the previous defaults: a choice the user made stays.
        """
        if self._applied_choices is not None and self._choices() != self._applied_choices:
            return
        model = defaults.model or DEFAULT_MODEL
        model_select = self.query_one("#model", Select)
        if model not in MODELS:  # the core judges it on submit, with the CLI's words
            model_select.set_options(model_options(model))
        model_select.value = model
        spec = MODELS.get(model)
        # What the defaults do not say comes from the built-in defaults, not from the previous file.
        self.query_one("#quality", Select).clear()
        self._model_changed(model, size=defaults.size or _default_size(spec, _sizes_for(spec)),
                            quality=defaults.quality, output_format=defaults.output_format or "png")
        self._applied_choices = self._choices()

    # -- cost -----------------------------------------------------------------
    def cost_estimate(self) -> CostEstimate:
        """The estimated cost of what the form describes now (the core's price table; never raises)."""
        model = self.query_one("#model", Select).value
        size = self.query_one("#size", Select).value
        quality = self.query_one("#quality", Select).value
        request = ImageRequest(
            prompt=self.query_one("#prompt", TextArea).text.strip(), section=_ANY_SECTION,
            model=str(model) if model is not Select.NULL else DEFAULT_MODEL,
            size=None if size is Select.NULL else str(size),
            quality=None if quality is Select.NULL else str(quality), n=self.variants,
        )
        return estimate(request)

    def _update_cost(self) -> None:
        cost = self.cost_estimate()
        label = self.query_one("#cost", Static)
        label.update(cost_text(cost))
        label.tooltip = cost_help(cost)
        label.set_class(cost.usd is None, "-unknown")

    @on(Select.Changed, "#size, #quality, #variants")
    def _option_changed(self, event: Select.Changed) -> None:
        self._update_cost()

    @on(TextArea.Changed, "#prompt")
    def _prompt_changed(self, event: TextArea.Changed) -> None:
        self._update_cost()  # prompt tokens are part of the price
        if self.query_one("#prompt", TextArea).text.strip():
            self._show_problems()  # "the prompt is empty" no longer applies

    # -- templates ----------------------------------------------------------------
    @property
    def picker(self) -> TemplatePicker:
        return self.query_one(TemplatePicker)

    def set_templates(self, templates: Mapping[str, PromptTemplate], searched: tuple[str, ...] = (),
                      problem: str | None = None) -> None:
        """Offer ``templates`` (those of the open store); ``problem`` when they could not be read."""
        self.picker.set_templates(templates, searched, problem)

    @on(TemplatePicker.Filled)
    def _template_filled(self, message: TemplatePicker.Filled) -> None:
        message.stop()
        prompt = self.query_one("#prompt", TextArea)
        if prompt.text != message.text:
            prompt.text = message.text

    def template_problem(self) -> BadInput | None:
        """Why the chosen template cannot fill the prompt that is in the form (None: it can, or none chosen)."""
        return self.picker.problem_with(self.query_one("#prompt", TextArea).text)

    # -- validation -----------------------------------------------------------
    @on(Input.Changed, "#post-id, #section-id, #filename")
    def _live_check(self, event: Input.Changed) -> None:
        self._show_problems()

    def _show_problems(self) -> None:
        problems = []
        for input_id in ("post-id", "section-id", "filename"):
            widget = self.query_one(f"#{input_id}", Input)
            result = widget.validate(widget.value) if widget.value else None
            if result is not None and not result.is_valid and result.failure_descriptions:
                problems.append(result.failure_descriptions[0])
        error = self.query_one("#form-error", Static)
        error.update(problems[0] if problems else "")
        error.set_class(bool(problems), "-visible")

    def _field_at_fault(self) -> Input | TextArea | None:
        """The first field that stops the request: empty or invalid post, section or file name, empty prompt."""
        for input_id in ("post-id", "section-id", "filename"):
            field = self.query_one(f"#{input_id}", Input)
            checked = field.validate(field.value) if field.value else None
            if (input_id != "filename" and not field.value.strip()) or (checked is not None and not checked.is_valid):
                return field
        prompt = self.query_one("#prompt", TextArea)
        return prompt if not prompt.text.strip() else None

    def show_field_error(self, field: Input | TextArea | str, text: str) -> None:
        """Say what is wrong under the ids and put the cursor in ``field`` (a widget or its id)."""
        widget = self.query_one(f"#{field}") if isinstance(field, str) else field
        error = self.query_one("#form-error", Static)
        error.update(text)
        error.set_class(True, "-visible")
        widget.focus()

    def build_request(self) -> ImageRequest:
        """The request the form describes, validated by the core; raises :class:`BadInput`."""
        post = self.query_one("#post-id", Input).value.strip()
        section = self.query_one("#section-id", Input).value.strip()
        if not post:
            raise BadInput("a post id is required")
        if not section:
            raise BadInput("a section id is required")
        target = SectionRef.parse(post, section)
        model = self.query_one("#model", Select).value
        size = self.query_one("#size", Select).value
        quality = self.query_one("#quality", Select).value
        output_format = self.query_one("#format", Select).value
        filename = self.query_one("#filename", Input).value.strip() or None
        spec = MODELS.get(str(model))
        request = ImageRequest(
            prompt=self.query_one("#prompt", TextArea).text.strip(),
            section=target,
            filename=filename,
            model=str(model),
            size=None if size is Select.NULL else str(size),
            quality=None if quality is Select.NULL else str(quality),
            output_format=str(output_format),
            # Variants are asked without streaming (stream events carry no image index).
            partial_images=PARTIAL_IMAGES if (spec is None or spec.can_stream) and self.variants == 1 else 0,
            n=self.variants,
            template=self.picker.used(self.query_one("#prompt", TextArea).text),
        )
        return request.validated()

    def action_submit(self) -> None:
        problem = self.template_problem()
        if problem is not None:
            missing = self.picker.first_missing_variable()
            if missing is not None:
                missing.focus()  # the help line under the variables says what is missing
            else:
                self.post_message(ErrorReported(problem))
            return
        try:
            source = self.edit_fields.source
            if source is not None:
                self.post_message(self.EditSubmitted(source, self.edit_options()))
                return
            request = self.build_request()
        except BlogImagesError as error:
            field = self._field_at_fault()
            if field is not None:
                self.show_field_error(field, str(error))  # said where it is: no notification over the form
            else:
                self._show_problems()
                self.post_message(ErrorReported(error))
            return
        self._show_problems()  # a message about the prompt or a taken name no longer applies
        self.post_message(self.Submitted(request))

    @on(Button.Pressed, "#generate")
    def _pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.action_submit()

    @on(Input.Submitted)
    def _enter(self, event: Input.Submitted) -> None:
        # Enter in a one-line field moves on, like a form; ctrl+s sends.
        event.stop()
        self.screen.focus_next()

    def focus_prompt(self) -> None:
        """Focus the first empty required field (post, section, prompt), else the prompt."""
        fields = [self.query_one("#post-id", Input), self.query_one("#section-id", Input)]
        empty = next((field for field in fields if not field.value.strip()), None)
        (empty or self.query_one("#prompt", TextArea)).focus()
