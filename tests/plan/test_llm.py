"""The LLM planner against a real HTTP server on 127.0.0.1 speaking the OpenAI
chat-completions protocol, answering canned good and bad responses."""

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np
import pytest

from maskmotion.errors import InputError
from maskmotion.plan import LLMConfig, LLMPlanner, ObjectRequest, make_planner, plan_scene
from maskmotion.plan.llm import build_messages, parse_answer

PROMPT = "a dog and a cat play; the dog jumps while the cat runs left"
GOOD = {
    "motion_prompt": "The dog jumps while the cat runs left.",
    "objects": [
        {"name": "dog", "local_prompt": "the playful dog jumps"},
        {"name": "cat", "local_prompt": "the cat runs to the left"},
    ],
}


class _Server:
    """A chat-completions server; ``reply`` is (status, body text, delay seconds)."""

    def __init__(self):
        self.requests = []
        self.reply = (200, "", 0.0)
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 (http.server's name)
                length = int(self.headers.get("Content-Length", 0))
                server.requests.append(
                    {"path": self.path, "headers": dict(self.headers), "body": json.loads(self.rfile.read(length))}
                )
                status, body, delay = server.reply
                time.sleep(delay)
                data = body.encode()
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client timed out and left

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def answer(self, content, status=200, delay=0.0):
        if not isinstance(content, str):
            content = json.dumps(content)
        body = {"id": "x", "object": "chat.completion", "choices": [{"index": 0, "message": {"role": "assistant", "content": content}}]}
        self.reply = (status, json.dumps(body), delay)

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture(scope="module")
def server():
    s = _Server()
    yield s
    s.close()


def _ids():
    ids = np.zeros((20, 40), np.uint8)
    ids[5:15, 2:12] = 1
    ids[5:15, 25:35] = 2
    return ids


def _plan(server, local=("", ""), timeout=5.0, api_key=None):
    planner = LLMPlanner(LLMConfig(server.url, "tiny-model", api_key=api_key, timeout=timeout))
    objects = [ObjectRequest(1, "dog", local[0]), ObjectRequest(2, "cat", local[1])]
    return plan_scene(PROMPT, _ids(), objects, planner)


def test_good_answer_and_protocol(server):
    server.answer(GOOD)
    plan = _plan(server, api_key="sk-test")
    assert plan.source == "llm:tiny-model"
    assert plan.motion_prompt == GOOD["motion_prompt"]
    assert plan.local_prompts == ["the playful dog jumps", "the cat runs to the left"]
    assert plan.warnings == ()
    req = server.requests[-1]
    assert req["path"] == "/v1/chat/completions"
    assert req["headers"]["Authorization"] == "Bearer sk-test"
    assert req["body"]["model"] == "tiny-model"
    messages = req["body"]["messages"]
    assert messages[0]["role"] == "system" and messages[-1]["role"] == "user"
    asked = json.loads(messages[-1]["content"])
    assert asked == {"prompt": PROMPT, "objects": [{"name": "dog", "place": "middle left"}, {"name": "cat", "place": "middle right"}]}
    # few-shot: alternating user/assistant examples whose answers parse
    for q, a in zip(messages[1:-1:2], messages[2:-1:2]):
        assert q["role"] == "user" and a["role"] == "assistant"
        names = [o["name"] for o in json.loads(q["content"])["objects"]]
        parse_answer(a["content"], names)


def test_user_local_prompt_wins_and_is_sent(server):
    server.answer(GOOD)
    plan = _plan(server, local=("the dog sits", ""))
    assert plan.local_prompts == ["the dog sits", "the cat runs to the left"]
    asked = json.loads(server.requests[-1]["body"]["messages"][-1]["content"])
    assert asked["objects"][0]["local_prompt"] == "the dog sits"


def test_no_api_key_no_header(server):
    server.answer(GOOD)
    _plan(server)
    assert "Authorization" not in server.requests[-1]["headers"]


@pytest.mark.parametrize(
    "content",
    [
        "```json\n" + json.dumps(GOOD) + "\n```",
        "Here is the plan:\n" + json.dumps(GOOD) + "\nEnjoy!",
        json.dumps({**GOOD, "objects": [{"name": " Dog ", "local_prompt": "the playful dog jumps"}, GOOD["objects"][1]]}),
    ],
    ids=["fenced", "prose-around", "name-case"],
)
def test_tolerated_wrapping(server, content):
    server.answer(content)
    plan = _plan(server)
    assert plan.source == "llm:tiny-model"
    assert plan.local_prompts[0] == "the playful dog jumps"


@pytest.mark.parametrize(
    "content, reason",
    [
        ("I cannot help with that.", "no JSON object"),
        ("{not json}", "not valid JSON"),
        ("[1, 2]", "no JSON object"),
        ({"objects": GOOD["objects"]}, "no motion_prompt"),
        ({"motion_prompt": "x"}, "no objects list"),
        ({**GOOD, "objects": [GOOD["objects"][0]]}, "leaves out object(s) ['cat']"),
        ({**GOOD, "objects": [*GOOD["objects"], {"name": "bird", "local_prompt": "b"}]}, "unknown object 'bird'"),
        ({**GOOD, "objects": [GOOD["objects"][0], GOOD["objects"][0]]}, "'dog' twice"),
        ({**GOOD, "objects": [GOOD["objects"][0], {"name": "cat", "local_prompt": " "}]}, "no local_prompt"),
        ({**GOOD, "objects": [GOOD["objects"][0], {"local_prompt": "x"}]}, "has no name"),
    ],
)
def test_bad_answers_fall_back_to_rules(server, content, reason, caplog):
    server.answer(content)
    plan = _plan(server)
    assert plan.source == "rules (llm fallback)"
    assert plan.motion_prompt == "The dog and the cat play, the dog jumps while the cat runs left."
    assert reason in plan.warnings[0], plan.warnings[0]
    assert "used the rule-based plan" in caplog.text


def test_http_errors_fall_back(server):
    server.reply = (500, '{"error": "model overloaded"}', 0.0)
    plan = _plan(server)
    assert plan.source == "rules (llm fallback)" and "HTTP 500" in plan.warnings[0] and "overloaded" in plan.warnings[0]
    server.reply = (200, "<html>not json</html>", 0.0)
    plan = _plan(server)
    assert "chat-completions format" in plan.warnings[0]
    server.reply = (200, json.dumps({"choices": []}), 0.0)
    assert "chat-completions format" in _plan(server).warnings[0]


def test_timeout_falls_back(server):
    server.answer(GOOD, delay=1.0)
    start = time.monotonic()
    plan = _plan(server, timeout=0.2)
    assert time.monotonic() - start < 1.0
    assert plan.source == "rules (llm fallback)" and "within the 0.2 s deadline" in plan.warnings[0]


def test_unreachable_server_falls_back():
    import socket

    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    planner = LLMPlanner(LLMConfig(f"http://127.0.0.1:{port}", "m", timeout=2))
    plan = plan_scene("the dog jumps", _ids(), [ObjectRequest(1, "dog"), ObjectRequest(2, "cat")], planner)
    assert plan.source == "rules (llm fallback)" and "cannot reach" in plan.warnings[0]


def test_config_endpoint_and_env():
    assert LLMConfig("http://h:1", "m").endpoint == "http://h:1/v1/chat/completions"
    assert LLMConfig("http://h:1/v1/", "m").endpoint == "http://h:1/v1/chat/completions"
    assert LLMConfig("https://h/api/v1/chat/completions", "m").endpoint == "https://h/api/v1/chat/completions"
    env = {"MASKMOTION_LLM_BASE_URL": "http://e:2", "MASKMOTION_LLM_MODEL": "em", "MASKMOTION_LLM_API_KEY": "k"}
    cfg = LLMConfig.from_env(environ=env)
    assert (cfg.base_url, cfg.model, cfg.api_key) == ("http://e:2", "em", "k")
    cfg = LLMConfig.from_env(base_url="http://a:3", model="am", environ=env)
    assert (cfg.base_url, cfg.model) == ("http://a:3", "am")
    with pytest.raises(InputError, match="MASKMOTION_LLM_BASE_URL"):
        LLMConfig.from_env(environ={})
    with pytest.raises(InputError, match="MASKMOTION_LLM_MODEL"):
        LLMConfig.from_env(environ={"MASKMOTION_LLM_BASE_URL": "http://x"})
    with pytest.raises(InputError, match="http://"):
        LLMConfig("file:///etc/passwd", "m")
    with pytest.raises(InputError, match="timeout"):
        LLMConfig("http://x", "m", timeout=0)


def test_make_planner(monkeypatch):
    assert make_planner().plan is not None
    monkeypatch.setenv("MASKMOTION_LLM_BASE_URL", "http://127.0.0.1:9")
    monkeypatch.setenv("MASKMOTION_LLM_MODEL", "m")
    assert isinstance(make_planner("llm"), LLMPlanner)
    with pytest.raises(InputError, match="unknown planner"):
        make_planner("oracle")


def test_messages_shape():
    from maskmotion.plan import PlanRequest

    msgs = build_messages(PlanRequest(PROMPT, _ids(), (ObjectRequest(1, "dog"), ObjectRequest(2, "cat"))))
    assert len(msgs) == 1 + 2 * 3 + 1
    assert "JSON" in msgs[0]["content"]


SERVER_SCRIPT = r"""
import json, sys
from http.server import BaseHTTPRequestHandler, HTTPServer

answer = json.loads(sys.argv[1])


class Handler(BaseHTTPRequestHandler):
    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        reply = {"id": "x", "object": "chat.completion", "model": body["model"],
                 "choices": [{"index": 0, "finish_reason": "stop",
                              "message": {"role": "assistant", "content": json.dumps(answer)}}]}
        data = json.dumps(reply).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):
        pass


httpd = HTTPServer(("127.0.0.1", 0), Handler)
print(httpd.server_address[1], flush=True)
httpd.serve_forever()
"""


def test_planner_against_a_server_in_another_process():
    import subprocess
    import sys

    proc = subprocess.Popen([sys.executable, "-c", SERVER_SCRIPT, json.dumps(GOOD)], stdout=subprocess.PIPE, text=True)
    try:
        port = int(proc.stdout.readline())
        planner = LLMPlanner(LLMConfig(f"http://127.0.0.1:{port}", "tiny-model", timeout=10.0))
        plan = plan_scene(PROMPT, _ids(), [ObjectRequest(1, "dog"), ObjectRequest(2, "cat")], planner)
        assert plan.source == "llm:tiny-model"
        assert plan.local_prompts == ["the playful dog jumps", "the cat runs to the left"]
    finally:
        proc.terminate()
        proc.wait(timeout=10)
