"""Decompression bombs and absurd files: each is refused with exit code 2 and one line,
quickly and without inflating anything."""

from __future__ import annotations

import base64
import io
import json
import zipfile
import zlib

import numpy as np
import pytest
import torch
from PIL import Image
from safetensors.torch import save_file

from inputs_helpers import bounded, run_main
from maskmotion.models.io import WeightsError, load_model, read_model_config
from maskmotion.plan import PlannedObject, PlanError, ScenePlan
from maskmotion.trajectory import MaskTrajectory, TrajectoryError, TrajectoryObject
from maskmotion.trajectory.storage import load_trajectory

META = {"format": "maskmotion-trajectory", "version": 1, "fps": 8.0, "objects": [{"id": 1, "name": "a"}]}


def _npz_claiming(path, shape, meta=None, body=b"\0" * 1024) -> None:
    """An .npz whose ``ids`` header declares ``shape`` (uint8); only ``body`` follows it."""
    meta = {**META, "shape": list(shape)} if meta is None else meta
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        header = io.BytesIO()
        np.lib.format.write_array_header_1_0(header, {"descr": "|u1", "fortran_order": False, "shape": tuple(shape)})
        zf.writestr("ids.npy", header.getvalue() + body)
        buf = io.BytesIO()
        np.save(buf, np.array(json.dumps(meta) if not isinstance(meta, str) else meta))
        zf.writestr("meta.npy", buf.getvalue())


def _image(path, size=64):
    Image.fromarray(np.full((size, size, 3), 128, np.uint8)).save(path)
    return path


def test_trajectory_npz_bomb_is_refused_from_its_header(tmp_path, capsys):
    _npz_claiming(tmp_path / "bomb.npz", (16, 8000, 8000))  # 1 GB of masks declared
    with bounded(seconds=2, megabytes=20):
        with pytest.raises(TrajectoryError, match="16 frames of 8000x8000, more than a trajectory may hold"):
            load_trajectory(tmp_path / "bomb.npz")
    code, err = run_main(capsys, "render", _image(tmp_path / "i.png"), "--trajectory", tmp_path / "bomb.npz",
                         "--prompt", "x", "--renderer", "warp", "--out", tmp_path / "o.mp4")  # fmt: skip
    assert code == 2 and len(err) == 1 and "8000x8000" in err[0]


