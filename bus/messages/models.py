"""``models``: a model version went into production (console's model store -> every console's
runners; workers read detector versions at start).

>>> m = ModelPromoted(kind="warning", name="default", version=2, content="rules: []")
>>> m.to_wire()
{'type': 'model_promoted', 'kind': 'warning', 'name': 'default', 'version': 2, 'content': 'rules: []',
 'action': 'promote'}
>>> m.label
'default@2'
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from zhizhi.bus.messages.base import BusMessage


class ModelPromoted(BusMessage):
    """The version now in production of a kind of model, with its content (the YAML of a rule
    model, a detector's manifest), so that a runner swaps to it without reading the store."""

    KIND = "model_promoted"

    kind: Literal["warning", "trajectory", "detector"] = Field(description="The kind of model.")
    name: str = Field(description="The model's name.")
    version: int = Field(ge=1, description="Its version number.")
    content: str = Field(description="The version's content (YAML).")
    action: Literal["promote", "rollback"] = Field(
        "promote", description="How it went into production."
    )

    @property
    def label(self) -> str:
        """``name@version``, as alerts carry it."""
        return f"{self.name}@{self.version}"
