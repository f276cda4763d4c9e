"""Site adaptation (``zhizhi adapt``): a camera's own footage makes its own detector, on CPU in minutes.

The detector trained on the simulator's renders sees phantom tankers in a real camera's
windows, lamp posts and table legs. For one camera, :func:`adapt.adapt_camera`:

1. records N minutes of its stream (``record.py``: sampled frames through the project's sources);
2. mines labels with the current detector, its tracker and a background model (``mining.py``:
   motion-confirmed moving objects are positives, still detections on the background are hard
   negatives, anything unsure is left out);
3. fine-tunes the current weights on the mined frames of the first part of the recording
   (``models.detector.train``, a few epochs at a small size; optionally with a slice of simulator
   frames against forgetting);
4. counts false boxes and kept positives of the starting and the adapted weights on the last part
   of the recording, never trained on (``evaluate.py``), and writes the report beside the weights;
5. registers the weights as a draft detector version scoped to the camera (``camera_id`` in its
   manifest); promoting it makes it that camera's detector.
"""
