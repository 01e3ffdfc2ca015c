"""The LLM planner: any OpenAI-compatible chat endpoint writes the motion and local prompts.

Protocol: one POST to ``<base>/v1/chat/completions`` with a system message, a few worked
examples and the request as JSON; the answer must be JSON:

    {"motion_prompt": "...", "objects": [{"name": "<given name>", "local_prompt": "..."}]}

Anything wrong (HTTP error, timeout, no JSON, unknown/missing/duplicate names, empty
or overlong prompts, a reply over the size cap) falls back to the rule-based plan with a
warning: planning never fails because a server did. Only the standard library talks
HTTP, so no new dependency.

Bounds: ``LLMConfig.timeout`` is a deadline for the whole request (connecting, sending,
waiting and reading), not per socket read, so a server that drips a byte at a time
cannot stall a run; the reply is read in chunks and abandoned past
``LLMConfig.max_reply_bytes``; model text quoted in errors and logs is cut to
`ECHO_CHARS` characters.
"""

from __future__ import annotations

import http.client
import json
import logging
import os
import re
import socket
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Any, Mapping

from ..errors import CLIP_CHARS, InputError, clip_text
from .positions import centroids, describe_position
from .rules import RulePlanner
from .scene_plan import PlannedObject, PlanRequest, ScenePlan

logger = logging.getLogger(__name__)

ENV_BASE_URL = "MASKMOTION_LLM_BASE_URL"
ENV_MODEL = "MASKMOTION_LLM_MODEL"
ENV_API_KEY = "MASKMOTION_LLM_API_KEY"


#: Reply bodies larger than this (bytes) are abandoned; a plan is a few hundred bytes.
MAX_REPLY_BYTES = 1_000_000
#: Longest motion or local prompt accepted from the model (characters). The text
#: encoder reads a few hundred tokens at most; anything much longer is not a plan.
MAX_PROMPT_CHARS = 2000
#: How much of the model's text an error or log line quotes.
ECHO_CHARS = CLIP_CHARS
_READ_CHUNK = 64 * 1024


class LLMError(Exception):
    """The endpoint or its answer failed; the planner falls back to the rules."""


def _quote(value: Any, limit: int = ECHO_CHARS) -> str:
    """repr() of a value from the model, cut to ``limit`` characters."""
    return clip_text(repr(value), limit)


@dataclass(frozen=True)
class LLMConfig:
    """Where and how to ask.

    Attributes:
        base_url: server root ("http://127.0.0.1:8000"), or one ending in "/v1", or the
            full ".../chat/completions" URL.
        model: the model name the server expects.
        api_key: sent as "Authorization: Bearer <key>" when set.
        timeout: seconds for the whole request: connect, send, wait and read together.
        max_reply_bytes: the largest reply body read; a longer one is abandoned.
    """

    base_url: str
    model: str
    api_key: str | None = None
    timeout: float = 60.0
    temperature: float = 0.0
    max_tokens: int = 1024
    max_reply_bytes: int = MAX_REPLY_BYTES

    def __post_init__(self) -> None:
        if not re.match(r"^https?://[^/\s]+", self.base_url or ""):
            raise InputError(
                f"LLM base URL {self.base_url!r} must start with http:// or https://, "
                f"e.g. http://127.0.0.1:8000 (flag --llm-url or ${ENV_BASE_URL})"
            )
        if not self.model or not self.model.strip():
            raise InputError(f"no LLM model name; pass --llm-model or set ${ENV_MODEL}")
        if not (self.timeout > 0 and self.timeout < float("inf")):
            raise InputError(f"LLM timeout must be a positive number of seconds, got {self.timeout}")
        if not self.max_reply_bytes > 0:
            raise InputError(f"LLM max_reply_bytes must be positive, got {self.max_reply_bytes}")

    @property
    def endpoint(self) -> str:
        base = self.base_url.rstrip("/")
        if base.endswith("/chat/completions"):
            return base
        if base.endswith("/v1"):
            return base + "/chat/completions"
        return base + "/v1/chat/completions"

    @classmethod
    def from_env(
        cls,
        base_url: str | None = None,
        model: str | None = None,
        api_key: str | None = None,
        timeout: float | None = None,
        environ: Mapping[str, str] | None = None,
    ) -> "LLMConfig":
        """Arguments first, then $MASKMOTION_LLM_BASE_URL / _MODEL / _API_KEY."""
        env = os.environ if environ is None else environ
        base_url = base_url or env.get(ENV_BASE_URL)
        model = model or env.get(ENV_MODEL)
        if not base_url:
            raise InputError(f"the LLM planner needs a server: pass --llm-url or set ${ENV_BASE_URL}")
        if not model:
            raise InputError(f"the LLM planner needs a model name: pass --llm-model or set ${ENV_MODEL}")
        return cls(
            base_url=base_url,
            model=model,
            api_key=api_key or env.get(ENV_API_KEY) or None,
            timeout=60.0 if timeout is None else timeout,
        )


