"""AnimatePipeline with a real backbone's stage kinds: plans, drags, output sizes, the warp
renderer, on the real backbones' TTM models."""

from __future__ import annotations

import numpy as np
import pytest
from backbone_testing import SIZES
from nonrigid_motion import NonRigidMotion, is_rigid

from maskmotion.errors import InputError
from maskmotion.pipelines import AnimatePipeline, BackboneMotion, BackboneVideo, Scene
from maskmotion.plan import ObjectRequest, plan_scene
from maskmotion.trajectory import DragPath, fit_to_model, trajectory_to_canvas


def make_plan(scene):
    hints = [ObjectRequest(1, "ball", "a red ball rolls"), ObjectRequest(2, "box", "a blue box slides")]
    return plan_scene("the ball rolls left while the box slides right", scene.ids, hints)


@pytest.mark.parametrize("backbone", ["wan", "animatediff"])
def test_animate_end_to_end(backbone, weights, scene):
    pipe = AnimatePipeline.from_pretrained(weights[backbone], backbone=backbone)
    pipe.set_progress_bar_config(disable=True)
    assert isinstance(pipe.motion_stage, BackboneMotion) and isinstance(pipe.video_stage, BackboneVideo)
    plan = make_plan(scene)
    seen = []
    out = pipe(scene.image, plan, num_inference_steps=2, seed=0, callback_on_step_end=lambda s, *_: seen.append(s))
    frames = SIZES[backbone]["frames"]
    assert pipe.default_frames() == pipe.video_stage.frames == frames
    assert out.video.shape == (frames, 24, 40, 3) and out.video.dtype == np.uint8  # the input's size
    assert out.trajectory.ids.shape == (frames, 24, 40)
    assert np.array_equal(out.trajectory.ids[0], scene.ids)
    assert out.tracks is None  # a generated mask video: the masks themselves reach stage 2
    assert seen == ["motion"] * 2 + ["video"] * 2
    assert out.settings["motion"]["backbone"] == backbone
    assert out.settings["video"]["canvas"] == [SIZES[backbone]["height"], SIZES[backbone]["width"]]
    assert pipe.model_info["backbone"] == backbone


def test_drags_and_warp_need_no_models(weights, scene):
    pipe = AnimatePipeline.from_pretrained(weights["wan"], stages=(), backbone="wan")
    pipe.set_progress_bar_config(disable=True)
    plan = make_plan(scene)
    drags = {"ball": DragPath.parse("8,8 20,8"), "box": DragPath.parse("30,16 30,10")}
    out = pipe(scene.image, plan, drags, renderer="warp", num_frames=7)
    assert out.video.shape == (7, 24, 40, 3)
    with pytest.raises(InputError, match="no stage-1 model"):
        pipe(scene.image, plan, renderer="warp")
    with pytest.raises(InputError, match="no stage-2 model"):
        pipe(scene.image, plan, drags, renderer="model")


def test_render_alone_repeats_the_chain(weights, scene):
    pipe = AnimatePipeline.from_pretrained(weights["animatediff"], backbone="animatediff")
    pipe.set_progress_bar_config(disable=True)
    plan = make_plan(scene)
    out = pipe(scene.image, plan, num_inference_steps=2, seed=5)
    again = pipe.render(Scene(scene.image, plan), out.trajectory, num_inference_steps=2, seed=5)
    assert np.array_equal(again.video, out.video)
    assert again.settings["renderer"] == "model"


@pytest.mark.parametrize("backbone", ["wan", "animatediff"])
def test_stage_2_receives_stage_1_masks_unchanged(backbone, weights, scene, monkeypatch):
    """A non-rigid generated trajectory reaches the backbone's stage 2 as it is, only
    resampled onto its canvas: no tracks are fitted and redrawn on the way."""
    pipe = AnimatePipeline.from_pretrained(weights[backbone], stages=("video",), backbone=backbone)
    pipe.set_progress_bar_config(disable=True)
    chain = AnimatePipeline(NonRigidMotion(frames=SIZES[backbone]["frames"]), pipe.video_stage)
    step = Scene(scene.image, make_plan(scene))
    motion = chain.motion(step)
    assert not is_rigid(motion.trajectory)
    seen = []
    ttm = pipe.video_stage.ttm
    real = ttm.sample_video
    monkeypatch.setattr(ttm, "sample_video", lambda image, traj, *a, **k: seen.append(traj) or real(image, traj, *a, **k))
    chain.render(step, motion, num_inference_steps=1)
    c = ttm.config
    _, _, fmap = fit_to_model(scene.image, None, (c.height, c.width))
    assert np.array_equal(seen[-1].ids, trajectory_to_canvas(motion.trajectory, fmap).ids)
