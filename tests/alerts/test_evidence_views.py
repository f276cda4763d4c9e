"""The evidence of the cameras that join an alert (issue 17, "one alert per physical event"):
``attach_evidence(camera_id=...)`` keeps each joining camera's files as one of the alert's
``evidence.views`` beside the first camera's, on a real SQLite file and bus."""

from __future__ import annotations

from tests.alerts_support import T0, Recorder, grids_of, small_district, warning
from zhizhi.bus.messages.evidence import MAX_VIEWS, CameraEvidence, Evidence
from zhizhi.models.warning.record import WarningEvent

GRID = grids_of(0)[0]


def test_a_joining_cameras_files_are_a_view_and_the_first_cameras_stay(service, bus):
    messages = Recorder(bus)
    alert = service.ingest(warning(GRID, camera="CAM-1", track=7))
    joined = service.ingest(warning(GRID, camera="CAM-2", track=8))
    assert joined.id == alert.id and joined.cameras == ["CAM-1", "CAM-2"]
    service.attach_evidence(alert.id, snapshot=f"{alert.id}/snapshot.jpg", clip=f"{alert.id}/clip.webm")

    service.attach_evidence(alert.id, snapshot=f"{alert.id}/snapshot-CAM-2.jpg", camera_id="CAM-2")
    service.attach_evidence(alert.id, clip=f"{alert.id}/clip-CAM-2.webm", track=f"{alert.id}/observations-CAM-2.jsonl",
                            camera_id="CAM-2")
    evidence = service.get(alert.id).evidence
    assert (evidence.snapshot, evidence.clip, evidence.track) == (f"{alert.id}/snapshot.jpg", f"{alert.id}/clip.webm",
                                                                  None)
    assert evidence.views == [CameraEvidence(camera_id="CAM-2", snapshot=f"{alert.id}/snapshot-CAM-2.jpg",
                                             clip=f"{alert.id}/clip-CAM-2.webm",
                                             track=f"{alert.id}/observations-CAM-2.jsonl")]
    assert evidence.view("CAM-2") is evidence.views[0] and evidence.view("CAM-1") is None

    # the first camera's files named by their camera are still the first camera's
    service.attach_evidence(alert.id, track=f"{alert.id}/observations.jsonl", camera_id="CAM-1")
    evidence = service.get(alert.id).evidence
    assert evidence.track == f"{alert.id}/observations.jsonl" and [v.camera_id for v in evidence.views] == ["CAM-2"]

    # the wall learns of it: each attachment is an "updated" alert event carrying the views
    last = messages.messages[-1]
    assert last.event == "updated" and last.evidence == evidence
    assert last.to_wire()["evidence"]["views"][0]["camera_id"] == "CAM-2"
    notes = [h.note for h in service.history(alert.id)]
    assert "evidence: snapshot of CAM-2" in notes and "evidence: clip, track of CAM-2" in notes


def test_an_alert_keeps_at_most_max_views_cameras_and_no_views_leave_the_wire_as_it_was(service):
    alert = service.ingest(warning(GRID, camera="CAM-1", track=7))
    assert "views" not in alert.to_message()["evidence"]  # what readers of before views got
    for n in range(MAX_VIEWS + 2):
        service.attach_evidence(alert.id, snapshot=f"{alert.id}/snapshot-{n}.jpg", camera_id=f"CAM-J{n}")
    views = service.get(alert.id).evidence.views
    assert [v.camera_id for v in views] == [f"CAM-J{n}" for n in range(MAX_VIEWS)]
    assert len(service.history(alert.id)) == 1 + MAX_VIEWS  # the ones left out change nothing
    assert service.attach_evidence(alert.id, camera_id="CAM-J0").evidence.views == views  # no files: no change
    # an alert stored before views existed reads as one without them
    assert Evidence.model_validate({"snapshot": "a/snapshot.jpg", "clip": None, "track": None}).views == []


def test_a_camera_joining_an_alert_without_a_first_camera_is_a_view(service):
    """A BeiDou stop raised the alert (no camera of its own); the camera that then sees it joins
    it, and its files are that camera's view: nothing is the first camera's."""
    lon, lat = small_district().get(GRID).anchor
    alert = service.ingest(WarningEvent(
        rule="abnormal_stop", rule_id="hazmat-stop", severity="orange", source="telemetry", lon=lon, lat=lat,
        first_ts=T0 - 90, last_ts=T0, details={"vehicle_id": "苏F-A1234"},
    ))
    assert alert.camera_id is None
    joined = service.ingest(warning(GRID, camera="CAM-1", track=7))
    assert joined.id == alert.id and joined.cameras == ["CAM-1"]
    service.attach_evidence(alert.id, snapshot=f"{alert.id}/snapshot-CAM-1.jpg", camera_id="CAM-1")
    evidence = service.get(alert.id).evidence
    assert evidence.snapshot is None and evidence.view("CAM-1").snapshot == f"{alert.id}/snapshot-CAM-1.jpg"