# ---- the conversation -----------------------------------------------------------------
SYSTEM_PROMPT = """\
You plan videos for an image-to-video model that animates each marked object on its own.
You get the video prompt and the objects marked in the first frame (name and place).
Write:
1. "motion_prompt": one sentence with only the motion. Name every object by its given
   name with "the" ("the red crescent"), say what it does; no looks, no background.
2. for every object, a "local_prompt": "the <its looks from the prompt> <what it does>",
   about that object alone. If the prompt gives an object no motion, it "stays still".
Use each given name exactly once and no other names. If an object has a "local_prompt"
already, keep it and make the motion prompt agree with it.
Answer with JSON only:
{"motion_prompt": "...", "objects": [{"name": "...", "local_prompt": "..."}]}"""

_EXAMPLES: list[tuple[dict[str, Any], dict[str, Any]]] = [
    (
        {
            "prompt": "A video of a big red polka-dot crescent and a small green striped cross on a "
            "plain plum background: the red crescent gently moves up as the green cross slowly "
            "follows the red crescent.",
            "objects": [{"name": "red crescent", "place": "top left"}, {"name": "green cross", "place": "bottom right"}],
        },
        {
            "motion_prompt": "The red crescent gently moves up while the green cross slowly follows the red crescent.",
            "objects": [
                {"name": "red crescent", "local_prompt": "the big red polka-dot crescent gently moves up"},
                {"name": "green cross", "local_prompt": "the small green striped cross slowly follows the red crescent"},
            ],
        },
    ),
    (
        {
            "prompt": "A black and tan dog surfs a big wave on a yellow surfboard.",
            "objects": [{"name": "dog", "place": "middle"}, {"name": "surfboard", "place": "bottom middle"}],
        },
        {
            "motion_prompt": "The dog steers the surfboard along the wave.",
            "objects": [
                {"name": "dog", "local_prompt": "the black and tan dog surfs"},
                {"name": "surfboard", "local_prompt": "the yellow surfboard glides along the wave"},
            ],
        },
    ),
    (
        {
            "prompt": "Two puppies in the grass; the one on the left chases a butterfly.",
            "objects": [{"name": "left dog", "place": "middle left"}, {"name": "right dog", "place": "middle right"}],
        },
        {
            "motion_prompt": "The left dog runs after a butterfly while the right dog stays still.",
            "objects": [
                {"name": "left dog", "local_prompt": "the puppy on the left chases a butterfly"},
                {"name": "right dog", "local_prompt": "the puppy on the right stays still"},
            ],
        },
    ),
]


def request_payload(request: PlanRequest) -> dict[str, Any]:
    """The request as the JSON the model sees: prompt, objects with places and any
    user local prompt."""
    h, w = request.first_ids.shape
    where = centroids(request.first_ids, [o.id for o in request.objects])
    objects = []
    for o in request.objects:
        entry: dict[str, Any] = {"name": o.name, "place": describe_position(where[o.id], (h, w))}
        if o.local_prompt.strip():
            entry["local_prompt"] = o.local_prompt.strip()
        objects.append(entry)
    return {"prompt": request.global_prompt, "objects": objects}


def build_messages(request: PlanRequest) -> list[dict[str, str]]:
    messages = [{"role": "system", "content": SYSTEM_PROMPT}]
    for question, answer in _EXAMPLES:
        messages.append({"role": "user", "content": json.dumps(question)})
        messages.append({"role": "assistant", "content": json.dumps(answer)})
    messages.append({"role": "user", "content": json.dumps(request_payload(request))})
    return messages


