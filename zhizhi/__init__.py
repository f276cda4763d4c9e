"""智治 zhizhi — geospatial command and video-fusion console for county and town command centers.

The repository keeps each part in a top-level folder (``gis/``, ``layers/``, ``video/``,
``telemetry/``, ``models/``, ``alerts/``, ``bus/``, ``console/``, ``bench/``); installed, they
are the subpackages of this one package: ``import zhizhi.gis`` is the one way in.
"""

__version__ = "0.1.0"
