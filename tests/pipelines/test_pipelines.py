import numpy as np
import pytest
import torch

from maskmotion.data.sprites import SpritesConfig, generate_scene
from maskmotion.errors import InputError
from maskmotion.models import MotionDiT, VideoDiT, motion_config, video_config
from maskmotion.models.io import WeightsError, load_model, save_model
from maskmotion.pipelines import MotionPipeline, VideoPipeline
from maskmotion.text import tiny_text_encoder


@pytest.fixture(scope="module")
def text():
    return tiny_text_encoder(dim=384)


@pytest.fixture(scope="module")
def scene():
    return generate_scene(20001, SpritesConfig(height=16, width=16, num_frames=4))


def _randomised(model, seed=0):
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(torch.randn(p.shape, generator=g) * 0.05)
    return model


def test_motion_pipeline_seeds_and_trajectory(text, scene):
    pipe = MotionPipeline(_randomised(MotionDiT(motion_config("tiny"))), text)
    objects = scene.trajectory.objects
    run = lambda seed: pipe(scene.first_frame, scene.first_ids, objects, scene.motion_prompt, num_inference_steps=3,  # noqa: E731
                            generator=torch.Generator().manual_seed(seed))
    a, b, c = run(1), run(1), run(2)
    assert np.array_equal(a.motion, b.motion) and not np.array_equal(a.motion, c.motion)
    assert a.trajectory.ids.shape == (4, 16, 16)
    assert a.trajectory.object_ids == [o.id for o in objects]
    assert np.array_equal(a.trajectory.ids[0] > 0, scene.first_ids > 0)  # frame 0 is the input mask
    steps = []
    pipe(scene.first_frame, scene.first_ids, objects, scene.motion_prompt, num_inference_steps=3,
         text_guidance_scale=2.0, visual_guidance_scale=1.5, callback_on_step_end=lambda i, t, x: steps.append(i))
    assert steps == [0, 1, 2]


def test_motion_pipeline_rejects_bad_input(text, scene):
    pipe = MotionPipeline(MotionDiT(motion_config("tiny")), text)
    objects = scene.trajectory.objects
    with pytest.raises(InputError, match="masks are"):
        pipe(scene.first_frame, scene.first_ids[:8], objects, "x")
    with pytest.raises(InputError, match="no objects"):
        pipe(scene.first_frame, scene.first_ids, [], "x")
    with pytest.raises(InputError, match="uint8"):
        pipe(scene.first_frame.astype(np.float32), scene.first_ids, objects, "x")


def test_video_pipeline_output_types_and_seeds(text, scene):
    model = _randomised(VideoDiT(video_config("tiny")))
    pipe = VideoPipeline(model, text)
    kw = dict(num_inference_steps=2, generator=torch.Generator().manual_seed(0))
    arr = pipe(scene.first_frame, scene.trajectory, scene.global_prompt, **kw)
    assert arr.shape == (4, 16, 16, 3) and arr.dtype == np.uint8
    again = pipe(scene.first_frame, scene.trajectory, scene.global_prompt, num_inference_steps=2,
                 generator=torch.Generator().manual_seed(0))
    assert np.array_equal(arr, again)
    pt = pipe(scene.first_frame, scene.trajectory, scene.global_prompt, output_type="pt", num_inference_steps=2,
              text_guidance_scale=3.0, visual_guidance_scale=2.0)
    assert pt.shape == (4, 3, 16, 16) and 0 <= pt.min() and pt.max() <= 1
    pil = pipe(scene.first_frame, scene.trajectory, scene.global_prompt, output_type="pil", num_inference_steps=1)
    assert len(pil) == 4 and pil[0].size == (16, 16)
    with pytest.raises(InputError, match="output_type"):
        pipe(scene.first_frame, scene.trajectory, scene.global_prompt, output_type="gif")
    with pytest.raises(InputError, match="resize it"):
        pipe(np.zeros((32, 32, 3), np.uint8), scene.trajectory.resize(32, 32), "x")


def test_model_folders_round_trip_and_fail_clearly(tmp_path, text, scene):
    model = _randomised(VideoDiT(video_config("tiny")))
    folder = save_model(model, tmp_path / "video")
    loaded = load_model(folder)
    assert all(torch.equal(a, b) for a, b in zip(model.state_dict().values(), loaded.state_dict().values()))
    pipe = VideoPipeline.from_pretrained(folder, text_encoder=text)
    assert isinstance(pipe.model, VideoDiT)
    with pytest.raises(InputError, match="not a stage-1 motion model"):
        MotionPipeline.from_pretrained(folder, text_encoder=text)
    with pytest.raises(WeightsError, match="does not exist"):
        load_model(tmp_path / "missing")
    (folder / "model.safetensors").write_bytes(b"\x00" * 50)
    with pytest.raises(WeightsError, match="corrupt"):
        load_model(folder)
    other = save_model(VideoDiT(video_config("tiny", dim=64)), tmp_path / "other")
    (folder / "model.safetensors").write_bytes((other / "model.safetensors").read_bytes())
    with pytest.raises(WeightsError, match="does not match its config"):
        load_model(folder)


def test_condition_images_use_the_given_tracks_for_flow_and_warp():
    from maskmotion.pipelines import VideoInputs
    from maskmotion.trajectory import MaskTrajectory, MotionTrack, TrajectoryObject, warp_masks

    first = np.zeros((32, 32), np.uint8)
    first[10:18, 4:12] = 1
    t = np.arange(4.0)
    moving = MotionTrack(3 * t, 0 * t, np.ones(4), np.ones(4), np.zeros(4))
    traj = MaskTrajectory(warp_masks(first, {1: moving}, 4), [TrajectoryObject(1, "box", "a box slides")])
    image = np.full((32, 32, 3), 40, np.uint8)
    image[first == 1] = (200, 30, 30)
    fitted = VideoInputs(image, traj, "p").condition_images(["first_frame", "flow", "warp"])
    assert set(fitted) == {"first_frame", "trajectory", "flow", "warp"}
    assert (fitted["flow"][2][traj.ids[2] == 1] != 255).any()  # fitted tracks see the slide
    still = VideoInputs(image, traj, "p", tracks={1: MotionTrack.still(4)}).condition_images(["flow"])
    assert (still["flow"] == 255).all()  # the given tracks win over the masks


def test_a_model_trained_on_another_text_encoder_is_refused_with_the_fix(scene):
    """A stage model reads text states of the width it was trained on; another encoder is
    refused when the pipeline is built, naming the way to load the right one."""
    other = tiny_text_encoder(dim=48)
    with pytest.raises(InputError, match=r"reads 384-dim text states but the text encoder gives 48.*--text-model"):
        MotionPipeline(MotionDiT(motion_config("tiny")), other)
    with pytest.raises(InputError, match="reads 384-dim"):
        VideoPipeline(VideoDiT(video_config("tiny")), other)
    pipe = MotionPipeline(MotionDiT(motion_config("tiny", text_dim=48)), other)  # the matching encoder works
    out = pipe(scene.first_frame, scene.first_ids, scene.trajectory.objects, scene.motion_prompt, num_inference_steps=2)
    assert out.motion.shape[0] == len(scene.trajectory.objects)
