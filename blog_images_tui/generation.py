"""Generating one image with the openai SDK (``AsyncOpenAI.images.generate``).

GPT image models answer with base64 (``b64_json``). Older models and some
OpenAI-compatible servers answer with a ``url``: it is downloaded with httpx
under strict rules (https only, except the configured server's own host; no
redirect to another host; a size cap). Either answer is read whatever was
asked: a server may ignore ``stream`` and send one JSON body, or stream
events to a plain request. Base64 is accepted line-wrapped or unpadded; an
image in another format than asked is accepted as what it is. The whole
image is verified (:func:`imageformat.check_image`); one that does not
verify is handed back in :class:`UnusableImage` to be kept, never dropped.

``timeout_s`` bounds the whole request: answer, body and download, even one
trickled byte by byte. API errors become :mod:`blog_images_tui.errors`
classes with one-line, key-free messages and the documented exit codes; only
failures that cannot have been billed are marked retryable.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import inspect
import ipaddress
import json
import logging
import math
import socket
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from blog_images_tui.errors import ApiRejected, AuthConfigError, BadInput, BlogImagesError, TemporaryFailure
from blog_images_tui.ids import SectionRef, parse_filename
from blog_images_tui.imageformat import ImageInfo, NotAnImage, check_image
from blog_images_tui.inputs import EditInputs
from blog_images_tui.models import DEFAULT_MODEL, EDIT, GENERATE, MODELS, validate_options
from blog_images_tui.secrets import ApiKey, redact, require_api_key

if TYPE_CHECKING:
    from openai import AsyncOpenAI

log = logging.getLogger("blog_images.generation")

DEFAULT_TIMEOUT_S = 300.0
DEFAULT_MAX_RETRIES = 2
MAX_IMAGE_BYTES = 64 * 1024 * 1024
BASE_URL_ENV = "OPENAI_BASE_URL"

PartialImageCallback = Callable[[int, bytes], Awaitable[None] | None]
#: called with the headers of every answer, success or error (rate-limit headers for pacing)
ResponseCallback = Callable[[Any], None]


@dataclass(frozen=True)
class ImageRequest:
    """Everything needed to generate one image and know where it goes."""

    prompt: str
    section: SectionRef
    filename: str | None = None
    model: str = DEFAULT_MODEL
    size: str | None = None
    quality: str | None = None
    style: str | None = None
    output_format: str = "png"
    background: str | None = None
    #: streamed previews to ask for (0-3); only models that can stream.
    partial_images: int = 0
    #: a stable id for idempotent batch re-runs (stored in metadata as job_id).
    job_id: str | None = None
    warnings: tuple[str, ...] = field(default=(), compare=False)
    #: variants asked for in one request (1..10 per the model table)
    n: int = 1
    moderation: str | None = None  # generations only
    compression: int | None = None  # output_compression, jpeg/webp only
    input_fidelity: str | None = None  # edits only, per model
    #: set for an edit (``images.edit``): the edited image, references and mask
    edit: EditInputs | None = field(default=None, compare=False, repr=False)
    #: the prompt template that made the prompt, ``{"name", "vars"}`` (saved in the metadata as ``template``)
    template: dict | None = field(default=None, compare=False)

    @property
    def operation(self) -> str:
        return EDIT if self.edit is not None else GENERATE

    def validated(self) -> ImageRequest:
        """Return a copy with defaults filled in; raise :class:`BadInput` if invalid."""
        if self.filename is not None:
            parse_filename(self.filename)
        if not 0 <= self.partial_images <= 3:
            raise BadInput("partial images must be between 0 and 3")
        options = validate_options(
            model=self.model, prompt=self.prompt, size=self.size, quality=self.quality, style=self.style,
            output_format=self.output_format, background=self.background, operation=self.operation,
            n=self.n, moderation=self.moderation, compression=self.compression,
            input_fidelity=self.input_fidelity, input_images=len(self.edit.images) if self.edit else 0,
            mask=bool(self.edit and self.edit.mask),
        )
        return replace(self, model=options.model, size=options.size, quality=options.quality,
                       style=options.style, output_format=options.output_format,
                       background=options.background, warnings=options.warnings)


@dataclass(frozen=True)
class ClientSettings:
    """How to reach the Images API. Never printed with the key in it."""

    api_key: ApiKey | None
    base_url: str | None = None
    timeout_s: float = DEFAULT_TIMEOUT_S
    max_retries: int = DEFAULT_MAX_RETRIES
    max_image_bytes: int = MAX_IMAGE_BYTES

    def __post_init__(self) -> None:
        timeout = self.timeout_s
        if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or not math.isfinite(timeout) \
                or timeout <= 0:
            raise BadInput(f"--timeout must be a positive number of seconds, not {timeout!r}")
        if not 0 <= self.max_retries <= 10:
            raise BadInput("--max-retries must be between 0 and 10")



@dataclass(frozen=True)
class GeneratedImage:
    data: bytes = field(repr=False)
    info: ImageInfo
    revised_prompt: str | None
    usage: dict[str, Any] | None
    request_id: str | None
    duration_s: float
    source: str  # "b64_json" or "url"
    #: images the request asked for and the answer carried (fewer: a partial answer)
    requested: int = 1
    received: int = 1


class UnusableImage(TemporaryFailure):
    """The API answered (and billed) but an image does not verify: ``data`` is what came.

    Not retried (it was paid for); the caller keeps ``data`` (and ``others``,
    more undecodable variants) for recovery with the reason, never stores
    them as good, and stores ``good``, the variants that did verify.
    """

    def __init__(self, reason: str, data: bytes, *, request_id: str | None = None,
                 usage: dict[str, Any] | None = None, others: list[tuple[bytes, str]] | None = None,
                 good: list[GeneratedImage] | None = None) -> None:
        super().__init__(f"the API returned an image that does not verify: {reason}", retryable=False)
        self.reason = reason
        self.data = data
        self.request_id = request_id
        self.usage = usage
        self.others = others or []
        self.good = good or []


#: said of every failure that may have been billed (README: --max-retries, troubleshooting)
MAY_HAVE_BEEN_BILLED = "it may have been billed, so it was not asked again"


class ImageGenerator:
    """Talks to the Images API. One client (and connection pool) per generator."""

    def __init__(self, settings: ClientSettings) -> None:
        self._api_key = require_api_key(settings.api_key)
        self.settings = settings
        self._client: AsyncOpenAI | None = None
        self._client_building: asyncio.Future | None = None

    @property
    def client(self) -> AsyncOpenAI:
        """The SDK client, built on first use (blocking: async code awaits :meth:`ready`)."""
        if self._client is None:
            from openai import AsyncOpenAI  # heavy: imported on first use

            self._client = AsyncOpenAI(
                api_key=self._api_key.value,
                base_url=self.settings.base_url or None,
                timeout=self.settings.timeout_s,
                # Retries are ours (blog_images_tui.pacing), so that one 429
                # slows every worker and Retry-After is honoured once.
                max_retries=0,
            )
        return self._client

    async def ready(self) -> AsyncOpenAI:
        """The SDK client, imported and built in a worker thread the first time.

        The first import of ``openai`` takes 1-2 s (about a thousand modules)
        and building the client ~0.1 s: done on the event loop, that would
        freeze every other job, and the TUI, meanwhile. Concurrent callers
        share one build.
        """
        if self._client is not None:
            return self._client
        building = self._client_building
        if building is None:
            building = self._client_building = asyncio.ensure_future(asyncio.to_thread(lambda: self.client))
        try:
            return await asyncio.shield(building)
        except Exception:
            if self._client_building is building:
                self._client_building = None  # the next call tries again
            raise

    async def aclose(self) -> None:
        building, self._client_building = self._client_building, None
        if building is not None and not building.done():
            try:
                await building  # a client still being built is closed too, not leaked
            except Exception:
                pass
        if self._client is not None:
            await self._client.close()
            self._client = None

    async def __aenter__(self) -> ImageGenerator:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    def _params(self, request: ImageRequest) -> dict[str, Any]:
        spec = MODELS.get(request.model)
        params: dict[str, Any] = {"model": request.model, "prompt": request.prompt, "n": request.n,
                                  "size": request.size}
        if request.quality:
            params["quality"] = request.quality
        if request.moderation:
            params["moderation"] = request.moderation
        if request.compression is not None:
            params["output_compression"] = request.compression
        if request.edit is not None:
            # Multipart: each part with its real content type (the API refuses octet-stream).
            params["image"] = [image.upload() for image in request.edit.images]
            if request.edit.mask is not None:
                params["mask"] = request.edit.mask.upload()
            if request.input_fidelity:
                params["input_fidelity"] = request.input_fidelity
        if spec is not None and spec.takes_response_format:
            # Legacy models: ask for base64 so there is no second download.
            params["response_format"] = "b64_json"
            if request.style:
                params["style"] = request.style
        else:
            # GPT image models reject response_format and style; they take these.
            params["output_format"] = request.output_format
            if request.background:
                params["background"] = request.background
        return params

    async def generate(self, request: ImageRequest, on_partial: PartialImageCallback | None = None,
                       on_response: ResponseCallback | None = None) -> GeneratedImage:
        """Generate one image for an already validated request (``n`` = 1)."""
        return (await self.create(request, on_partial, on_response))[0]

    async def create(self, request: ImageRequest, on_partial: PartialImageCallback | None = None,
                     on_response: ResponseCallback | None = None) -> list[GeneratedImage]:
        """Every image one validated request returns: a generation or an edit, ``n`` variants.

        Variants are asked without streaming (stream events carry no image
        index). An answer with fewer images than asked returns what came, each
        saying ``requested`` and ``received``; none at all is a TemporaryFailure.
        Whatever was asked, a streamed or a plain JSON answer is read. An
        image that does not verify raises :class:`UnusableImage`, which carries
        it (and the ones that did verify) to be kept, never dropped.
        ``on_response`` gets the headers of the API's answer, whether it is an image or an error.
        """
        params = self._params(request)
        spec = MODELS.get(request.model)
        stream = bool(on_partial and request.partial_images and request.n == 1 and request.edit is None
                      and (spec is None or spec.can_stream))
        if stream:
            params.update(stream=True, partial_images=request.partial_images)
        client = await self.ready()  # built (and the SDK imported) outside the timed part
        started = time.monotonic()
        log.info("%s: model=%s size=%s quality=%s format=%s n=%d stream=%s",
                 "editing" if request.edit is not None else "generating", request.model,
                 request.size, request.quality, request.output_format, request.n, stream)
        endpoint = client.images.with_streaming_response
        call = endpoint.edit if request.edit is not None else endpoint.generate
        answer = await self.within_timeout(self.ask(call, params, on_partial, limit=request.n,
                                                    on_response=on_response))
        # Decoding and the whole-image check (a Pillow decode for JPEG/WebP: tens of ms) off the loop.
        return await asyncio.to_thread(self.finish, answer, request, started)

    async def within_timeout(self, work: Awaitable[Any]) -> Any:
        """Run ``work`` (a request and everything it downloads) within ``timeout_s`` overall.

        The SDK's own timeout restarts with every byte received: a server
        trickling its body would hold a request for ever.
        """
        try:
            async with asyncio.timeout(self.settings.timeout_s):
                return await work
        except TimeoutError:
            raise TemporaryFailure("the API did not answer in time (whole answer within "
                                   f"{self.settings.timeout_s:g} s); {MAY_HAVE_BEEN_BILLED}",
                                   hint="raise --timeout; check the usage page before running again") from None

    async def ask(self, call: Callable[..., Any], params: dict[str, Any],
                  on_partial: PartialImageCallback | None, *, limit: int = 1,
                  on_response: ResponseCallback | None = None) -> Answer:
        """Send one request with an SDK ``with_streaming_response`` method and read its answer.

        Streamed or one JSON body, whatever was asked; ``url`` items are downloaded.
        """
        try:
            async with call(**params) as response:
                _report_headers(on_response, response)
                request_id = response.headers.get("x-request-id")
                if "text/event-stream" in (response.headers.get("content-type") or "").lower():
                    answer = await self._read_events(response, on_partial)
                else:
                    answer = _answer_from_json(await response.read())
                answer.request_id = request_id
        except BlogImagesError:
            raise
        except Exception as error:
            _report_headers(on_response, getattr(error, "response", None))
            raise translate_api_error(error) from None
        answer.items = answer.items[:limit]
        for item in answer.items:
            if not item.b64 and item.url:
                item.data = await download_image(item.url, base_url=self.settings.base_url,
                                                 max_bytes=self.settings.max_image_bytes,
                                                 timeout_s=self.settings.timeout_s)
                item.source = "url"
        return answer

    def finish(self, answer: Answer, request: ImageRequest, started: float) -> list[GeneratedImage]:
        """Decode and fully verify an answer's images (see :class:`UnusableImage`)."""
        if not answer.items:
            raise TemporaryFailure("the API answered without an image")
        duration = round(time.monotonic() - started, 3)
        good: list[GeneratedImage] = []
        bad: list[tuple[bytes, str]] = []
        for item in answer.items:
            data = item.data
            if data is None:
                if not item.b64:
                    raise TemporaryFailure("the API answered without image data")
                try:
                    data = decode_b64(item.b64, self.settings.max_image_bytes)
                except UndecodableBase64:
                    bad.append((item.b64.encode("utf-8", "replace"), "its data is not valid base64"))
                    continue
            try:
                info = check_image(data)
            except NotAnImage as error:
                bad.append((data, str(error)))
                continue
            if info.format != request.output_format:
                log.warning("asked for %s, the API returned %s: kept as %s", request.output_format, info.format,
                            info.format)
            good.append(GeneratedImage(data, info, item.revised, answer.usage, answer.request_id, duration,
                                       item.source, requested=request.n, received=len(answer.items)))
        log.info("%s: %d of %d image(s) in %.2fs (request %s)", request.operation, len(good), request.n,
                 duration, answer.request_id)
        if bad:
            raise UnusableImage(bad[0][1], bad[0][0], request_id=answer.request_id, usage=answer.usage,
                                others=bad[1:], good=good)
        return good

    async def _read_events(self, response: Any, on_partial: PartialImageCallback | None) -> Answer:
        final: dict[str, Any] | None = None
        async for event in _sse_events(response.iter_lines()):
            kind = str(event.get("type") or "")
            if kind.endswith("partial_image"):
                if on_partial is None:
                    continue
                try:
                    partial = decode_b64(event.get("b64_json") or "", self.settings.max_image_bytes)
                    result = on_partial(int(event.get("partial_image_index") or 0), partial)
                    if inspect.isawaitable(result):
                        await result
                except (BlogImagesError, ValueError):
                    pass  # a bad preview is not worth failing the job for
            elif kind.endswith("completed") or (not kind and (event.get("b64_json") or event.get("data"))):
                final = event
            elif kind == "error" or "error" in event:
                raise TemporaryFailure(f"the image stream failed: {_event_error(event)}; {MAY_HAVE_BEEN_BILLED}")
        if final is None:
            raise TemporaryFailure(f"the image stream ended before the image was complete; {MAY_HAVE_BEEN_BILLED}")
        if "data" in final and not final.get("b64_json"):
            return _answer_from_payload(final)  # a whole JSON answer sent as one event
        return _answer_from_event(final)


