"""A real `maskmotion demo` process for the page's tests (browser and API)."""

import pytest

from demo_server import start_server, stop_server


@pytest.fixture(scope="module")
def demo_server(tmp_path_factory):
    """`maskmotion demo` on a free port, stopped after the module's tests."""
    pytest.importorskip("gradio", reason="the demo extra is not installed (pip install -e '.[demo]')")
    server = start_server(tmp_path_factory.mktemp("demo") / "server.log")
    yield server
    if server.process.poll() is None:
        stop_server(server)
