"""Live messages for the wall: the numbered, scoped, replayable hub behind ``/ws``."""
