"""With the bundled default, motion() then render() is the one-call animation, array for
array (what `maskmotion plan` then `render` rely on)."""

from pathlib import Path

import numpy as np

from maskmotion.pipelines import AnimatePipeline
from maskmotion.pipelines.scene_files import scene_from_files
from maskmotion.plan import ObjectHint

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def test_motion_then_render_is_the_whole_call():
    scene = scene_from_files(
        EXAMPLES / "crescent_and_star.png", "the white crescent falls gently while the red star slides to the left",
        masks=EXAMPLES / "crescent_and_star.masks.png", objects=[ObjectHint("white crescent"), ObjectHint("red star")],
    )  # fmt: skip
    pipe = AnimatePipeline.from_pretrained("default")
    pipe.set_progress_bar_config(disable=True)
    whole = pipe(scene.image, scene.plan, seed=5)
    motion = pipe.motion(scene, seed=5)
    split = pipe.render(scene, motion, seed=5)
    assert whole.settings["renderer"] == "model"
    assert np.array_equal(whole.trajectory.ids, motion.trajectory.ids) and np.array_equal(whole.video, split.video)
