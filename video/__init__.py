"""video: sources, decoding, detection, tracking, calibration and the scene simulator.

The flow inside this package is one way: a :mod:`video.sources` source yields frames, a
detector backend (:mod:`video.detectors`) turns sampled frames into tracked boxes, the camera's
:mod:`video.calibration` geolocates each box's foot point, :mod:`video.kinematics` smooths world
positions into speed and heading, and the result is an :class:`video.observation.Observation`.
"""
