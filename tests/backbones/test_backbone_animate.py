"""`BackboneAnimatePipeline`: AnimatePipeline's chain (plans, drags, output sizes, the warp
renderer) on the real backbones' TTM models."""

from __future__ import annotations

import numpy as np
import pytest
from backbone_testing import SIZES

from maskmotion.errors import InputError
from maskmotion.pipelines import AnimatePipeline
from maskmotion.pipelines.backbone_animate import BackboneAnimatePipeline
from maskmotion.plan import ObjectRequest, plan_scene
from maskmotion.trajectory import DragPath


def make_plan(scene):
    hints = [ObjectRequest(1, "ball", "a red ball rolls"), ObjectRequest(2, "box", "a blue box slides")]
    return plan_scene("the ball rolls left while the box slides right", scene.ids, hints)


@pytest.mark.parametrize("backbone", ["wan", "animatediff"])
def test_animate_end_to_end(backbone, weights, scene):
    pipe = BackboneAnimatePipeline.from_pretrained(weights[backbone], backbone=backbone)
    pipe.set_progress_bar_config(disable=True)
    assert isinstance(pipe, AnimatePipeline)
    plan = make_plan(scene)
    seen = []
    out = pipe(scene.image, plan, num_inference_steps=2, seed=0, callback_on_step_end=lambda s, *_: seen.append(s))
    frames = SIZES[backbone]["frames"]
    assert pipe.default_frames() == pipe.model_frames == frames
    assert out.video.shape == (frames, 24, 40, 3) and out.video.dtype == np.uint8  # the input's size
    assert out.trajectory.ids.shape == (frames, 24, 40)
    assert np.array_equal(out.trajectory.ids[0], scene.ids)
    assert sorted(out.tracks) == [1, 2] and all(t.num_frames == frames for t in out.tracks.values())
    assert seen == ["motion"] * 2 + ["video"] * 2
    assert out.settings["motion"]["backbone"] == backbone
    assert out.settings["video"]["canvas"] == [SIZES[backbone]["height"], SIZES[backbone]["width"]]
    assert pipe.model_info["backbone"] == backbone


def test_drags_and_warp_need_no_models(weights, scene):
    pipe = BackboneAnimatePipeline.from_pretrained(weights["wan"], stages=())
    pipe.set_progress_bar_config(disable=True)
    plan = make_plan(scene)
    drags = {"ball": DragPath.parse("8,8 20,8"), "box": DragPath.parse("30,16 30,10")}
    out = pipe(scene.image, plan, drags, renderer="warp", num_frames=7)
    assert out.video.shape == (7, 24, 40, 3)
    with pytest.raises(InputError, match="no stage-1 model"):
        pipe(scene.image, plan, renderer="warp")
    with pytest.raises(InputError, match="no stage-2 model"):
        pipe(scene.image, plan, drags)


def test_render_alone_repeats_the_chain(weights, scene):
    pipe = BackboneAnimatePipeline.from_pretrained(weights["animatediff"])
    pipe.set_progress_bar_config(disable=True)
    plan = make_plan(scene)
    out = pipe(scene.image, plan, num_inference_steps=2, seed=5)
    video, settings = pipe.render(scene.image, out.trajectory, plan.global_prompt, num_inference_steps=2, seed=5)
    assert np.array_equal(video, out.video)
    assert settings["renderer"] == "model"