def _report_headers(on_response: ResponseCallback | None, response: Any) -> None:
    headers = getattr(response, "headers", None)
    if on_response is not None and headers is not None:
        try:
            on_response(headers)
        except Exception:  # pacing must never turn an answer into a failure
            log.exception("response listener failed")


@dataclass
class AnswerItem:
    """One image of an answer as it came: base64, or a URL to fetch (then ``data``)."""

    b64: str | None = None
    url: str | None = None
    revised: str | None = None
    data: bytes | None = None
    source: str = "b64_json"


@dataclass
class Answer:
    """What one request answered, streamed or not."""

    items: list[AnswerItem] = field(default_factory=list)
    usage: dict[str, Any] | None = None
    request_id: str | None = None


def _usage_of(payload: dict[str, Any]) -> dict[str, Any] | None:
    usage = payload.get("usage")
    return usage if isinstance(usage, dict) else None


def _answer_from_event(event: dict[str, Any]) -> Answer:
    return Answer([AnswerItem(b64=event.get("b64_json"), url=event.get("url"),
                              revised=event.get("revised_prompt"))], _usage_of(event))


def _answer_from_payload(payload: Any) -> Answer:
    if not isinstance(payload, dict) or not isinstance(payload.get("data"), list) or not payload["data"]:
        raise TemporaryFailure("the API answered without an image")
    items = [AnswerItem(b64=item.get("b64_json"), url=item.get("url"), revised=item.get("revised_prompt"))
             for item in payload["data"] if isinstance(item, dict)]
    return Answer(items, _usage_of(payload))