def test_real_npz_bomb_inflating_to_a_gigabyte(tmp_path):
    """A real one: 1 GB of zeros deflated to about a megabyte (written by streaming)."""
    path = tmp_path / "real.npz"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as zf:
        with zf.open("ids.npy", "w", force_zip64=True) as f:
            np.lib.format.write_array_header_1_0(f, {"descr": "|u1", "fortran_order": False, "shape": (16, 8000, 8000)})
            zeros = bytes(1 << 26)
            for _ in range(16 * 8000 * 8000 // len(zeros)):
                f.write(zeros)
        buf = io.BytesIO()
        np.save(buf, np.array(json.dumps({**META, "shape": [16, 8000, 8000]})))
        zf.writestr("meta.npy", buf.getvalue())
    assert path.stat().st_size < 8 << 20
    with bounded(seconds=2, megabytes=20), pytest.raises(TrajectoryError, match="more than a trajectory may hold"):
        load_trajectory(path)


@pytest.mark.parametrize(
    "meta, pattern",
    [
        ({**META, "shape": [2, 16, 16], "fps": "fast"}, "'fps' must be a positive number"),
        ({**META, "shape": "2x16x16"}, "'shape' must be a list of integers"),
        ({**META, "shape": [2, 16, 16], "version": "1"}, "'version' must be a positive integer"),
        ({**META, "shape": [2, 16, 16], "objects": [{"id": "one", "name": 3}]}, ""),
        ({**META, "shape": [2, 16, 16], "objects": [{"id": 1, "name": "a", "colour": 5}]}, ""),
        ({**META, "shape": [2, 16, 16], "objects": [[1, "a"]]}, "object"),
        ("[" * 200_000 + "]" * 200_000, "nested too deeply"),
        ("\"" + "a" * 10 + "\"", "must be a JSON object"),
    ],
)
def test_trajectory_meta_of_wrong_types_is_a_trajectory_error(tmp_path, meta, pattern):
    _npz_claiming(tmp_path / "t.npz", (2, 16, 16), meta=meta, body=bytes(2 * 16 * 16))
    with pytest.raises(TrajectoryError, match=pattern or None):
        load_trajectory(tmp_path / "t.npz")


def _plan_json(shape, raw: bytes) -> dict:
    ids = np.zeros((16, 16), np.uint8)
    ids[4:8, 4:8] = 1
    data = ScenePlan("a dog jumps", "a dog jumps", (PlannedObject(1, "dog", "a dog"),), ids).to_json()
    data["first_ids"] = {"shape": list(shape), "encoding": "zlib-base64-uint8",
                         "data": base64.b64encode(zlib.compress(raw, 9)).decode()}  # fmt: skip
    return data


def test_plan_bomb_is_refused_before_decompressing(tmp_path, capsys):
    inflate = zlib.compressobj(1)
    chunk = bytes(1 << 24)
    packed = b"".join(inflate.compress(chunk) for _ in range(400_000_000 // len(chunk))) + inflate.flush()
    data = _plan_json((20000, 20000), b"")
    data["first_ids"]["data"] = base64.b64encode(packed).decode()
    (tmp_path / "bomb.json").write_text(json.dumps(data))
    with bounded(seconds=2, megabytes=30), pytest.raises(PlanError, match="more than a plan may hold"):
        ScenePlan.load(tmp_path / "bomb.json")
    # Within the pixel limit but larger than the image: refused against the image's size.
    (tmp_path / "big.json").write_text(json.dumps(_plan_json((4000, 4000), b"")))
    code, err = run_main(capsys, "animate", _image(tmp_path / "i.png"), "--plan", tmp_path / "big.json",
                         "--renderer", "warp", "--out", tmp_path / "o.mp4")  # fmt: skip
    assert code == 2 and len(err) == 1 and "larger than the image (64x64)" in err[0]
    # Data that inflates past its declared shape stops one byte past it.
    (tmp_path / "long.json").write_text(json.dumps(_plan_json((16, 16), bytes(50_000_000))))
    with bounded(seconds=2, megabytes=30), pytest.raises(PlanError, match="holds more values than shape"):
        ScenePlan.load(tmp_path / "long.json")


def test_deeply_nested_plan_is_one_line(tmp_path, capsys):
    (tmp_path / "deep.json").write_text("[" * 200_000 + "]" * 200_000)
    with bounded(seconds=2, megabytes=50):
        code, err = run_main(capsys, "animate", _image(tmp_path / "i.png"), "--plan", tmp_path / "deep.json",
                             "--renderer", "warp", "--out", tmp_path / "o.mp4")  # fmt: skip
    assert code == 2 and len(err) == 1 and "nested too deeply" in err[0]
    (tmp_path / "huge.json").write_bytes(b" " * (65 << 20))  # over the JSON size cap
    with pytest.raises(PlanError, match="more than the"):
        ScenePlan.load(tmp_path / "huge.json")


def _model_folder(folder, config) -> None:
    folder.mkdir(parents=True)
    (folder / "config.json").write_text(json.dumps(config) if not isinstance(config, str) else config)
    save_file({"x": torch.zeros(1)}, str(folder / "model.safetensors"))


@pytest.mark.parametrize(
    "config, pattern",
    [
        ([1, 2, 3], "must hold a JSON object, got a list"),
        ({"model_type": "motion_dit", "config": [1]}, "'config' must be a JSON object"),
        ({"model_type": ["motion_dit"], "config": {}}, "unknown model_type"),
        ({"model_type": "motion_dit", "config": {"dim": 10**6}}, "'dim' is 1000000, outside"),
        ({"model_type": "motion_dit", "config": {"depth": 10**6}}, "'depth' is 1000000, outside"),
        ({"model_type": "video_dit", "config": {"width": 10**6}}, "'width' is 1000000, outside"),
        ({"model_type": "video_dit", "config": {"dim": 8192, "depth": 256}}, "parameters, more than"),
        ({"model_type": "motion_dit", "config": {"dim": "128"}}, "'dim' must be an integer"),
        ({"model_type": "motion_dit", "config": {"mlp_ratio": None}}, "'mlp_ratio' must be a number"),
        ({"model_type": "motion_dit", "config": {"motion_scale": ["a"]}}, "list of numbers"),
        ({"model_type": "video_dit", "config": {"patch_size": [2, 8, 10**9]}}, "positive sizes"),
        ("{" * 100_000, "nested too deeply|not valid JSON"),
    ],
)
def test_model_config_is_checked_before_anything_is_built(tmp_path, config, pattern):
    _model_folder(tmp_path / "m", config)
    with bounded(seconds=2, megabytes=20), pytest.raises(WeightsError, match=pattern):
        load_model(tmp_path / "m")


def test_absurd_model_config_through_the_command_line(tmp_path, capsys):
    for stage in ("motion", "video"):
        _model_folder(tmp_path / "m" / stage, {"model_type": f"{stage}_dit", "config": {"dim": 10**6}})
    box = ["--box", "x=8,8,40,40", "--segment", "box"]
    with bounded(seconds=10, megabytes=100):
        code, err = run_main(capsys, "animate", _image(tmp_path / "i.png"), "--prompt", "x moves", *box,
                             "--model", tmp_path / "m", "--renderer", "warp", "--out", tmp_path / "o.mp4")  # fmt: skip
    assert code == 2 and len(err) == 1 and "'dim' is 1000000" in err[0]
    assert read_model_config  # the same reader serves export and training


def test_text_model_with_only_pickled_weights_is_refused(tmp_path, capsys):
    from maskmotion.text import default_text_model_path

    folder = tmp_path / "text"
    folder.mkdir()
    (folder / "config.json").write_text((default_text_model_path() / "config.json").read_text())
    (folder / "pytorch_model.bin").write_bytes(b"not loaded")
    code, err = run_main(capsys, "animate", _image(tmp_path / "i.png"), "--prompt", "x moves", "--box",
                         "x=8,8,40,40", "--text-model", folder, "--renderer", "warp", "--out", tmp_path / "o.mp4")  # fmt: skip
    assert code == 2 and len(err) == 1
    assert "no model.safetensors" in err[0] and "pytorch_model.bin" in err[0]
    (folder / "config.json").write_text(json.dumps({"hidden_size": 10**7}))
    code, err = run_main(capsys, "animate", _image(tmp_path / "i.png"), "--prompt", "x moves", "--box",
                         "x=8,8,40,40", "--text-model", folder, "--renderer", "warp", "--out", tmp_path / "o.mp4")  # fmt: skip
    assert code == 2 and len(err) == 1 and "hidden_size must be an integer" in err[0]


def test_resume_skips_a_corrupt_latest_checkpoint(tmp_path, caplog):
    from maskmotion.train import TrainConfig, train
    from maskmotion.train import checkpoint as ckpt

    def make_config(**changes):
        return TrainConfig(task="toy", out_dir=str(tmp_path / "run"), batch_size=8, lr=3e-3, log_every=1,
                           progress=False, tensorboard=False, num_threads=1, **changes)  # fmt: skip

    config = make_config(steps=20, checkpoint_every=10, keep_last=2)
    train(config)
    root = ckpt.Path(config.out_dir) / "checkpoints"
    assert [p.name for p in ckpt.list_checkpoints(root)] == ["step_000010", "step_000020"]
    weights = root / "step_000020" / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:20])  # cut short, as by a full disk
    assert ckpt.checkpoint_problem(root / "step_000020") is not None
    assert ckpt.checkpoint_problem(root / "step_000010") is None
    with caplog.at_level("WARNING"):
        summary = train(make_config(steps=30, checkpoint_every=10, keep_last=2), resume=True)
    assert "step_000020 is corrupt" in caplog.text and "resuming from step_000010" in caplog.text
    assert summary["step"] == 30
    for p in ckpt.list_checkpoints(root):
        (p / "optimizer.pt").write_bytes(b"junk")
    with pytest.raises(Exception, match="no checkpoint under .* can be read"):
        train(make_config(steps=40, checkpoint_every=10, keep_last=2), resume=True)


def test_trajectory_round_trip_still_exact(tmp_path):
    ids = np.zeros((3, 16, 16), np.uint8)
    ids[:, 2:6, 2:6] = 1
    traj = MaskTrajectory(ids, [TrajectoryObject(1, "a", "an a")])
    traj.save(tmp_path / "t.npz")
    back = load_trajectory(tmp_path / "t.npz")
    assert np.array_equal(back.ids, ids) and back.objects[0].prompt == "an a"
