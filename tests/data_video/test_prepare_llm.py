"""Prompts written by the LLM planner during prepare, against a real HTTP server on
127.0.0.1 that speaks the OpenAI chat-completions protocol."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from clip_testing import TINY

from maskmotion.data.video import ShardSet
from maskmotion.prepare import PrepareOptions, prepare


class Handler(BaseHTTPRequestHandler):
    """Answers every plan request with one local prompt per object it was asked about."""

    def do_POST(self):  # noqa: N802 (http.server's name)
        body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))))
        asked = json.loads(body["messages"][-1]["content"])
        names = [o["name"] for o in asked["objects"]]
        answer = {"motion_prompt": f"{' and '.join(names)} move", "objects": [{"name": n, "local_prompt": f"the {n} moves"} for n in names]}
        data = json.dumps({"choices": [{"index": 0, "message": {"role": "assistant", "content": json.dumps(answer)}}]}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):
        pass


@pytest.fixture
def server(monkeypatch):
    for var in ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.delenv(var, raising=False)
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


def test_llm_planner_writes_the_prompts(clip_folder, server, tmp_path):
    options = PrepareOptions(**TINY, max_windows=2, planner="llm", llm_url=server, llm_model="tiny-model")
    stats = prepare(clip_folder, tmp_path / "out", options, progress=False)
    assert stats["samples"] >= 1
    shards = ShardSet(f"shards:{tmp_path}/out/shards/*.tar")
    for i in range(len(shards)):
        sample = shards.sample(i)
        assert sample.meta["planner"] == "llm:tiny-model"
        names = [o.name for o in sample.objects]
        assert sample.local_prompts == [f"the {n} moves" for n in names]
        assert sample.motion_prompt == f"{' and '.join(names)} move"
