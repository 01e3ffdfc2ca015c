"""The synthetic sprites world: seeded scenes of textured shapes that move as their text says.

Entry points: `generate_scene(seed, config)` -> `Scene`; `write_scenes(...)` for scene
folders on disk; `SpritesDataset` for torch training; `splits` for the seed split rule.
See docs/sprites.md.
"""

from .config import SIZES, SpritesConfig
from .dataset import SpritesDataset, collate_scenes
from .export import SceneFolder, add_cli_arguments, config_from_args, load_scene_folder, write_scene, write_scenes
from .motions import MOTION_KINDS, RATES, SPEEDS, MotionSpec, Track
from .scene import ObjectSpec, Scene, SceneObject, build_scene, generate_scene
from .splits import SPLITS, SplitError, check_seed, seed_at, seeds_for, split_of, split_seeds
from .tracks import tracks_from_sprite_params
from .world import BACKGROUNDS, COLOURS, SHAPES, TEXTURES, BackgroundSpec, TextureParams

__all__ = [
    "SceneFolder",
    "SpritesDataset",
    "add_cli_arguments",
    "collate_scenes",
    "config_from_args",
    "load_scene_folder",
    "write_scene",
    "write_scenes",
    "BACKGROUNDS",
    "COLOURS",
    "MOTION_KINDS",
    "RATES",
    "SHAPES",
    "SIZES",
    "SPEEDS",
    "SPLITS",
    "TEXTURES",
    "BackgroundSpec",
    "MotionSpec",
    "ObjectSpec",
    "Scene",
    "SceneObject",
    "SplitError",
    "SpritesConfig",
    "TextureParams",
    "Track",
    "build_scene",
    "check_seed",
    "generate_scene",
    "seed_at",
    "seeds_for",
    "split_of",
    "split_seeds",
    "tracks_from_sprite_params",
]
