"""The scene simulator: a deterministic fixed-camera road scene with exact ground truth.

``simulate(scenario, seed, out_dir)`` renders a clip (``clip.mp4``), its per-frame truth
(``truth.jsonl``), its ground-truth events (``events.jsonl``, :mod:`.events`), a calibrated
camera config (``camera.json``) and the scene's facts (``scene.json``); ``export_yolo_dataset``
renders detector training data straight from the renderer. Modules, in the order things happen:

- :mod:`.scene` draws a site from the seed: :mod:`.camera` (pinhole over flat ground) and
  :mod:`.road` (lanes, shoulders, footways), roadside props;
- :mod:`.scenarios` places the scenario's actors (:mod:`.motion` trajectories, :mod:`.objects`
  3D models), :mod:`.traffic` fills the road without overlaps;
- :mod:`.variation` picks the look (light, night, rain, noise, shake);
- :mod:`.background` and :mod:`.render` (via :mod:`.draw`) draw frames;
- :mod:`.build` ties it together, :mod:`.writer` writes clips, :mod:`.dataset` datasets.
"""

from zhizhi.video.simulator.build import Simulation, SimulationError, build_simulation
from zhizhi.video.simulator.dataset import export_yolo_dataset
from zhizhi.video.simulator.scenarios import SCENARIOS, Scenario
from zhizhi.video.simulator.variation import Variation
from zhizhi.video.simulator.writer import SceneInfo, SimulationResult, simulate

__all__ = [
    "SCENARIOS",
    "Scenario",
    "SceneInfo",
    "Simulation",
    "SimulationError",
    "SimulationResult",
    "Variation",
    "build_simulation",
    "export_yolo_dataset",
    "simulate",
]
