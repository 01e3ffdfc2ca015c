"""Real video as training data: clip sources (folders, caption lists, the SA-V layout),
windows, filters, WebDataset shards and the stats report. The job that runs the steps
(finding and tracking objects, writing prompts) is `maskmotion.prepare`, one layer up,
because it stands on the tracker and the planners."""

from .clips import Clip, ObjectPrompt, clip_key, list_clips
from .filters import REASONS, FilterConfig
from .rle import decode_rle, encode_rle
from .sav import Masklets, SavEntry, find_sav_videos, read_masklets, write_masklets
from .shards import SHARD_PREFIX, ShardSample, ShardSet, decode_sample, encode_sample, expand_pattern, read_tar, write_tar
from .stats import summarise, write_report
from .windows import VideoInfo, plan_windows, probe_video, read_frames

__all__ = [
    "Clip", "FilterConfig", "Masklets", "ObjectPrompt", "REASONS", "SHARD_PREFIX", "SavEntry", "ShardSample", "ShardSet",
    "VideoInfo", "clip_key", "decode_rle", "decode_sample", "encode_rle", "encode_sample", "expand_pattern",
    "find_sav_videos", "list_clips", "plan_windows", "probe_video", "read_frames", "read_masklets", "read_tar",
    "summarise", "write_masklets", "write_report", "write_tar",
]  # fmt: skip
