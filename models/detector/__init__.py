"""The project's own object detector: recipe, training and the shipped weights.

Weights cannot be downloaded on a closed network, so the detector is trained by this project
(``zhizhi train``) from its own simulator output and openly licensed real pictures and footage
(docs/training.md), and shipped under ``weights/`` with its recipe and evaluation report. Real
deployments may point the detector setting at their own weights or adapt it per camera.
"""

from pathlib import Path

DETECTOR_DIR = Path(__file__).parent
RECIPES_DIR = DETECTOR_DIR / "recipes"
WEIGHTS_DIR = DETECTOR_DIR / "weights"
#: The detector the demo and the defaults use: its recipe and its weights.
SHIPPED_NAME = "zhizhi-det-v5"
RECIPE_PATH = RECIPES_DIR / f"{SHIPPED_NAME}.yaml"
SHIPPED_WEIGHTS = WEIGHTS_DIR / f"{SHIPPED_NAME}.pt"
