"""The gradio page: layout and events. Every event takes the session's state, changes it
(`state.Session`) or asks the engine to run a pipeline step (`engine.DemoEngine`), and
redraws; a bad input shows as one line in the status box, never as a stack trace.
"""

# No `from __future__ import annotations`: gradio reads the events' annotations
# (gr.SelectData) at run time.
import functools
import os
from typing import Any, Callable

# The page must not call home: set before gradio is imported, which reads it.
os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"

import gradio as gr  # noqa: E402 - after the setting above

from ..errors import InputError  # noqa: E402
from ..pipelines.animate import RENDERERS  # noqa: E402
from .canvas import Canvas  # noqa: E402
from .engine import IMAGE_SUFFIXES, DemoEngine  # noqa: E402
from .examples import Example, load_examples  # noqa: E402
from .state import ObjectPath, Session, mask_centre, paths_from_trajectory  # noqa: E402


MODES = ("box", "point on object", "point off object", "path: add points", "path: move point")
#: Modes where a mouse drag is a press and a release (a box's corners, a dot picked up and
#: put down); in the others a drag counts once, where the button came up, as a click does.
DRAG_MODES = ("box", "path: move point")
#: How near (screen pixels) a click must be to a path's dot to pick it up.
PICK_REACH = 14
#: The longest wait (seconds) between two looks for gradio's served files to remove.
CACHE_SWEEP_EVERY = 600
HELP = """\
**1.** Upload an image or load an example. **2.** Mark each object: *Add object*, then with
**Clicks: box** drag from corner to corner (or click two opposite corners); its mask shows at
once (points on / off the object refine it). Name it and give it its own prompt, then *Save
object*. **3.** Write the prompt and press **Plan**: stage 1 moves the masks, and each
object's path is drawn. Drag a path's dots to new places (**path: move point**) or draw a new
path (**path: add points**); an edited object is in *drag mode* and follows its path.
**4.** **Render**, then download the video, `maskmotion.trajectory.npz` and
`maskmotion.plan.json`:
`maskmotion render maskmotion.input.png --trajectory maskmotion.trajectory.npz --plan maskmotion.plan.json --out v.mp4`
repeats the render."""


def parse_drag(gesture: str) -> tuple[tuple[int, int], tuple[int, int]]:
    """The canvas pixels where a drag's button went down and came up, from the page's
    hidden ``"x0,y0 x1,y1 n"`` (``n`` counts drags, so two equal drags both fire)."""
    try:
        start, end = ([int(v) for v in part.split(",")] for part in gesture.split()[:2])
        if len(start) != 2 or len(end) != 2:
            raise ValueError
    except ValueError:
        raise InputError(f"the page sent a drag it cannot read ({gesture!r}); reload the page") from None
    return (start[0], start[1]), (end[0], end[1])


class View:
    """The components every event redraws, in a fixed order (made inside the page's
    `gr.Blocks`, in `build_demo`)."""

    def outputs(self) -> list[Any]:
        return [self.state, self.canvas, self.object_list, self.name, self.object_prompt, self.drag, self.path, self.status]


def _problem(exc: Exception) -> str:
    return f"**Problem:** {exc}"


