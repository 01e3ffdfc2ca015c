"""AnimatePipeline on tiny random models: geometry, drags, seeds, renderers, folders."""

import numpy as np
import pytest
import torch

from maskmotion.data.sprites import SpritesConfig, generate_scene
from maskmotion.errors import InputError
from maskmotion.models import MotionDiT, VideoDiT, motion_config, video_config
from maskmotion.pipelines import AnimatePipeline, MotionPipeline, VideoPipeline
from maskmotion.pipelines.animate import load_plan_file, output_size, overlay, run_record, write_run_record
from maskmotion.plan import ObjectRequest, plan_scene
from maskmotion.text import tiny_text_encoder
from maskmotion.trajectory import DragPath, warp_masks

torch.set_num_threads(1)


def _randomised(model, seed=0):
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(torch.randn(p.shape, generator=g) * 0.05)
    return model


@pytest.fixture(scope="module")
def pipe():
    text = tiny_text_encoder(dim=384)
    motion = MotionPipeline(_randomised(MotionDiT(motion_config("tiny"))), text)
    video = VideoPipeline(_randomised(VideoDiT(video_config("tiny")), 1), text)
    return AnimatePipeline(motion, video)


@pytest.fixture(scope="module")
def scene():
    # seed 20000 at this config has two objects: a yellow crescent and a brown triangle
    scene = generate_scene(20000, SpritesConfig(height=16, width=16, num_frames=4, min_objects=2, max_objects=2))
    assert len(scene.objects) == 2
    return scene


@pytest.fixture(scope="module")
def plan(scene):
    objects = [ObjectRequest(o.id, o.name) for o in scene.trajectory.objects]
    return plan_scene(scene.global_prompt, scene.first_ids, objects)


def test_animate_shapes_seeds_and_settings(pipe, scene, plan):
    steps = []
    a = pipe(scene.first_frame, plan, num_inference_steps=2, seed=3,
             callback_on_step_end=lambda stage, i, t, x: steps.append((stage, i)))  # fmt: skip
    assert a.video.shape == (4, 16, 16, 3) and a.video.dtype == np.uint8
    assert a.trajectory.ids.shape == (4, 16, 16)
    assert [o.prompt for o in a.trajectory.objects] == plan.local_prompts
    assert np.array_equal(a.trajectory.ids[0], scene.first_ids)  # frame 0 is the plan's masks
    assert steps == [("motion", 0), ("motion", 1), ("video", 0), ("video", 1)]
    same = pipe(scene.first_frame, plan, num_inference_steps=2, seed=3)
    other = pipe(scene.first_frame, plan, num_inference_steps=2, seed=4)
    assert np.array_equal(a.video, same.video) and np.array_equal(a.trajectory.ids, same.trajectory.ids)
    assert not np.array_equal(a.video, other.video)
    s = a.settings
    assert s["seed"] == 3 and s["renderer"] == "model" and s["num_frames"] == 4 and s["size"] == [16, 16]
    assert s["motion"]["num_inference_steps"] == 2 and s["motion"]["text_guidance_scale"] == 1.5
    assert s["video"]["num_inference_steps"] == 2 and s["dragged"] == []
    pt = pipe(scene.first_frame, plan, num_inference_steps=1, output_type="pt", renderer="warp")
    assert pt.video.shape == (4, 3, 16, 16) and 0 <= pt.video.min() and pt.video.max() <= 1


def test_plan_then_render_equals_one_call(pipe, scene, plan):
    whole = pipe(scene.first_frame, plan, num_inference_steps=2, seed=5, video_guidance=(1.5, 2.0))
    planned = pipe.plan_trajectory(scene.first_frame, plan, num_inference_steps=2, seed=5)
    video, settings = pipe.render(scene.first_frame, planned.trajectory, plan.global_prompt,
                                  num_inference_steps=2, seed=5, video_guidance=(1.5, 2.0))  # fmt: skip
    assert np.array_equal(whole.trajectory.ids, planned.trajectory.ids)
    assert np.array_equal(whole.video, video)
    assert settings["visual_guidance_scale"] == 1.5 and settings["text_guidance_scale"] == 2.0


def test_drag_replaces_stage_1_for_its_object_only(pipe, scene, plan):
    free = pipe.plan_trajectory(scene.first_frame, plan, num_inference_steps=2, seed=1)
    drag = DragPath.parse("3,3 7,3 9,5 9,8")
    dragged = pipe.plan_trajectory(scene.first_frame, plan, {"yellow crescent": drag}, num_inference_steps=2, seed=1)
    assert np.allclose(dragged.tracks[1].dx, [0, 4, 6, 6]) and np.allclose(dragged.tracks[1].dy, [0, 0, 2, 5])
    assert np.allclose(dragged.tracks[2].as_array(), free.tracks[2].as_array())  # stage 1 still moves the other
    alone = warp_masks(np.where(scene.first_ids == 1, 1, 0).astype(np.uint8), {1: drag.track(4)}, 4) == 1
    ids = dragged.trajectory.ids
    assert np.array_equal(ids == 1, alone & (ids != 2))  # object 2 is painted in front
    assert dragged.settings["dragged"] == ["yellow crescent"]

    # Every object dragged: no stage-1 model needed at all, and no stage-2 one for warp.
    bare = AnimatePipeline(None, None)
    out = bare(scene.first_frame, plan, {"yellow crescent": drag, 2: DragPath.parse("8,8 8,4")}, renderer="warp")
    assert out.settings["motion"] is None and out.video.shape == (16, 16, 16, 3)  # default 16 frames
    assert np.allclose(out.tracks[2].dy[-1], -4)
    with pytest.raises(InputError, match="no stage-1 model"):
        bare(scene.first_frame, plan, {"yellow crescent": drag}, renderer="warp")
    with pytest.raises(InputError, match="no stage-2 model"):
        bare(scene.first_frame, plan, {"yellow crescent": drag, 2: drag})


