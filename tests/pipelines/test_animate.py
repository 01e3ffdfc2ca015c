"""AnimatePipeline on tiny random models: the steps, geometry, drags, seeds, renderers, folders."""

import numpy as np
import pytest
import torch
from nonrigid_motion import NonRigidMotion, is_rigid

from maskmotion.data.sprites import SpritesConfig, generate_scene
from maskmotion.errors import InputError
from maskmotion.models import MotionDiT, VideoDiT, motion_config, video_config
import maskmotion.pipelines.stages as stages
from maskmotion.pipelines import AnimatePipeline, MotionPipeline, Scene, VideoPipeline
from maskmotion.pipelines.outputs import load_plan_file, overlay, run_record, write_run_record
from maskmotion.plan import ObjectRequest, plan_scene
from maskmotion.text import tiny_text_encoder
from maskmotion.trajectory import DragPath, output_size, warp_masks

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
    # seed 20000 at this config has two objects
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
    assert s["motion"]["kind"] == "small" and s["video"]["kind"] == "small"
    assert s["motion"]["num_inference_steps"] == 2 and s["motion"]["text_guidance_scale"] == 1.5
    assert s["video"]["num_inference_steps"] == 2 and s["dragged"] == []
    pt = pipe(scene.first_frame, plan, num_inference_steps=1, output_type="pt", renderer="warp")
    assert pt.video.shape == (4, 3, 16, 16) and 0 <= pt.video.min() and pt.video.max() <= 1


def test_plan_then_render_equals_one_call(pipe, scene, plan):
    whole = pipe(scene.first_frame, plan, num_inference_steps=2, seed=5, video_guidance=(1.5, 2.0))
    step = Scene(scene.first_frame, plan)
    planned = pipe.motion(step, num_inference_steps=2, seed=5)
    rendered = pipe.render(step, planned, num_inference_steps=2, seed=5, guidance=(1.5, 2.0))
    assert np.array_equal(whole.trajectory.ids, planned.trajectory.ids)
    assert np.array_equal(whole.video, rendered.video)
    settings = rendered.settings["video"]
    assert settings["visual_guidance_scale"] == 1.5 and settings["text_guidance_scale"] == 2.0
    # A trajectory saved and loaded again (with its tracks) renders the same video.
    again = pipe.render(step, planned.trajectory, num_inference_steps=2, seed=5, guidance=(1.5, 2.0))
    assert np.array_equal(again.video, rendered.video)


def test_drag_replaces_stage_1_for_its_object_only(pipe, scene, plan):
    step = Scene(scene.first_frame, plan)
    first = plan.object(1).name
    free = pipe.motion(step, num_inference_steps=2, seed=1)
    drag = DragPath.parse("3,3 7,3 9,5 9,8")
    dragged = pipe.motion(step, {first: drag}, num_inference_steps=2, seed=1)
    assert np.allclose(dragged.tracks[1].dx, [0, 4, 6, 6]) and np.allclose(dragged.tracks[1].dy, [0, 0, 2, 5])
    assert np.allclose(dragged.tracks[2].as_array(), free.tracks[2].as_array())  # stage 1 still moves the other
    alone = warp_masks(np.where(scene.first_ids == 1, 1, 0).astype(np.uint8), {1: drag.track(4)}, 4) == 1
    ids = dragged.trajectory.ids
    assert np.array_equal(ids == 1, alone & (ids != 2))  # object 2 is painted in front
    assert dragged.settings["dragged"] == [first]

    # Every object dragged: no stage-1 model needed at all, and no stage-2 one for warp.
    bare = AnimatePipeline(None, None)
    out = bare(scene.first_frame, plan, {first: drag, 2: DragPath.parse("8,8 8,4")}, renderer="warp")
    assert out.settings["motion"] is None and out.video.shape == (16, 16, 16, 3)  # default 16 frames
    assert np.allclose(out.tracks[2].dy[-1], -4)
    with pytest.raises(InputError, match="no stage-1 model"):
        bare(scene.first_frame, plan, {first: drag}, renderer="warp")
    with pytest.raises(InputError, match="no stage-2 model"):
        bare(scene.first_frame, plan, {first: drag, 2: drag}, renderer="model")
    assert bare(scene.first_frame, plan, {first: drag, 2: drag}).settings["renderer"] == "warp"


def test_any_image_size_comes_back_at_its_aspect(pipe):
    rng = np.random.default_rng(0)
    image = rng.integers(0, 255, (90, 150, 3), dtype=np.uint8)
    ids = np.zeros((90, 150), np.uint8)
    ids[20:50, 20:60], ids[40:80, 90:140] = 1, 2
    plan = plan_scene("the ball rolls right while the box falls", ids, [ObjectRequest(1, "ball"), ObjectRequest(2, "box")])
    out = pipe(image, plan, num_inference_steps=1, seed=0, renderer="model")
    assert out.video.shape == (4, 90, 150, 3) and out.trajectory.size == (90, 150)
    assert out.settings["renderer"] == "model" and out.settings["video"]["canvas"] == [16, 16]
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
    traj = pipe.motion(Scene(scene.first_frame, plan), num_inference_steps=1).trajectory
    wide = np.zeros((16, 40, 3), np.uint8)
    with pytest.raises(InputError, match="aspect ratio"):
        pipe.render(Scene.for_trajectory(wide, traj, "x"), traj)
    with pytest.raises(InputError, match="prompt is empty"):
        pipe.plan(scene.first_frame, "  ", masks=scene.first_ids)


