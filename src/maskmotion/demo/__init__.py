"""`maskmotion demo`: a web page over `AnimatePipeline`, like the command line.

Upload an image (or pick an example), mark objects with boxes and points, write the
prompts, plan (stage 1), edit the paths, render, and download the files that
`maskmotion render` repeats the result from. The page is a gradio app (the ``demo``
extra); its modules: `state` (one session's objects and paths), `canvas` (what the page
draws and where clicks land), `engine` (the pipeline steps and files), `examples`, and
`app` (layout and events).
"""

from .engine import DemoConfig, DemoEngine


def serve(config: DemoConfig) -> None:
    """Load the pipeline, then serve the page until interrupted."""
    from .app import serve as serve_app  # gradio loads only when the page is served

    serve_app(DemoEngine(config))


__all__ = ["DemoConfig", "DemoEngine", "serve"]
