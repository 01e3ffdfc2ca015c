import os

# Tests share two cores; keep each worker's intra-op pool small.
os.environ.setdefault("OMP_NUM_THREADS", "1")


import pytest  # noqa: E402


@pytest.fixture(scope="session")
def clip_folder(tmp_path_factory):
    """A tiny random CLIP of the real class, saved as a local folder. No CLIP tokenizer
    can be downloaded here, so the folder carries the bundled MiniLM's (the scorer only
    needs some tokenizer of the model's vocabulary size)."""
    import torch
    from transformers import AutoTokenizer, CLIPConfig, CLIPModel

    from maskmotion.text import default_text_model_path

    folder = tmp_path_factory.mktemp("clip")
    tokenizer = AutoTokenizer.from_pretrained(str(default_text_model_path()), local_files_only=True)
    text = dict(vocab_size=tokenizer.vocab_size, hidden_size=32, intermediate_size=64, num_hidden_layers=1,
                num_attention_heads=2, max_position_embeddings=64, bos_token_id=101, eos_token_id=102, pad_token_id=0)
    vision = dict(hidden_size=32, intermediate_size=64, num_hidden_layers=1, num_attention_heads=2, image_size=32, patch_size=8)
    torch.manual_seed(0)
    CLIPModel(CLIPConfig(text_config=text, vision_config=vision, projection_dim=16)).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder
