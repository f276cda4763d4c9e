"""Positions reported by devices: hazardous-chemical vehicles (GPS/BeiDou) and drones.

The second way into the flow, beside video: reports -> checked, WGS-84 fixes -> warning
models (:mod:`models.trajectory`) -> alerts. HTTP batches and MQTT both pass one gate
(:mod:`telemetry.gate`), which counts and refuses bad reports without touching good tracks.
"""