class _Deadline:
    """One request's deadline. A timer shuts every socket the request opened down when
    the time is up, so no read outlives the deadline however slowly the server sends
    (a socket timeout alone bounds each read, not their sum)."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.end = time.monotonic() + seconds
        self.expired = False
        self._sockets: list[socket.socket] = []
        self._lock = threading.Lock()
        self._timer = threading.Timer(seconds, self._expire)
        self._timer.daemon = True

    def remaining(self) -> float:
        return max(self.end - time.monotonic(), 0.001)

    def watch(self, sock: socket.socket) -> socket.socket:
        with self._lock:
            self._sockets.append(sock)
            expired = self.expired
        if expired:
            self._shut(sock)
        return sock

    def _expire(self) -> None:
        with self._lock:
            self.expired = True
            sockets = list(self._sockets)
        for sock in sockets:
            self._shut(sock)

    @staticmethod
    def _shut(sock: socket.socket) -> None:
        try:
            # The plain socket's shutdown, also for a TLS socket: the blocked read in the
            # other thread sees end-of-stream at once.
            socket.socket.shutdown(sock, socket.SHUT_RDWR)
        except OSError:
            pass

    def __enter__(self) -> "_Deadline":
        self._timer.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._timer.cancel()


def _watched(connection_class: type, deadline: _Deadline):
    """A connection factory for urllib's handlers whose sockets ``deadline`` can shut."""

    def make(host: str, **kwargs: Any) -> http.client.HTTPConnection:
        conn = connection_class(host, **kwargs)
        create = conn._create_connection

        def create_watched(*args: Any, **kw: Any) -> socket.socket:
            return deadline.watch(create(*args, **kw))

        conn._create_connection = create_watched
        return conn

    return make


class _HTTPHandler(urllib.request.HTTPHandler):
    def __init__(self, deadline: _Deadline) -> None:
        super().__init__()
        self.deadline = deadline

    def http_open(self, req: urllib.request.Request):  # noqa: ANN201 - urllib's signature
        return self.do_open(_watched(http.client.HTTPConnection, self.deadline), req)


class _HTTPSHandler(urllib.request.HTTPSHandler):
    def __init__(self, deadline: _Deadline) -> None:
        super().__init__()
        self.deadline = deadline

    def https_open(self, req: urllib.request.Request):  # noqa: ANN201 - urllib's signature
        return self.do_open(_watched(http.client.HTTPSConnection, self.deadline), req, context=self._context)


def _read_capped(resp: Any, limit: int, deadline: _Deadline, endpoint: str) -> bytes:
    """The body in chunks, stopping past ``limit`` bytes or at the deadline."""
    declared = resp.headers.get("Content-Length", "")
    if declared.strip().isdigit() and int(declared) > limit:
        raise LLMError(f"{endpoint} sends a reply of {int(declared):,} bytes; the limit is {limit:,} (a plan is far smaller)")
    read = getattr(resp, "read1", resp.read)  # read1: at most one socket read per call
    chunks, size = [], 0
    while not deadline.expired:
        chunk = read(_READ_CHUNK)
        if not chunk:
            break
        size += len(chunk)
        if size > limit:
            raise LLMError(f"{endpoint} sent more than {limit:,} bytes; stopped reading (a plan is far smaller)")
        chunks.append(chunk)
    return b"".join(chunks)


def chat_completion(config: LLMConfig, messages: list[dict[str, str]]) -> str:
    """POST the conversation; return the first choice's text. Raises `LLMError`.

    The whole exchange ends within ``config.timeout`` seconds and reads at most
    ``config.max_reply_bytes`` of reply."""
    body = json.dumps(
        {
            "model": config.model,
            "messages": messages,
            "temperature": config.temperature,
            "max_tokens": config.max_tokens,
        }
    ).encode("utf-8")
    headers = {"Content-Type": "application/json", "Accept": "application/json"}
    if config.api_key:
        headers["Authorization"] = f"Bearer {config.api_key}"
    req = urllib.request.Request(config.endpoint, data=body, headers=headers, method="POST")
    late = f"no complete answer from {config.endpoint} within the {config.timeout:g} s deadline"
    with _Deadline(config.timeout) as deadline:
        opener = urllib.request.build_opener(_HTTPHandler(deadline), _HTTPSHandler(deadline))
        try:
            with opener.open(req, timeout=deadline.remaining()) as resp:
                raw = _read_capped(resp, config.max_reply_bytes, deadline, config.endpoint)
        except urllib.error.HTTPError as exc:
            detail = exc.read(300).decode("utf-8", "replace").strip() if exc.fp else ""
            raise LLMError(f"HTTP {exc.code} from {config.endpoint}: {clip_text(detail) or exc.reason}") from None
        except (urllib.error.URLError, http.client.HTTPException, socket.timeout, TimeoutError, OSError) as exc:
            if deadline.expired:
                raise LLMError(late) from None
            reason = getattr(exc, "reason", None) or exc
            if isinstance(reason, (socket.timeout, TimeoutError)):
                raise LLMError(late) from None
            raise LLMError(f"cannot reach {config.endpoint}: {clip_text(str(reason))}") from None
        if deadline.expired:  # the reply was cut off at the deadline
            raise LLMError(late)
    try:
        data = json.loads(raw.decode("utf-8"))
        content = data["choices"][0]["message"]["content"]
    except (UnicodeDecodeError, json.JSONDecodeError, KeyError, IndexError, TypeError) as exc:
        raise LLMError(
            f"{config.endpoint} did not answer in the chat-completions format ({_quote(exc)}); "
            f"it sent {_quote(raw[:ECHO_CHARS].decode('utf-8', 'replace'))}"
        ) from None
    if isinstance(content, list):  # some servers send content parts
        content = "".join(p.get("text", "") for p in content if isinstance(p, dict))
    if not isinstance(content, str) or not content.strip():
        raise LLMError("the model's answer is empty")
    return content


