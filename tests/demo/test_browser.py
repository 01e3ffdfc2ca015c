"""The web page in a real browser: Debian's Chromium, headless, driven by Playwright.

The bundled example end to end, as a user does it: upload, a box per object (one by two
clicks, one by a mouse drag), names and prompts, Plan, drag a path's end point, Render, download, and repeat the render with
`maskmotion render` from the downloaded files. Screenshots go to the test's folder, and
also to $MASKMOTION_DEMO_SCREENSHOTS when set (docs/images/ for docs/demo.md).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from maskmotion.trajectory import MaskTrajectory
from maskmotion.video import read_video

from demo_server import EXAMPLE, ROOT

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
BROWSER_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
    "--disable-component-update", "--disable-sync",
]  # fmt: skip
# The example's objects: boxes (x0, y0, x1, y1 exclusive) in image pixels, as drawn.
CRESCENT_BOX = (28, 9, 48, 33)
STAR_BOX = (16, 29, 40, 51)
PROMPT = "the white crescent falls gently while the red star slides to the left at a steady pace"
# A local prompt of its own (not the planner's split) that still names the direction:
# "slides away" alone leaves stage 1 to guess it, and some seeds barely move the star.
STAR_PROMPT = "the large red spotted star slides away to the left"
STAR_END = (40, 50)  # where the star's path is dragged to end


def _skip_reason() -> str | None:
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "playwright is not installed (pip install -e '.[dev]')"
    if CHROMIUM is None:
        return "no chromium on PATH (Debian: apt-get install chromium; .ci/run installs it when it can)"
    return None


@pytest.fixture(scope="module")
def browser():
    reason = _skip_reason()
    if reason:
        print(f"browser tests skipped: {reason}")
        pytest.skip(reason)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=BROWSER_ARGS)
        yield b
        b.close()


class Page:
    """The demo page and the few gestures the tests need."""

    def __init__(self, page, shots: Path) -> None:
        self.page, self.shots = page, shots

    def status(self) -> str:
        return self.page.inner_text('#status [data-testid="markdown"]')

    def wait_status(self, text: str, timeout: float = 60, before: str | None = None) -> str:
        """Wait until the status shows ``text`` (or a problem); ``before``: a status that
        must have gone first (the same problem may already show)."""
        from playwright.sync_api import TimeoutError as PlaywrightTimeout

        try:
            self.page.wait_for_function(
                "([t, b]) => { const root = document.querySelector('#status');"
                # While an event runs, gradio's tracker shows over the status: wait it out.
                " const busy = root.querySelector('[data-testid=\"status-tracker\"]');"
                " if (busy && !busy.classList.contains('hide')) return false;"
                " const s = root.querySelector('[data-testid=\"markdown\"]').innerText;"
                " return (b === null || s !== b) && (s.includes(t) || s.includes('Problem:')); }",
                arg=[text, before], timeout=timeout * 1000,
            )  # fmt: skip
        except PlaywrightTimeout:
            self.page.screenshot(path=str(self.shots / "timeout.png"), full_page=True)
            pytest.fail(f"no {text!r} on the page after {timeout} s; the status says {self.status()!r}")
        status = self.status()
        assert text in status, status
        return status

    def fill(self, elem_id: str, text: str) -> None:
        self.page.locator(f"#{elem_id}").locator("textarea, input").first.fill(text)

    def value(self, elem_id: str) -> str:
        return self.page.locator(f"#{elem_id}").locator("textarea, input").first.input_value()

    def mode(self, name: str) -> None:
        self.page.locator("#mode").get_by_text(name, exact=True).click()

    def _at(self, x: float, y: float, size: int = 64) -> tuple[float, float]:
        """The screen point of image pixel (x, y) of a size x size image on the canvas."""
        img = self.page.locator("#canvas img").first
        img.scroll_into_view_if_needed()
        box = img.bounding_box()
        natural_w, natural_h = img.evaluate("e => [e.naturalWidth, e.naturalHeight]")
        # The picture is drawn centred, at its own size or smaller (object-fit: scale-down).
        r = min(box["width"] / natural_w, box["height"] / natural_h, 1.0)
        left, top = (box["width"] - natural_w * r) / 2, (box["height"] - natural_h * r) / 2
        per_pixel = natural_w * r / size
        return box["x"] + left + (x + 0.5) * per_pixel, box["y"] + top + (y + 0.5) * per_pixel

    def click_image(self, x: float, y: float) -> None:
        self.page.mouse.click(*self._at(x, y))

    def drag_image(self, start: tuple[float, float], end: tuple[float, float]) -> None:
        """Press the mouse button on image pixel ``start``, move, release on ``end``."""
        self.page.mouse.move(*self._at(*start))
        self.page.mouse.down()
        self.page.mouse.move(*self._at(*end), steps=6)
        self.page.mouse.up()

    def shot(self, name: str) -> None:
        path = self.shots / f"demo_{name}.png"
        self.page.screenshot(path=str(path), full_page=True)
        target = os.environ.get("MASKMOTION_DEMO_SCREENSHOTS")
        if target:
            shutil.copyfile(path, Path(target) / path.name)

    def mark(self, name: str, box: tuple[int, int, int, int], prompt: str = "", drag: bool = False) -> None:
        """Add an object and draw its box: two clicks on opposite corners, or one drag."""
        self.page.click("#add-object")
        self.wait_status("click two opposite corners")
        if drag:
            self.drag_image(box[:2], (box[2] - 1, box[3] - 1))
        else:
            self.click_image(box[0], box[1])
            self.wait_status("Now click the opposite corner")
            self.click_image(box[2] - 1, box[3] - 1)
        self.wait_status("Masks:")
        self.fill("object-name", name)
        self.fill("object-prompt", prompt)
        self.page.click("#save-object")
        self.wait_status(f"Saved {name}")


@pytest.fixture
def page(browser, demo_server, tmp_path):
    context = browser.new_context(viewport={"width": 1400, "height": 1000}, accept_downloads=True)
    p = context.new_page()
    p.goto(demo_server.url)
    p.wait_for_selector("#canvas")
    yield Page(p, tmp_path)
    context.close()


def test_bundled_example_end_to_end(page, tmp_path, demo_server):
    # 1. Upload the bundled example and mark both objects with a box each.
    page.page.set_input_files("#upload input[type=file]", str(EXAMPLE))
    page.wait_status("Loaded crescent_and_star.png")
    page.mark("white crescent", CRESCENT_BOX)
    page.mark("red star", STAR_BOX, STAR_PROMPT, drag=True)
    page.fill("prompt", PROMPT)
    assert page.page.locator("#canvas img").count() == 1
    page.shot("masks")

    # 2. Plan: stage 1 moves both; the star's path is drawn and listed (selected: the star).
    page.page.click("#plan")
    page.wait_status("Planned 16 frames at 64x64; stage 1 moved white crescent, red star")
    planned = [tuple(float(v) for v in p.split("@")[0].split("/")[0].split(",")) for p in page.value("path").split()]
    assert len(planned) == 5 and planned[-1][0] < planned[0][0] - 10, planned  # the star slides left

    # 3. Drag the path's end point with the mouse: the star switches to drag mode.
    page.mode("path: move point")
    page.drag_image(planned[-1], STAR_END)
    page.wait_status("Path of red star edited (drag mode)")
    assert page.page.locator("#drag input").is_checked()
    edited = [tuple(float(v) for v in p.split("@")[0].split("/")[0].split(",")) for p in page.value("path").split()]
    assert edited[:-1] == planned[:-1] and edited[-1] == STAR_END, (planned, edited)
    page.shot("path")

    # 4. Render, timed from the click to the result on the page.
    start = time.perf_counter()
    page.page.click("#render")
    status = page.wait_status("Rendered with the model renderer", timeout=120)
    page.page.wait_for_selector("#video video")
    seconds = time.perf_counter() - start
    print(f"full render of the bundled example from the page: {seconds:.1f} s ({status})")
    page.page.wait_for_timeout(1000)  # let the videos show their first frame
    page.shot("render")
    # Drag mode off: the drawn path is dropped; stage 1 moves the star again from the next Plan.
    page.page.locator("#drag input").uncheck()
    page.wait_status("red star moves by stage 1 again")
    assert page.value("path") == ""

    # 5. Download every file.
    links = page.page.locator("#downloads a[download]")
    assert links.count() == 4
    got = {}
    for i in range(links.count()):
        with page.page.expect_download() as download:
            links.nth(i).click()
        d = download.value
        got[d.suggested_filename] = tmp_path / "downloads" / d.suggested_filename
        d.save_as(got[d.suggested_filename])
    assert set(got) == {"maskmotion.mp4", "maskmotion.trajectory.npz", "maskmotion.plan.json", "maskmotion.input.png"}
    assert got["maskmotion.input.png"].read_bytes() == EXAMPLE.read_bytes()

    record = json.loads(got["maskmotion.plan.json"].read_text())
    plan = record["plan"]
    assert record["settings"]["dragged"] == ["red star"] and record["settings"]["renderer"] == "model"
    prompts = {o["name"]: o["local_prompt"] for o in plan["objects"]}
    assert list(prompts) == ["white crescent", "red star"] and prompts["red star"] == STAR_PROMPT
    assert plan["global_prompt"] == PROMPT

    traj = MaskTrajectory.load(got["maskmotion.trajectory.npz"])
    assert traj.ids.shape == (16, 64, 64)
    star = traj.object("red star").id
    c = traj.centroids()[star]
    moved = c[-1] - c[0]
    # The star follows the edited path: it ends displaced by (end - start) of that path.
    want = np.subtract(STAR_END, edited[0])
    assert np.abs(moved - want).max() < 2.0, (moved, want)

    # 6. `maskmotion render` repeats the video from the downloaded files.
    again = tmp_path / "again.mp4"
    cmd = [sys.executable, "-m", "maskmotion", "render", str(got["maskmotion.input.png"]), "--trajectory",
           str(got["maskmotion.trajectory.npz"]), "--plan", str(got["maskmotion.plan.json"]), "--renderer", "model",
           "--out", str(again), "-q"]  # fmt: skip
    subprocess.run(cmd, check=True, cwd=ROOT, timeout=180)
    assert read_video(again).shape == (16, 64, 64, 3)
    assert again.read_bytes() == got["maskmotion.mp4"].read_bytes()  # the same file, byte for byte


def test_bad_uploads_show_one_line(page, tmp_path):
    not_image = tmp_path / "notes.png"
    not_image.write_text("not a picture")
    page.page.set_input_files("#upload input[type=file]", str(not_image))
    page.wait_status("Problem:")
    assert "cannot read notes.png: not an image" in page.status() and "use a PNG or JPEG" in page.status()
    assert "/tmp" not in page.status()  # the message names the file, not the server's copy

    from PIL import Image

    big = tmp_path / "big.png"
    Image.new("RGB", (400, 300), (10, 20, 30)).save(big)  # 120k pixels; the server allows 100k
    before = page.status()
    page.page.set_input_files("#upload input[type=file]", str(big))
    page.wait_status("above the limit", before=before)
    before = page.status()
    page.page.click("#plan")
    page.wait_status("load an image first", before=before)  # the refused upload left no image behind