def _answer_from_json(body: bytes) -> Answer:
    """The images of a plain JSON answer (or of events sent without the event-stream type)."""
    text = body.decode("utf-8", "replace")
    try:
        payload = json.loads(text)
    except ValueError:
        events = []
        for line in text.splitlines():
            if line.startswith("data:") and line[5:].strip() not in ("", "[DONE]"):
                try:
                    events.append(json.loads(line[5:]))
                except ValueError:
                    continue
        finals = [e for e in events if isinstance(e, dict) and str(e.get("type", "")).endswith("completed")]
        if finals:
            return _answer_from_event(finals[-1])
        raise TemporaryFailure(f"the API answered with a body that is not JSON; {MAY_HAVE_BEEN_BILLED}") from None
    return _answer_from_payload(payload)


async def _sse_events(lines: Any) -> Any:
    """JSON objects of a server-sent event stream (``data:`` lines; a blank line ends an event)."""
    data: list[str] = []

    def parsed() -> dict[str, Any] | None:
        joined = "\n".join(data).strip()
        if not joined or joined == "[DONE]":
            return None
        try:
            event = json.loads(joined)
        except ValueError:
            return None
        return event if isinstance(event, dict) else None

    async for line in lines:
        if line == "":
            event = parsed() if data else None
            data = []
            if event is not None:
                yield event
        elif line.startswith("data:"):
            data.append(line[5:].lstrip(" "))
    if data:
        event = parsed()
        if event is not None:
            yield event


