"""What the site-adaptation tests (CLI and browser) share: the room clip and the detector before."""

from __future__ import annotations

from tests.conftest import SHARED
from zhizhi.models.detector import SHIPPED_WEIGHTS

#: An indoor room with people and no vehicle (shared real footage).
CLIP = SHARED / "data" / "video" / "indoor_people_768x432_10fps.mp4"
#: The detector the site runs before adapting: zhizhi-det-v2, trained on the simulator only, fires
#: hundreds of vehicle boxes in this room. The shipped zhizhi-det-v5 fires a few (15 on every 5th
#: frame of the whole clip at conf 0.25), too few for a held-out slice to show an adaptation's gain.
SITE_BEFORE = SHIPPED_WEIGHTS.with_name("zhizhi-det-v2.pt")