def test_save_and_load_pretrained(tmp_path, pipe, scene, plan):
    folder = pipe.save_pretrained(tmp_path / "model")
    assert (folder / "motion" / "model.safetensors").is_file() and (folder / "video" / "config.json").is_file()
    loaded = AnimatePipeline.from_pretrained(folder, text_encoder=pipe.motion_stage.pipe.text_encoder)
    a = pipe(scene.first_frame, plan, num_inference_steps=1, seed=2)
    b = loaded(scene.first_frame, plan, num_inference_steps=1, seed=2)
    assert np.array_equal(a.video, b.video)
    assert set(loaded.model_info) == {"name_or_path", "motion", "video"} and len(loaded.model_info["video"]["sha256"]) == 64
    render_only = AnimatePipeline.from_pretrained(folder, stages=("video",), text_encoder=pipe.motion_stage.pipe.text_encoder)
    assert render_only.motion_stage is None and render_only.video_stage is not None
    assert AnimatePipeline.from_pretrained(tmp_path / "nothing-here", stages=()).model_info["name_or_path"]
    with pytest.raises(InputError, match="not a model folder"):
        AnimatePipeline.from_pretrained(tmp_path, text_encoder=pipe.motion_stage.pipe.text_encoder)
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


def test_auto_renderer_keeps_the_model_to_its_own_scenes(pipe, scene, plan):
    own = pipe(scene.first_frame, plan, num_inference_steps=1, seed=0)
    assert own.settings["renderer"] == "model" and "why_warp" not in own.settings["video"]
    photo = np.random.default_rng(1).integers(0, 255, (48, 80, 3), dtype=np.uint8)
    ids = np.zeros((48, 80), np.uint8)
    ids[10:30, 10:30] = 1
    photo_plan = plan_scene("the ball rolls right", ids, [ObjectRequest(1, "ball")])
    out = pipe(photo, photo_plan, num_inference_steps=1, seed=0)
    assert out.settings["renderer"] == "warp" and "16x16" in out.settings["video"]["why_warp"]
    forced = pipe(photo, photo_plan, num_inference_steps=1, seed=0, renderer="model")
    assert forced.settings["renderer"] == "model"


def test_stage_2_receives_stage_1_masks_unchanged(pipe, scene, plan, monkeypatch):
    chain = AnimatePipeline(NonRigidMotion(frames=4), pipe.video_stage)
    chain.set_progress_bar_config(disable=True)
    step = Scene(scene.first_frame, plan)
    motion = chain.motion(step)
    assert not is_rigid(motion.trajectory) and motion.trajectory.tracks is None

    seen = []
    model_pipe = pipe.video_stage.pipe

    class Spy:
        model, default_steps = model_pipe.model, model_pipe.default_steps
        default_visual_guidance, default_text_guidance = 1.0, 1.0

        def __call__(self, image, trajectory, *args, **kwargs):
            seen.append(trajectory)
            return model_pipe(image, trajectory, *args, **kwargs)

    monkeypatch.setattr(pipe.video_stage, "pipe", Spy())
    chain.render(step, motion, renderer="model", num_inference_steps=1)
    # The image is at the model's canvas, so the canvas trajectory is stage 1's, pixel for pixel.
    assert np.array_equal(seen[-1].ids, motion.trajectory.ids)

    warped = []
    real_warp = stages.photo_render
    monkeypatch.setattr(stages, "photo_render", lambda f, t, tr: warped.append(t) or real_warp(f, t, tr))
    chain.render(step, motion, renderer="warp")
    assert np.array_equal(warped[-1].ids, motion.trajectory.ids)


def test_each_stage_gets_the_text_encoder_it_was_trained_on(tmp_path, scene, plan):
    """A stage 1 trained on another encoder runs beside the bundled stage 2: --text-model
    goes to the stage of its width, the bundled MiniLM to the other; a stage that neither
    fits is refused naming the encoder its export records, and so is an encoder no stage reads."""
    from maskmotion.models.io import save_model

    def encoder_folder(name, dim):
        enc = tiny_text_encoder(dim=dim)
        enc.model.save_pretrained(tmp_path / name, safe_serialization=True)
        enc.tokenizer.save_pretrained(tmp_path / name)
        return tmp_path / name

    small = encoder_folder("enc-48", 48)
    save_model(_randomised(MotionDiT(motion_config("tiny", text_dim=48))), tmp_path / "model" / "motion",
               extra={"task": "stage1-motion", "text_model": "runs/text-models/enc-48"})  # fmt: skip
    save_model(_randomised(VideoDiT(video_config("tiny")), 1), tmp_path / "model" / "video")
    pipe = AnimatePipeline.from_pretrained(tmp_path / "model", text_model=small)
    assert pipe.motion_stage.pipe.text_encoder.dim == 48 and pipe.video_stage.pipe.text_encoder.dim == 384
    out = pipe(scene.first_frame, plan, num_inference_steps=1, seed=0)
    assert out.video.shape == (4, 16, 16, 3)
    with pytest.raises(InputError, match=r"reads 48-dim text states: it was trained on runs/text-models/enc-48.*--text-model"):
        AnimatePipeline.from_pretrained(tmp_path / "model")
    with pytest.raises(InputError, match=r"gives 64-dim states but the loaded stages read motion: 48, video: 384"):
        AnimatePipeline.from_pretrained(tmp_path / "model", text_model=encoder_folder("enc-64", 64))
    # Render only: the bundled encoder suffices and the other is never needed.
    assert AnimatePipeline.from_pretrained(tmp_path / "model", stages=("video",)).video_stage is not None
