"""maskmotion: Through-The-Mask image-to-video generation.

An image and a prompt go in; a plan splits the prompt into per-object prompts and
first-frame masks; stage 1 generates a mask trajectory; stage 2 renders the video
from the image and that trajectory with masked self- and cross-attention.
"""

__version__ = "0.1.0"
