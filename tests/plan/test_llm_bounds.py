"""The LLM planner's bounds against misbehaving servers: a real HTTP server in another
process on 127.0.0.1 that drips its reply a byte at a time, sends too much, or sends a
valid answer with an absurdly long prompt. Every case must end quickly and fall back to
the rule-based plan with a short warning."""

import json
import logging
import subprocess
import sys
import time

import numpy as np
import pytest

from maskmotion.errors import clip_text
from maskmotion.plan import LLMConfig, LLMPlanner, ObjectRequest, plan_scene
from maskmotion.plan.llm import MAX_PROMPT_CHARS, LLMError, chat_completion

# The server picks its behaviour from the first part of the request path.
SERVER_SCRIPT = r"""
import json, sys, time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

GOOD = {"motion_prompt": "The dog jumps.", "objects": [{"name": "dog", "local_prompt": "the dog jumps"}]}


def reply(content):
    return json.dumps({"choices": [{"index": 0, "message": {"role": "assistant", "content": content}}]}).encode()


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_POST(self):
        self.rfile.read(int(self.headers["Content-Length"]))
        mode = self.path.strip("/").split("/")[0]
        try:
            if mode == "drip-body":  # headers at once, then a byte a second, for at most 60 s
                data = reply(json.dumps(GOOD))
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.flush()
                for b in data[:60]:
                    self.wfile.write(bytes([b]))
                    self.wfile.flush()
                    time.sleep(1.0)
            elif mode == "drip-headers":  # even the status line comes a byte a second
                for b in b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nX-Padding: " + b"x" * 60:
                    self.wfile.write(bytes([b]))
                    self.wfile.flush()
                    time.sleep(1.0)
            elif mode in ("big-declared", "big-streamed"):  # 3 MB of valid JSON
                data = reply("x" * 3_000_000)
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                if mode == "big-declared":
                    self.send_header("Content-Length", str(len(data)))
                else:  # no length: the body runs until the connection closes
                    self.send_header("Connection", "close")
                    self.close_connection = True
                self.end_headers()
                for k in range(0, len(data), 65536):
                    self.wfile.write(data[k : k + 65536])
            elif mode == "huge-prompt":  # a valid answer, under the size cap, one prompt huge
                answer = dict(GOOD, motion_prompt="The dog jumps " + "and jumps " * 50_000)
                data = reply(json.dumps(answer))
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
            else:
                self.send_error(404)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up, as it should

    def log_message(self, *args):
        pass


httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
httpd.daemon_threads = True
print(httpd.server_address[1], flush=True)
httpd.serve_forever()
"""


@pytest.fixture(scope="module")
def server_url():
    proc = subprocess.Popen([sys.executable, "-c", SERVER_SCRIPT], stdout=subprocess.PIPE, text=True)
    try:
        port = int(proc.stdout.readline())
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        proc.stdout.close()


def _ids():
    ids = np.zeros((20, 40), np.uint8)
    ids[5:15, 2:12] = 1
    return ids


def _plan(url, timeout=2.0):
    planner = LLMPlanner(LLMConfig(url, "tiny-model", timeout=timeout))
    return plan_scene("the dog jumps", _ids(), [ObjectRequest(1, "dog")], planner)


@pytest.mark.parametrize("mode", ["drip-body", "drip-headers"])
def test_dripping_server_meets_the_whole_request_deadline(server_url, mode):
    # Each byte comes well within the 2 s timeout, so a per-read timeout would never fire
    # and the old client waited a minute per byte; the deadline covers the whole request.
    start = time.monotonic()
    plan = _plan(f"{server_url}/{mode}", timeout=2.0)
    elapsed = time.monotonic() - start
    assert elapsed < 4.0, elapsed
    assert plan.source == "rules (llm fallback)"
    assert "within the 2 s deadline" in plan.warnings[0], plan.warnings[0]


@pytest.mark.parametrize("mode", ["big-declared", "big-streamed"])
def test_oversized_reply_is_abandoned(server_url, mode):
    config = LLMConfig(f"{server_url}/{mode}", "tiny-model", timeout=10.0)
    with pytest.raises(LLMError, match="1,000,000") as info:
        chat_completion(config, [{"role": "user", "content": "hi"}])
    assert len(str(info.value)) < 400
    plan = _plan(f"{server_url}/{mode}", timeout=10.0)
    assert plan.source == "rules (llm fallback)" and "1,000,000" in plan.warnings[0]


def test_huge_prompt_in_a_valid_answer_is_refused_and_quoted_short(server_url, caplog):
    caplog.set_level(logging.INFO)
    plan = _plan(f"{server_url}/huge-prompt", timeout=10.0)
    assert plan.source == "rules (llm fallback)"
    warning = plan.warnings[0]
    assert f"at most {MAX_PROMPT_CHARS:,}" in warning and "…" in warning
    assert len(warning) < 800, len(warning)
    assert caplog.records and max(len(r.getMessage()) for r in caplog.records) < 800


def test_clip_text():
    assert clip_text("short") == "short"
    long = "a" * 1000
    out = clip_text(long)
    assert out.startswith("a" * 200 + "…") and "1,000 characters" in out and len(out) < 240