def _event_error(event: dict[str, Any]) -> str:
    error = event.get("error")
    message = error.get("message") if isinstance(error, dict) else error
    return redact(" ".join(str(message or event.get("type")).split()))[:300]


class UndecodableBase64(ValueError):
    """The answer's image field is not base64 in any spelling servers use."""


def decode_b64(value: str, max_bytes: int) -> bytes:
    """Decode base64 as servers send it: standard or URL-safe, line-wrapped, padding optional.

    Raises :class:`TemporaryFailure` over the size cap and
    :class:`UndecodableBase64` when it is not base64 at all.
    """
    if len(value) * 3 // 4 > max_bytes:
        raise TemporaryFailure(f"the API returned an image over the {max_bytes // 2**20} MiB cap")
    try:
        return base64.b64decode(value, validate=True)  # the usual case, without copying
    except (binascii.Error, ValueError):
        pass
    compact = "".join(value.split())
    compact += "=" * (-len(compact) % 4)
    for alphabet in (None, b"-_"):
        try:
            return base64.b64decode(compact, altchars=alphabet, validate=True)
        except (binascii.Error, ValueError):
            continue
    raise UndecodableBase64("not valid base64")


def _host_allowed(host: str | None, base_url: str | None) -> bool:
    if not base_url or not host:
        return False
    return urlsplit(base_url).hostname == host


