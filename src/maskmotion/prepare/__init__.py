"""`maskmotion prepare`: real video to TTM training shards (docs/data.md).

    from maskmotion.prepare import PrepareOptions, prepare
    stats = prepare("clips/", "data/", PrepareOptions(frames=16, fps=8, height=64, width=64))
    stats = prepare("captions.jsonl", "data/", engine="ray", address="auto")   # on a cluster
"""

from .clip import ClipResult, process_clip
from .job import pack_shards, prepare
from .objects import moving_regions
from .options import ENGINES, PrepareOptions

__all__ = ["ClipResult", "ENGINES", "PrepareOptions", "moving_regions", "pack_shards", "prepare", "process_clip"]