def build_demo(engine: DemoEngine, examples: list[Example] | None = None) -> gr.Blocks:
    """The page, bound to ``engine``."""
    examples = load_examples() if examples is None and engine.config.examples else (examples or [])
    by_label = {e.label: e for e in examples}
    v = View()

    def redraw(session: Session, message: str) -> tuple:
        """Values for `View.outputs`."""
        picture = None
        if session.image_path is not None:
            if session.picture is None:
                session.picture = engine.display_image(session)
            canvas = Canvas(session.source_size)
            picture = canvas.draw(session.picture, session.objects, session.first_ids, session.selected,
                                  session.corner, session.moving)  # fmt: skip
        obj = session.objects[session.selected] if session.selected is not None else None
        return (
            session,
            picture,
            gr.update(choices=session.names(), value=obj.name if obj else None),
            obj.name if obj else "",
            obj.prompt if obj else "",
            bool(obj and obj.drag),
            obj.path.text() if obj and obj.path else "",
            message,
        )

    def guarded(fn: Callable[..., tuple]) -> Callable[..., tuple]:
        """Bad input becomes one line in the status box; the state stays as it was left.
        The session is the engine's for the event's length, so it is not dropped as idle."""

        @functools.wraps(fn)
        def run(session: Session | None, *args, **kwargs):
            session = engine.claim(session)
            try:
                return fn(session, *args, **kwargs)
            except InputError as exc:
                return pad(redraw(session, _problem(exc)), run)
            finally:
                engine.release(session)

        return run

    def pad(values: tuple, event: Callable) -> tuple:
        # Events with more outputs than the view (videos, downloads) leave those unchanged.
        extra = getattr(event, "extra_outputs", 0)
        return values + getattr(event, "on_problem", tuple(gr.update() for _ in range(extra)))

    def refresh_masks(session: Session, prompt: str, what: str) -> str:
        session.forget_plan()
        if not session.boxed():
            session.first_ids = None
            return what
        engine.scene(session, prompt)
        return f"{what} Masks: {', '.join(o.name for o in session.boxed())}."

    # ---- events -------------------------------------------------------------------------
    @guarded
    def on_upload(session: Session, file: str | None):
        # The upload box empties again (the canvas shows the image), ready for another file.
        if file is None:
            return redraw(session, "") + (None,)
        engine.take_upload(session, file, os.path.basename(file))
        return redraw(session, f"Loaded {session.image_label}. Add an object and draw its box.") + (None,)

    on_upload.extra_outputs = 1
    on_upload.on_problem = (None,)  # a refused file leaves the box too

    @guarded
    def on_example(session: Session, label: str | None):
        if label not in by_label:
            raise InputError("pick an example in the list first")
        example = by_label[label]
        path = example.write(session.folder)
        engine.take_upload(session, path, example.label)
        for name, box in example.boxes:
            session.add_object(name).box = box
        message = refresh_masks(session, example.prompt, f"Loaded the example {example.label}.")
        return redraw(session, message) + (example.prompt,)

    on_example.extra_outputs = 1

    def click(session: Session, mode: str, prompt: str, index: tuple[int, int]) -> str:
        """One click on the canvas at canvas pixel ``index``; the message for the status."""
        if session.image_path is None:
            raise InputError("load an image first: upload one or pick an example")
        canvas = Canvas(session.source_size)
        xy = canvas.to_source(index)
        if mode == "box":
            if not session.click_box(xy):
                return "Now click the opposite corner of the box."
            return refresh_masks(session, prompt, f"Box of {session.current.name} set.")
        if mode in ("point on object", "point off object"):
            session.click_point(xy, on_object=mode == "point on object")
            return refresh_masks(session, prompt, f"Point of {session.current.name} added.")
        if mode == "path: add points":
            obj = session.current
            if obj.box is None:
                raise InputError(f"draw a box around {obj.name!r} first")
            centre = mask_centre(session.first_ids, session.boxed().index(obj), session.source_size, obj.box)
            session.click_path_add(xy, centre)
            return f"{obj.name} follows the drawn path (drag mode)."
        if session.click_path_move(xy, PICK_REACH / canvas.scale):
            return f"Path of {session.current.name} edited (drag mode). Plan or Render to see it."
        return "Now click where that point should go."

    @guarded
    def on_click(session: Session, mode: str, prompt: str, evt: gr.SelectData):
        return redraw(session, click(session, mode, prompt, tuple(evt.index)))

    @guarded
    def on_canvas_drag(session: Session, mode: str, prompt: str, gesture: str):
        # One event for the whole drag, so its two ends cannot arrive apart or out of order.
        start, end = parse_drag(gesture)
        if mode in DRAG_MODES:
            click(session, mode, prompt, start)  # press: the first corner, or the dot picked up
        return redraw(session, click(session, mode, prompt, end))

    @guarded
    def on_add(session: Session):
        obj = session.add_object()
        return redraw(session, f"Added {obj.name}: click two opposite corners of it (Clicks: box).")

    @guarded
    def on_remove(session: Session, prompt: str):
        name = session.current.name
        session.remove_selected()
        return redraw(session, refresh_masks(session, prompt, f"Removed {name}."))

    @guarded
    def on_select(session: Session, name: str):
        session.select(name)
        return redraw(session, "")

    @guarded
    def on_save(session: Session, name: str, object_prompt: str):
        old = session.current.name
        session.rename_selected(name, object_prompt)
        new = session.current.name
        return redraw(session, f"Saved {new}" + (f" (was {old})." if new != old else "."))

    @guarded
    def on_drag(session: Session, drag: bool):
        obj = session.current
        if drag:
            if obj.box is None:
                raise InputError(f"draw a box around {obj.name!r} first")
            if obj.path is None:
                centre = mask_centre(session.first_ids, session.boxed().index(obj), session.source_size, obj.box)
                obj.path = ObjectPath.still(centre)
            obj.drag = True
            return redraw(session, f"{obj.name} is in drag mode: it follows its path, not stage 1.")
        # The last trajectory moved it along the drawn path; its stage-1 path shows after Plan.
        obj.drag, obj.path = False, None
        return redraw(session, f"{obj.name} moves by stage 1 again: press Plan to see its path.")

    @guarded
    def on_set_path(session: Session, text: str):
        obj = session.current
        obj.path, obj.drag = ObjectPath.parse(text), True
        return redraw(session, f"{obj.name} follows the typed path (drag mode).")

    @guarded
    def on_plan(session: Session, prompt: str, seed: float, progress=gr.Progress(track_tqdm=True)):
        scene, result = engine.motion(session, prompt, seed)
        video = engine.trajectory_video(session, scene, result)
        found = paths_from_trajectory(result.trajectory, session.source_size)
        for obj in session.boxed():
            if not obj.drag:
                obj.path = found.get(obj.name)
        t = result.trajectory
        moved = [o.name for o in session.boxed() if not o.drag]
        message = (f"Planned {t.num_frames} frames at {t.size[1]}x{t.size[0]}"
                   + (f"; stage 1 moved {', '.join(moved)}" if moved else "; every object follows its drawn path")
                   + ". Edit a path, or Render.")  # fmt: skip
        return redraw(session, message) + (str(video),)

    on_plan.extra_outputs = 1

    @guarded
    def on_render(session: Session, prompt: str, seed: float, renderer: str, progress=gr.Progress(track_tqdm=True)):
        files = engine.render(session, prompt, seed, renderer)
        found = paths_from_trajectory(session.trajectory, session.source_size)
        for obj in session.boxed():
            if not obj.drag:
                obj.path = found.get(obj.name)
        message = f"Rendered with the {files.renderer} renderer in {files.seconds:.1f} s. Downloads below."
        return redraw(session, message) + (str(files.video), str(files.overlay), [str(p) for p in files.downloads])

    on_render.extra_outputs = 3

    # ---- layout -------------------------------------------------------------------------
    # gradio forgets a session's state, and removes the files it served, after the same idle
    # time as the engine; the engine's sweep also covers sessions whose browser went away
    # (gradio keeps those an hour whatever the time to live).
    idle = engine.config.idle_seconds
    delete_cache = (max(1, round(min(CACHE_SWEEP_EVERY, idle / 3))), max(1, round(idle)))
    with gr.Blocks(title="maskmotion", analytics_enabled=False, delete_cache=delete_cache) as demo:
        gr.Markdown("# maskmotion: animate a picture, object by object\n" + HELP)
        v.state = gr.State(None, time_to_live=idle, delete_callback=engine.drop)
        with gr.Row():
            with gr.Column(scale=3):
                v.canvas = gr.Image(label="Image (click to mark)", interactive=False, format="png", elem_id="canvas",
                                    height=540, buttons=[])  # fmt: skip
                v.mode = gr.Radio(list(MODES), value="box", label="Clicks", elem_id="mode")
                # Written by DRAG_AS_ONE_EVENT: a mouse drag on the canvas, both ends at once.
                v.canvas_drag = gr.Textbox(visible="hidden", elem_id="canvas-drag")
                v.status = gr.Markdown("Upload an image or load an example.", elem_id="status")
            with gr.Column(scale=2):
                v.upload = gr.File(label="Upload an image", file_types=list(IMAGE_SUFFIXES), elem_id="upload")
                with gr.Row():
                    v.example = gr.Dropdown([e.label for e in examples], value=examples[0].label if examples else None,
                                            label="Example", elem_id="example", scale=3)  # fmt: skip
                    v.load_example = gr.Button("Load example", elem_id="load-example", scale=1)
                v.prompt = gr.Textbox(label="Prompt (the whole video)", lines=2, elem_id="prompt")
                with gr.Group():
                    v.object_list = gr.Dropdown([], label="Object", elem_id="object-list", allow_custom_value=False)
                    with gr.Row():
                        v.add = gr.Button("Add object", elem_id="add-object")
                        v.remove = gr.Button("Remove object", elem_id="remove-object")
                    v.name = gr.Textbox(label="Name", elem_id="object-name")
                    v.object_prompt = gr.Textbox(label="Its own prompt (optional)", elem_id="object-prompt")
                    v.save = gr.Button("Save object", elem_id="save-object")
                    v.drag = gr.Checkbox(label="Drag mode: follow its path instead of stage 1", elem_id="drag")
                    with gr.Row():
                        v.path = gr.Textbox(label="Path: x,y per keyframe (@scale, /angle)", elem_id="path", scale=3)
                        v.set_path = gr.Button("Set path", elem_id="set-path", scale=1)
                with gr.Accordion("Settings", open=False):
                    v.renderer = gr.Radio(list(RENDERERS), value="auto", label="Renderer", elem_id="renderer",
                                          info="auto: the model on scenes like its training data, else warp")  # fmt: skip
                    v.seed = gr.Number(0, label="Seed", precision=0, minimum=0, elem_id="seed")
                with gr.Row():
                    v.plan = gr.Button("Plan", variant="secondary", elem_id="plan")
                    v.render = gr.Button("Render", variant="primary", elem_id="render")
        with gr.Row():
            v.trajectory = gr.Video(label="Stage 1: the trajectory over the image", elem_id="trajectory", height=300, autoplay=True, loop=True)
            v.video = gr.Video(label="Video", elem_id="video", height=300, autoplay=True, loop=True)
            v.overlay = gr.Video(label="Video | masks over it", elem_id="overlay", height=300, autoplay=True, loop=True)
        v.downloads = gr.File(label="Downloads", file_count="multiple", interactive=False, elem_id="downloads")

        out = v.outputs()
        quick = {"show_progress": "hidden"}
        model = {"concurrency_id": "pipeline", "concurrency_limit": 1}
        v.upload.upload(on_upload, [v.state, v.upload], out + [v.upload], api_name="upload", show_progress_on=[v.status], **model)
        v.load_example.click(on_example, [v.state, v.example], out + [v.prompt], api_name="load_example",
                             show_progress_on=[v.status], **model)  # fmt: skip
        # "multiple": quick clicks all count, in order (a drag is one event of its own, below).
        v.canvas.select(on_click, [v.state, v.mode, v.prompt], out, show_progress_on=[v.status], trigger_mode="multiple",
                        **model)  # fmt: skip
        v.canvas_drag.change(on_canvas_drag, [v.state, v.mode, v.prompt, v.canvas_drag], out, show_progress_on=[v.status],
                            trigger_mode="multiple", **model)  # fmt: skip
        v.add.click(on_add, [v.state], out, **quick)
        v.remove.click(on_remove, [v.state, v.prompt], out, show_progress_on=[v.status], **model)
        v.object_list.input(on_select, [v.state, v.object_list], out, **quick)
        v.save.click(on_save, [v.state, v.name, v.object_prompt], out, **quick)
        v.drag.input(on_drag, [v.state, v.drag], out, **quick)
        v.set_path.click(on_set_path, [v.state, v.path], out, **quick)
        # Progress shows where the result will appear, not over every component.
        v.plan.click(on_plan, [v.state, v.prompt, v.seed], out + [v.trajectory], api_name="plan",
                     show_progress_on=[v.status, v.trajectory], **model)  # fmt: skip
        v.render.click(on_render, [v.state, v.prompt, v.seed, v.renderer], out + [v.video, v.overlay, v.downloads],
                       api_name="render", show_progress_on=[v.status, v.video], **model)  # fmt: skip
    return demo


