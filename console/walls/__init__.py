"""Walls configured once, centrally: walls and their slots (:mod:`.store`), the screens paired
to them with a device credential (:mod:`.devices`), and the short codes that pair them
(:mod:`.pairing`). The tables are in :mod:`.tables` (migration 0010)."""
