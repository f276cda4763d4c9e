"""The project's own object detector: recipe, training and the shipped weights.

Weights cannot be downloaded on a closed network, so the demo's detector is trained by this
project from its own simulator output (``zhizhi train``) and shipped under ``weights/`` with its
recipe and evaluation report. Real deployments point the detector setting at their own weights.
"""

from pathlib import Path

DETECTOR_DIR = Path(__file__).parent
RECIPE_PATH = DETECTOR_DIR / "recipe.yaml"
WEIGHTS_DIR = DETECTOR_DIR / "weights"
SHIPPED_WEIGHTS = WEIGHTS_DIR / "zhizhi-det-v1.pt"