def _spelled_address(host: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """The address a host name spells, if it is one, in any form the resolver accepts.

    Besides dotted quads, ``getaddrinfo`` takes the legacy ``inet_aton`` forms
    (``2852039166``, ``0xA9FEA9FE``, ``169.254.43518`` all mean 169.254.169.254),
    and ``localhost`` names are loopback (RFC 6761).
    """
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        pass
    name = host.rstrip(".").lower()
    if name == "localhost" or name.endswith(".localhost"):
        return ipaddress.ip_address("127.0.0.1")
    try:
        return ipaddress.IPv4Address(socket.inet_aton(name))
    except OSError:
        return None


def _check_download_url(url: str, base_url: str | None) -> None:
    parts = urlsplit(url)
    host = parts.hostname
    if parts.scheme == "https" and host:
        address = _spelled_address(host)
        if address is not None and not address.is_global and not _host_allowed(host, base_url):
            raise TemporaryFailure(f"refusing to download the image from a private address ({host})")
        return
    if parts.scheme == "http" and _host_allowed(host, base_url):
        return
    raise TemporaryFailure(f"refusing to download the image from {parts.scheme}://{host or '?'}: https only")


async def download_image(url: str, *, base_url: str | None, max_bytes: int, timeout_s: float,
                         max_redirects: int = 3) -> bytes:
    """Fetch an image URL the API returned, under the rules in the module docstring."""
    import httpx

    _check_download_url(url, base_url)
    origin_host = urlsplit(url).hostname
    async with httpx.AsyncClient(follow_redirects=False, timeout=timeout_s) as client:
        for _ in range(max_redirects + 1):
            try:
                async with client.stream("GET", url) as response:
                    if response.is_redirect:
                        target = str(response.next_request.url) if response.next_request else ""
                        if urlsplit(target).hostname != origin_host:
                            raise TemporaryFailure("refusing a redirect of the image download to another host"
                                                   f" ({urlsplit(target).hostname})")
                        _check_download_url(target, base_url)
                        url = target
                        continue
                    if response.status_code in (401, 403, 404, 410):
                        raise ApiRejected(f"the image URL could not be fetched (HTTP {response.status_code}): "
                                          "it may have expired; generate again")
                    if response.status_code >= 400:
                        raise TemporaryFailure(f"the image download failed with HTTP {response.status_code}")
                    declared = int(response.headers.get("content-length") or 0)
                    if declared > max_bytes:
                        raise TemporaryFailure(f"the image is over the {max_bytes // 2**20} MiB cap")
                    chunks, total = [], 0
                    async for chunk in response.aiter_bytes():
                        total += len(chunk)
                        if total > max_bytes:
                            raise TemporaryFailure(f"the image is over the {max_bytes // 2**20} MiB cap")
                        chunks.append(chunk)
                    return b"".join(chunks)
            except httpx.HTTPError as error:
                raise TemporaryFailure(f"the image download failed: {type(error).__name__}") from None
    raise TemporaryFailure("too many redirects while downloading the image")


def _api_message(error: Any) -> str:
    body = getattr(error, "body", None)  # the SDK passes the inner "error" object
    message = body.get("message") if isinstance(body, dict) else None
    message = message or getattr(error, "message", None) or str(error)
    return redact(" ".join(str(message).split()))[:300]


def translate_api_error(error: BaseException) -> BlogImagesError:
    """Map an openai SDK exception to our error classes and exit codes."""
    import openai

    message = _api_message(error)
    code = getattr(error, "code", None)
    request_id = getattr(error, "request_id", None)
    suffix = f" [request {request_id}]" if request_id else ""
    if isinstance(error, openai.AuthenticationError):
        return AuthConfigError(f"authentication failed: {message}{suffix}",
                               hint="check OPENAI_AUTH_TOKEN / OPENAI_API_KEY")
    if isinstance(error, openai.PermissionDeniedError):
        hint = None
        if "verif" in message.lower():
            hint = "verify your organization in the OpenAI platform settings to use GPT image models"
        return AuthConfigError(f"permission denied: {message}{suffix}", hint=hint)
    should_retry = _should_retry_header(error)
    if isinstance(error, openai.RateLimitError):
        if code == "insufficient_quota" or "quota" in message.lower():
            return AuthConfigError(f"quota exceeded: {message}{suffix}", hint="check your plan and billing")
        wait = retry_after_seconds(error)
        wait_text = f"; the API asks to wait {wait:g} s" if wait else ""
        return TemporaryFailure(f"rate limited{wait_text}: {message}{suffix}", hint="try again later",
                                retryable=should_retry is not False, retry_after=wait, rate_limited=True)
    if isinstance(error, (openai.BadRequestError, openai.NotFoundError, openai.UnprocessableEntityError,
                          openai.ConflictError)):
        if code in ("content_policy_violation", "moderation_blocked") or "safety" in message.lower():
            return ApiRejected(f"the prompt was rejected by the content policy: {message}{suffix}")
        return ApiRejected(f"the API rejected the request: {message}{suffix}")
    if isinstance(error, openai.APITimeoutError):
        if _never_sent(error):
            return TemporaryFailure("could not reach the API in time", hint="check the network and OPENAI_BASE_URL",
                                    retryable=True)
        return TemporaryFailure(f"the API did not answer in time; {MAY_HAVE_BEEN_BILLED}",
                                hint="raise --timeout; check the usage page before running again")
    if isinstance(error, openai.APIConnectionError):
        cause = error.__cause__ or error.__context__
        detail = f" ({type(cause).__name__})" if cause else ""
        if _never_sent(error):
            return TemporaryFailure(f"could not reach the API{detail}", hint="check the network and OPENAI_BASE_URL",
                                    retryable=True)
        return TemporaryFailure(f"the connection to the API broke after the request was sent{detail}; "
                                f"{MAY_HAVE_BEEN_BILLED}", hint="check the usage page before running again")
    if isinstance(error, openai.APIStatusError):
        status = getattr(error, "status_code", "?")
        if status in RETRYABLE_STATUSES:
            return TemporaryFailure(f"the API failed (HTTP {status}): {message}{suffix}",
                                    retryable=should_retry is not False, retry_after=retry_after_seconds(error))
        if isinstance(status, int) and (status >= 500 or status in (408, 409)) or should_retry:
            # A gateway error or a timeout answer: the request may have reached the model.
            return TemporaryFailure(f"the API failed (HTTP {status}): {message}{suffix}; {MAY_HAVE_BEEN_BILLED}",
                                    hint="check the usage page before running again")
        return ApiRejected(f"the API answered HTTP {status}: {message}{suffix}")
    if isinstance(error, openai.APIResponseValidationError):
        return TemporaryFailure(f"the API answered with an unexpected body: {message}")
    if _is_transport_error(error):
        # The answer broke off while it was being read: the image was made, and billed.
        return TemporaryFailure(f"the API's answer broke off ({type(error).__name__}); {MAY_HAVE_BEEN_BILLED}",
                                hint="check the usage page before running again")
    return TemporaryFailure(f"{type(error).__name__}: {redact(str(error))[:300]}")


#: answers that say the request was not carried out: asking again cannot pay twice
RETRYABLE_STATUSES = (429, 500, 503)
#: transport errors raised before a byte of the request was sent
_NOT_SENT = ("ConnectError", "ConnectTimeout", "PoolTimeout", "UnsupportedProtocol", "gaierror")


def _causes(error: BaseException) -> list[BaseException]:
    chain: list[BaseException] = []
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        chain.append(current)
        current = current.__cause__ or current.__context__
    return chain


def _never_sent(error: BaseException) -> bool:
    """True when the request cannot have reached the server (so cannot have been billed)."""
    return any(type(cause).__name__ in _NOT_SENT for cause in _causes(error)[1:])


def _is_transport_error(error: BaseException) -> bool:
    return any(type(cause).__module__.split(".")[0] in ("httpx", "httpx2", "httpcore", "httpcore2", "h11")
               or isinstance(cause, (ConnectionError, EOFError)) for cause in _causes(error))


def _should_retry_header(error: Any) -> bool | None:
    """The server's ``x-should-retry`` verdict, if it gave one."""
    response = getattr(error, "response", None)
    value = response.headers.get("x-should-retry") if response is not None else None
    return {"true": True, "false": False}.get((value or "").lower())


def retry_after_seconds(error: Any) -> float | None:
    """Seconds from ``retry-after-ms`` or ``Retry-After`` (seconds or an HTTP date)."""
    response = getattr(error, "response", None)
    if response is None:
        return None
    headers = response.headers
    try:
        if headers.get("retry-after-ms"):
            return float(headers["retry-after-ms"]) / 1000
        value = headers.get("retry-after")
        if not value:
            return None
        try:
            return max(0.0, float(value))
        except ValueError:
            from email.utils import parsedate_to_datetime

            return max(0.0, (parsedate_to_datetime(value) - datetime.now(UTC)).total_seconds())
    except (ValueError, TypeError):
        return None
