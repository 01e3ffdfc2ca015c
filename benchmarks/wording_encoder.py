"""How well the frozen text encoder alone tells motion kinds apart in held-out words.

    python benchmarks/wording_encoder.py [--per-kind 40] [--text-model DIR]

For every motion kind and speed, motion phrases are drawn in the seen and the held-out
wording (data/sprites/text.py). Each held-out phrase is given the kind of its nearest
seen phrase (cosine) under two read-outs of all-MiniLM-L6-v2: the sentence embedding
(token states mean-pooled and normalised, what the encoder was trained to produce) and
the same with the mean over all phrases taken off first (which removes the direction
every sentence shares). A high score says the meaning is in
the frozen features and a model has to learn to read it; a low one says the words
themselves are far apart for the encoder.
"""

from __future__ import annotations

import argparse
from collections import defaultdict

import numpy as np
import torch

from maskmotion.data.sprites.motions import MOTION_KINDS, SPEEDS, MotionSpec
from maskmotion.data.sprites.text import wide_motion_phrase
from maskmotion.text import TextEncoder


def _spec(kind: str, speed: str) -> MotionSpec:
    extra = {"target": 2} if kind in ("approach", "follow") else {}
    extra |= {"wall": "left"} if kind == "bounce" else {}
    extra |= {"colour": "blue"} if kind == "recolour" else {}
    return MotionSpec(kind=kind, speed="medium" if kind == "stay" else speed, **extra)


def phrases(wording: str, per_kind: int, seed: int) -> tuple[list[str], list[str]]:
    rng = np.random.default_rng(seed)
    texts, kinds = [], []
    for kind in MOTION_KINDS:
        for i in range(per_kind):
            motion, front = wide_motion_phrase(_spec(kind, SPEEDS[i % 3]), rng, wording, target_name="blue square")
            texts.append(f"{front + ', ' if front else ''}the ball {motion}")
            kinds.append(kind)
    return texts, kinds


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--per-kind", type=int, default=40)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--text-model", default=None, metavar="DIR",
                   help="a local transformers text model folder to measure instead of the bundled MiniLM")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    enc = TextEncoder(args.text_model)
    seen, seen_kinds = phrases("seen", args.per_kind, 0)
    held, held_kinds = phrases("heldout", args.per_kind // 2, 1)
    states = enc.encode_uncached(seen + held)
    tokens = torch.stack([s.mean(0) for s in states])
    # Sentence embedding as the encoder's model card defines it: mean over tokens, normalised.
    readouts = {"sentence embedding": tokens, "sentence embedding, centred": tokens - tokens.mean(0)}
    for name, x in readouts.items():
        x = torch.nn.functional.normalize(x, dim=1)
        a, b = x[: len(seen)], x[len(seen):]
        nearest = (b @ a.T).argmax(1).tolist()
        right = defaultdict(list)
        for i, j in enumerate(nearest):
            right[held_kinds[i]].append(seen_kinds[j] == held_kinds[i])
        total = np.mean([v for vs in right.values() for v in vs])
        print(f"{name}: held-out phrase -> kind of the nearest seen phrase: {100 * total:.1f}%")
        print("   " + ", ".join(f"{k} {100 * np.mean(v):.0f}%" for k, v in sorted(right.items())))


if __name__ == "__main__":
    main()