def test_any_image_size_comes_back_at_its_aspect(pipe):
    rng = np.random.default_rng(0)
    image = rng.integers(0, 255, (90, 150, 3), dtype=np.uint8)
    ids = np.zeros((90, 150), np.uint8)
    ids[20:50, 20:60], ids[40:80, 90:140] = 1, 2
    plan = plan_scene("the ball rolls right while the box falls", ids, [ObjectRequest(1, "ball"), ObjectRequest(2, "box")])
    out = pipe(image, plan, num_inference_steps=1, seed=0)
    assert out.video.shape == (4, 90, 150, 3) and out.trajectory.size == (90, 150)
    assert np.array_equal(out.trajectory.ids[0], ids)
    small = pipe(image, plan, num_inference_steps=1, seed=0, max_size=60, renderer="warp",
                 drags={"ball": DragPath.parse("0,0 100,0")}, num_frames=6)  # fmt: skip
    assert small.video.shape == (6, 36, 60, 3)
    assert np.allclose(small.tracks[1].dx[-1], 40)  # 100 input pixels at 60/150 scale
    assert output_size(3000, 4000) == (384, 512) and output_size(40, 30) == (40, 30)


def test_bad_input_is_rejected_before_any_model_runs(pipe, scene, plan):
    calls = []
    cb = lambda *a: calls.append(a)  # noqa: E731
    bad = [
        (dict(image=scene.first_frame[:8]), "plan's masks are"),
        (dict(drags={"dog": DragPath.parse("0,0 1,1")}), "not an object"),
        (dict(num_frames=6), "renders 4 frames"),
        (dict(num_frames=1), "at least 2"),
        (dict(renderer="paint"), "renderer must be"),
        (dict(output_type="gif"), "output_type"),
        (dict(seed=1, generator=torch.Generator()), "not both"),
        (dict(num_inference_steps=0), "positive integer"),
        (dict(video_guidance=(1.0,)), "video_guidance"),
        (dict(image=scene.first_frame.astype(np.float32)), "uint8"),
    ]
    for kwargs, message in bad:
        args = {"image": scene.first_frame, "plan": plan, **kwargs}
        with pytest.raises(InputError, match=message):
            pipe(**args, callback_on_step_end=cb)
    assert calls == []
    traj = pipe.plan_trajectory(scene.first_frame, plan, num_inference_steps=1).trajectory
    with pytest.raises(InputError, match="aspect ratio"):
        pipe.render(np.zeros((16, 40, 3), np.uint8), traj, "x")
    with pytest.raises(InputError, match="prompt is empty"):
        pipe.render(scene.first_frame, traj, "  ")


def test_save_and_load_pretrained(tmp_path, pipe, scene, plan):
    folder = pipe.save_pretrained(tmp_path / "model")
    assert (folder / "motion" / "model.safetensors").is_file() and (folder / "video" / "config.json").is_file()
    loaded = AnimatePipeline.from_pretrained(folder, text_encoder=pipe.motion.text_encoder)
    a = pipe(scene.first_frame, plan, num_inference_steps=1, seed=2)
    b = loaded(scene.first_frame, plan, num_inference_steps=1, seed=2)
    assert np.array_equal(a.video, b.video)
    assert set(loaded.model_info) == {"name_or_path", "motion", "video"} and len(loaded.model_info["video"]["sha256"]) == 64
    render_only = AnimatePipeline.from_pretrained(folder, stages=("video",), text_encoder=pipe.motion.text_encoder)
    assert render_only.motion is None and render_only.video is not None
    assert AnimatePipeline.from_pretrained(tmp_path / "nothing-here", stages=()).model_info["name_or_path"]
    with pytest.raises(InputError, match="not a model folder"):
        AnimatePipeline.from_pretrained(tmp_path, text_encoder=pipe.motion.text_encoder)
    with pytest.raises(InputError, match="no bundled model"):
        AnimatePipeline.from_pretrained("no-such-model")


def test_overlay_and_run_record(tmp_path, pipe, scene, plan):
    out = pipe(scene.first_frame, plan, num_inference_steps=1, renderer="warp")
    side = overlay(out.video, out.trajectory)
    assert side.shape == (4, 16, 32, 3) and np.array_equal(side[:, :, :16], out.video)
    moved = out.trajectory.ids > 0
    assert not np.array_equal(side[:, :, 16:][moved], out.video[moved])
    path = write_run_record(tmp_path / "run.plan.json", run_record("animate", out.settings, plan))
    assert load_plan_file(path) == plan
    assert load_plan_file(plan.save(tmp_path / "bare.json")) == plan
