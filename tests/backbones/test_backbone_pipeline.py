"""`BackboneTTM`: the weights folder round trip and both latent-space samplers, on tiny
random configs of the real Wan and AnimateDiff components."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from backbone_testing import SIZES

from maskmotion.errors import InputError
from maskmotion.pipelines.backbone import CONFIG_NAME, BackboneTTM, read_backbone_config
from maskmotion.trajectory import MaskTrajectory, TrajectoryObject

BACKBONES = ("wan", "animatediff")
OBJECTS = [TrajectoryObject(1, "ball", "a red ball rolls"), TrajectoryObject(2, "box", "a blue box slides")]


def canvas_inputs(backbone: str) -> tuple[np.ndarray, np.ndarray]:
    h, w = SIZES[backbone]["height"], SIZES[backbone]["width"]
    image = np.random.default_rng(1).integers(0, 255, (h, w, 3), dtype=np.uint8)
    ids = np.zeros((h, w), np.uint8)
    ids[1 : h // 2, 1 : w // 2] = 1
    ids[h // 2 :, w // 2 :] = 2
    return image, ids


def state(module: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().float().cpu() for k, v in module.state_dict().items()}


@pytest.mark.parametrize("backbone", BACKBONES)
def test_folder_round_trip_is_exact(backbone, weights, tmp_path):
    ttm = BackboneTTM.from_pretrained(weights[backbone])
    again = BackboneTTM.from_pretrained(ttm.save_pretrained(tmp_path / "copy"))
    assert again.config == ttm.config
    for name in ("vae", "text_encoder", "motion", "video"):
        a, b = state(getattr(ttm, name)), state(getattr(again, name))
        assert a.keys() == b.keys()
        assert all(torch.equal(a[k], b[k]) for k in a), name
    assert again.scheduler.config == ttm.scheduler.config
    assert not again.motion.layers and again.video.layers  # stage 1: input widening only
    assert json.loads((tmp_path / "copy" / CONFIG_NAME).read_text())["backbone"] == backbone


@pytest.mark.parametrize("backbone", BACKBONES)
def test_stage1_makes_a_mask_trajectory(backbone, weights):
    ttm = BackboneTTM.from_pretrained(weights[backbone], stages=("motion",))
    image, ids = canvas_inputs(backbone)
    steps = []
    traj = ttm.sample_motion(image, ids, OBJECTS, "the ball rolls left", num_inference_steps=2,
                             callback_on_step_end=lambda i, t, x: steps.append(tuple(x.shape)))  # fmt: skip
    frames = SIZES[backbone]["frames"]
    assert isinstance(traj, MaskTrajectory)
    assert traj.ids.shape == (frames, *ids.shape) and traj.ids.dtype == np.uint8
    assert np.array_equal(traj.ids[0], ids)  # frame 0 is the condition
    assert set(np.unique(traj.ids)) <= {0, 1, 2}
    assert steps == [(1, *ttm.latent_shape)] * 2
    # The same seed gives the same trajectory.
    again = ttm.sample_motion(image, ids, OBJECTS, "the ball rolls left", num_inference_steps=2)
    assert np.array_equal(again.ids, ttm.sample_motion(image, ids, OBJECTS, "the ball rolls left", num_inference_steps=2).ids)


@pytest.mark.parametrize("backbone", BACKBONES)
def test_stage2_renders_the_trajectory(backbone, weights):
    ttm = BackboneTTM.from_pretrained(weights[backbone], stages=("video",))
    image, ids = canvas_inputs(backbone)
    frames = SIZES[backbone]["frames"]
    traj = MaskTrajectory(np.repeat(ids[None], frames, axis=0), OBJECTS)
    calls = [layer.calls["cross"] for layer in ttm.video.layers]
    video = ttm.sample_video(image, traj, "a ball and a box", num_inference_steps=2,
                             generator=torch.Generator().manual_seed(3))  # fmt: skip
    assert video.shape == (frames, *ids.shape, 3) and video.dtype == np.uint8
    # One batched call per step (visual scale 1, text 2: two guidance branches in it).
    assert [layer.calls["cross"] - c for layer, c in zip(ttm.video.layers, calls)] == [2] * len(calls)
    with pytest.raises(InputError, match="frames"):
        ttm.sample_video(image, MaskTrajectory(traj.ids[:2], OBJECTS), "a ball")


@pytest.mark.parametrize("backbone", BACKBONES)
def test_latents_have_the_backbones_geometry(backbone, weights):
    ttm = BackboneTTM.from_pretrained(weights[backbone], stages=())
    frames, h, w = SIZES[backbone]["frames"], SIZES[backbone]["height"], SIZES[backbone]["width"]
    video = np.zeros((1, frames, h, w, 3), np.uint8)
    latents = ttm.encode_video(video)
    assert tuple(latents.shape) == (1, *ttm.latent_shape)
    assert ttm.latent_shape == ((4, 2, 4, 4) if backbone == "wan" else (4, 4, 8, 8))
    assert tuple(ttm.encode_image(video[:, 0]).shape) == (1, *ttm.latent_shape)
    assert ttm.decode(latents).shape == video.shape


def test_bfloat16_sampling(weights):
    ttm = BackboneTTM.from_pretrained(weights["wan"], dtype=torch.bfloat16)
    assert next(ttm.video.parameters()).dtype == torch.bfloat16
    assert next(ttm.vae.parameters()).dtype == torch.float32  # colours are read back from its output
    image, ids = canvas_inputs("wan")
    traj = ttm.sample_motion(image, ids, OBJECTS, "the ball rolls left", num_inference_steps=1)
    assert ttm.sample_video(image, traj, "a ball", num_inference_steps=1).dtype == np.uint8


def test_folder_errors_name_the_problem(weights, tmp_path):
    with pytest.raises(InputError, match="does not exist"):
        read_backbone_config(tmp_path / "nowhere")
    with pytest.raises(InputError, match="holds 'animatediff' weights, not 'wan'"):
        read_backbone_config(weights["animatediff"], "wan")
    with pytest.raises(InputError, match=CONFIG_NAME):
        read_backbone_config(tmp_path)
    partial = BackboneTTM.from_pretrained(weights["wan"], stages=("motion",)).save_pretrained(tmp_path / "partial")
    with pytest.raises(InputError, match="lacks video/"):
        BackboneTTM.from_pretrained(partial)
    # A dropped tensor in a stage's files is an error, named.
    from safetensors.torch import load_file, save_file

    layers = partial / "motion" / "backbone" / "diffusion_pytorch_model.safetensors"
    tensors = load_file(str(layers))
    dropped = sorted(tensors)[0]
    del tensors[dropped]
    save_file(tensors, str(layers))
    with pytest.raises(ValueError, match="not strict"):
        BackboneTTM.from_pretrained(partial, stages=("motion",))
