from pathlib import Path

import pytest
import torch

from maskmotion.models import VideoDiT, video_config
from maskmotion.models.io import save_model
from maskmotion.train.ttm_tasks import VIDEO_VARIANTS


def make_variant_folders(root: Path, variants: list[str]) -> Path:
    """Random tiny-width stage-2 models at the sprites clip size, one folder per variant
    (the real classes and file format; the benchmark's plumbing is what is tested).
    The output layers are nudged off zero so that variants render different videos."""
    for v in variants:
        fields = dict(VIDEO_VARIANTS[v])
        names = fields.pop("cond_names", ["first_frame", "trajectory", "warp"])
        cfg = video_config("tiny", frames=16, height=64, width=64, cond_names=names, cond_channels=3 * len(names), **fields)
        torch.manual_seed(len(v))
        model = VideoDiT(cfg)
        with torch.no_grad():
            for p in model.parameters():
                if p.abs().sum() == 0:
                    p.normal_(0, 0.02)
        save_model(model, root / v)
    return root


@pytest.fixture(scope="session")
def variant_weights(tmp_path_factory) -> Path:
    return make_variant_folders(tmp_path_factory.mktemp("variants"), ["ttm-paper", "ti2v", "flow"])