_FENCE = re.compile(r"^```[a-zA-Z]*\s*|\s*```$")


def parse_answer(text: str, names: list[str]) -> tuple[str, dict[str, str]]:
    """(motion prompt, name -> local prompt) from the model's text; strict about what
    matters: JSON, both fields, every given name exactly once, no other, no empty prompt.
    Names match ignoring case and surrounding spaces. Raises `LLMError`."""
    body = _FENCE.sub("", text.strip())
    if not body.startswith("{"):
        # Tolerate a sentence around the JSON ("Here is the plan: {...}").
        first, last = body.find("{"), body.rfind("}")
        if first < 0 or last < first:
            raise LLMError(f"the answer holds no JSON object: {_quote(text)}")
        body = body[first : last + 1]
    try:
        data = json.loads(body)
    except json.JSONDecodeError as exc:
        raise LLMError(f"the answer is not valid JSON ({clip_text(str(exc))}): {_quote(body)}") from None
    if not isinstance(data, dict):
        raise LLMError("the answer is not a JSON object")
    motion = data.get("motion_prompt")
    if not isinstance(motion, str) or not motion.strip():
        raise LLMError("the answer has no motion_prompt")
    _check_length("motion_prompt", motion)
    objects = data.get("objects")
    if not isinstance(objects, list):
        raise LLMError("the answer has no objects list")
    wanted = {n.strip().lower(): n for n in names}
    local: dict[str, str] = {}
    for entry in objects:
        if not isinstance(entry, dict) or not isinstance(entry.get("name"), str):
            raise LLMError(f"object entry {_quote(entry)} has no name")
        key = entry["name"].strip().lower()
        if key not in wanted:
            raise LLMError(f"the answer names an unknown object {_quote(entry['name'])}; objects are {names}")
        name = wanted[key]
        if name in local:
            raise LLMError(f"the answer gives {name!r} twice")
        prompt = entry.get("local_prompt")
        if not isinstance(prompt, str) or not prompt.strip():
            raise LLMError(f"the answer gives {name!r} no local_prompt")
        _check_length(f"local_prompt of {name!r}", prompt)
        local[name] = prompt.strip()
    missing = [n for n in names if n not in local]
    if missing:
        raise LLMError(f"the answer leaves out object(s) {missing}")
    return motion.strip(), local


def _check_length(what: str, text: str) -> None:
    if len(text) > MAX_PROMPT_CHARS:
        raise LLMError(
            f"the answer's {what} is {len(text):,} characters long (at most {MAX_PROMPT_CHARS:,}): {_quote(text)}"
        )


class LLMPlanner:
    """Plans with a chat model; falls back to ``fallback`` (rules) on any failure."""

    def __init__(self, config: LLMConfig, fallback: RulePlanner | None = None) -> None:
        self.config = config
        self.fallback = fallback or RulePlanner()

    @property
    def name(self) -> str:
        return f"llm:{self.config.model}"

    def plan(self, request: PlanRequest) -> ScenePlan:
        names = [o.name for o in request.objects]
        try:
            text = chat_completion(self.config, build_messages(request))
            motion, local = parse_answer(text, names)
        except LLMError as exc:
            message = f"LLM planner failed ({exc}); used the rule-based plan instead"
            logger.warning("plan: %s", message)
            plan = self.fallback.plan(request)
            return plan.replace(source=f"{plan.source} (llm fallback)", warnings=(message, *plan.warnings))
        objects = tuple(
            # The user's own local prompt always wins over the model's.
            PlannedObject(o.id, o.name, o.local_prompt.strip() or local[o.name])
            for o in request.objects
        )
        return ScenePlan(
            global_prompt=request.global_prompt,
            motion_prompt=motion,
            objects=objects,
            first_ids=request.first_ids,
            source=self.name,
        )
