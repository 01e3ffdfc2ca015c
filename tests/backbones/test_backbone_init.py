"""Weights folders made from pretrained-style diffusers folders (`backbone_from_base`), and
docs/backbones.md kept true."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import pytest
import torch
from backbone_testing import SIZES, base_model, image_unet_and_adapter, save_base_folder

from maskmotion.errors import InputError
from maskmotion.pipelines.backbone import BackboneConfig
from maskmotion.pipelines.backbone_init import backbone_from_base

DOC = Path(__file__).resolve().parents[2] / "docs" / "backbones.md"


def test_animatediff_from_an_image_unet_and_a_motion_adapter(tmp_path):
    base = save_base_folder("animatediff", tmp_path / "sd15")
    unet, adapter = image_unet_and_adapter()
    unet.save_pretrained(base / "unet")  # SD 1.5's layout: an image U-Net, the adapter apart
    adapter.save_pretrained(tmp_path / "adapter")
    with pytest.raises(InputError, match="motion adapter"):
        backbone_from_base(base, "animatediff", **SIZES["animatediff"])
    ttm = backbone_from_base(base, "animatediff", motion_adapter=tmp_path / "adapter", **SIZES["animatediff"])
    assert ttm.config.text_max_length == 12  # CLIP's own position count, below SD's 77
    assert ttm.scheduler.config.prediction_type == "v_prediction" and ttm.scheduler.config.rescale_betas_zero_snr
    assert len(ttm.video.layers) == 1 and not ttm.motion.layers  # the tiny U-Net has one encoder block


def test_wan_from_a_folder_with_unipc(tmp_path):
    from diffusers import UniPCMultistepScheduler

    base = save_base_folder("wan", tmp_path / "wan")
    UniPCMultistepScheduler(flow_shift=5.0, use_flow_sigmas=True, prediction_type="flow_prediction").save_pretrained(
        base / "scheduler"
    )
    ttm = backbone_from_base(base, "wan", masked_blocks=2, **SIZES["wan"])
    assert type(ttm.scheduler).__name__ == "FlowMatchEulerDiscreteScheduler" and ttm.scheduler.config.shift == 5.0
    assert ttm.config.text_max_length == 512 and len(ttm.video.layers) == 2
    # Both stages equal the base model on its own channels at step 0.
    original = base_model("wan")
    original.load_state_dict(_load(base / "transformer"))
    x, t, text = torch.randn(1, 4, 2, 4, 4), torch.tensor([700.0]), torch.randn(1, 6, 16)
    hidden = torch.cat([x, torch.randn(1, 8, 2, 4, 4)], 1)
    with torch.no_grad():
        assert torch.allclose(ttm.motion(hidden, t, text).sample, original(x, t, text).sample, atol=1e-5)
    with pytest.raises(InputError, match="does not exist"):
        backbone_from_base(tmp_path / "nowhere", "wan")
    with pytest.raises(InputError, match="lacks vae/"):
        backbone_from_base(tmp_path, "wan")


def _load(folder: Path) -> dict[str, torch.Tensor]:
    from safetensors.torch import load_file

    return load_file(str(folder / "diffusion_pytorch_model.safetensors"))


def test_docs_name_real_flags_options_fields_and_configs():
    from maskmotion.cli import build_parser
    from maskmotion.train.backbone_tasks import BackboneTaskOptions

    text = DOC.read_text()
    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "command").choices
    known = {opt for name in ("animate", "plan", "render", "train") for a in sub[name]._actions for opt in a.option_strings}
    flags = set(re.findall(r"`(--[a-z][a-z0-9-]*)", text)) | set(re.findall(r"\s(--[a-z][a-z0-9-]*)", text))
    assert flags <= known, flags - known
    table = text.split("## Training")[1].split("The cache is")[0]
    options = {f.name for f in dataclasses.fields(BackboneTaskOptions)}
    documented = set(re.findall(r"^\| `([a-z_]+)`", table, flags=re.M)) | set(re.findall(r", `([a-z_]+)`", table))
    assert options <= documented, options - documented
    assert documented <= options, documented - options
    layout = text.split("## The weights folder")[1].split("## The two stages")[0]
    assert all(f'"{f.name}"' in layout for f in dataclasses.fields(BackboneConfig))
    for config in set(re.findall(r"configs/([a-z0-9-]+)\.toml", text)):
        assert (DOC.parents[1] / "configs" / f"{config}.toml").is_file(), config
    for pattern in re.findall(r"configs/([a-z]+)-stage\{1,2\}\.toml", text):
        assert all((DOC.parents[1] / "configs" / f"{pattern}-stage{i}.toml").is_file() for i in (1, 2))