# Never draw the canvas larger than its pixels: gradio maps a click to image pixels
# assuming the picture is shown at most at its own size.
CSS = "#canvas img { object-fit: scale-down; }"
# A mouse drag on the canvas (a box from corner to corner, a path's dot to its new place)
# goes to the server as one event with both ends, through the hidden #canvas-drag box; the
# click the browser sends after the release is swallowed. Pixels are found as gradio finds
# a click's: the picture drawn centred, scaled down to fit, never up.
DRAG_AS_ONE_EVENT = """
() => {
  let down = null, swallow = false, count = 0;
  const pixel = (img, e) => {
    const r = img.getBoundingClientRect();
    const s = Math.min(r.width / img.naturalWidth, r.height / img.naturalHeight, 1);
    const x = Math.round((e.clientX - r.left - (r.width - img.naturalWidth * s) / 2) / s);
    const y = Math.round((e.clientY - r.top - (r.height - img.naturalHeight * s) / 2) / s);
    return x < 0 || x >= img.naturalWidth || y < 0 || y >= img.naturalHeight ? null : [x, y];
  };
  document.addEventListener("dragstart", (e) => { if (e.target.closest("#canvas")) e.preventDefault(); }, true);
  document.addEventListener("mousedown", (e) => {
    swallow = false;
    const img = e.target.closest("#canvas") && document.querySelector("#canvas img");
    down = img ? { x: e.clientX, y: e.clientY, img: img, at: pixel(img, e) } : null;
  }, true);
  document.addEventListener("mouseup", (e) => {
    const start = down;
    down = null;
    if (!start || !start.at || Math.hypot(e.clientX - start.x, e.clientY - start.y) < 5) return;
    const end = pixel(start.img, e);
    if (!end) return;
    swallow = true;
    const box = document.querySelector("#canvas-drag textarea, #canvas-drag input");
    box.value = `${start.at[0]},${start.at[1]} ${end[0]},${end[1]} ${++count}`;
    box.dispatchEvent(new Event("input", { bubbles: true }));
  }, true);
  document.addEventListener("click", (e) => {
    if (swallow && e.target.closest("#canvas")) { e.stopPropagation(); e.preventDefault(); }
    swallow = false;
  }, true);
}
"""
THEME_FONTS = ["ui-sans-serif", "system-ui", "sans-serif"]
MONO_FONTS = ["ui-monospace", "monospace"]


def serve(engine: DemoEngine) -> None:
    """Build the page and serve it until interrupted; the engine's files go with it."""
    c = engine.config
    demo = build_demo(engine)
    demo.queue(max_size=c.queue_size, default_concurrency_limit=1)
    theme = gr.themes.Default(font=THEME_FONTS, font_mono=MONO_FONTS)  # local fonts: no font download
    try:
        demo.launch(
            server_name=c.host, server_port=c.port, share=c.share, max_file_size=c.max_upload_bytes,
            allowed_paths=[str(engine.root)], theme=theme, css=CSS, js=DRAG_AS_ONE_EVENT, footer_links=["api"], quiet=False,
        )  # fmt: skip
    finally:
        engine.close()
