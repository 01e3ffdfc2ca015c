"""Shared inputs for command-line tests: a two-object sprites scene, tiny random model
folders (stage 1 and stage 2) and a tiny random text model folder."""

from dataclasses import dataclass
from pathlib import Path

import pytest
import torch


@dataclass(frozen=True)
class Assets:
    image: Path  # 16x16 first frame
    masks: Path  # its id PNG
    prompt: str
    names: tuple[str, ...]
    model: Path  # folder with motion/ and video/ (tiny, random)
    text: Path  # tiny random BERT of width 384 with the real tokenizer


@pytest.fixture(scope="session")
def assets(tmp_path_factory) -> Assets:
    from maskmotion.data.sprites import SpritesConfig, generate_scene
    from maskmotion.models import MotionDiT, VideoDiT, motion_config, video_config
    from maskmotion.models.io import save_model
    from maskmotion.text import tiny_text_encoder
    from maskmotion.trajectory import save_id_png
    from maskmotion.video import write_png

    root = tmp_path_factory.mktemp("cli-assets")
    scene = generate_scene(20000, SpritesConfig(height=16, width=16, num_frames=4, min_objects=2, max_objects=2))
    write_png(root / "first.png", scene.first_frame)
    save_id_png(root / "masks.png", scene.first_ids)
    g = torch.Generator().manual_seed(0)
    for stage, model in (("motion", MotionDiT(motion_config("tiny"))), ("video", VideoDiT(video_config("tiny")))):
        with torch.no_grad():  # random weights, so outputs depend on seeds and inputs
            for p in model.parameters():
                p.add_(torch.randn(p.shape, generator=g) * 0.05)
        save_model(model, root / "model" / stage)
    text = tiny_text_encoder(dim=384)
    text.model.save_pretrained(root / "text")
    text.tokenizer.save_pretrained(root / "text")
    names = tuple(scene.names)
    return Assets(root / "first.png", root / "masks.png", scene.global_prompt, names, root / "model", root / "text")
