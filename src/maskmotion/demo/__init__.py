"""`maskmotion demo`: a web page over `AnimatePipeline`, like the command line.

Upload an image (or pick an example), mark objects with boxes and points, write the
prompts, plan (stage 1), edit the paths, render, and download the files that
`maskmotion render` repeats the result from. The page is a gradio app (the ``demo``
extra); its modules: `state` (one session's objects and paths), `canvas` (what the page
draws and where clicks land), `engine` (the pipeline steps and files), `examples`, and
`app` (layout and events).
"""

import os

from .engine import DemoConfig, DemoEngine


def serve(config: DemoConfig) -> None:
    """Load the pipeline, then serve the page until interrupted."""
    engine = DemoEngine(config)
    # gradio keeps uploads and the files it serves under GRADIO_TEMP_DIR, read once when it
    # is imported: point it into the engine's folder, removed when the page stops.
    os.environ["GRADIO_TEMP_DIR"] = str(engine.root / "gradio")
    from .app import serve as serve_app  # noqa: PLC0415 - gradio is imported only now, on purpose

    serve_app(engine)


__all__ = ["DemoConfig", "DemoEngine", "serve"]
