"""``/ws`` on a real server on loopback: authentication, scoping, replay, walls, slow clients,
one text per message, a screen that stops reading dropped."""

from __future__ import annotations

import json
import socket
import threading
import time

import pytest
from websockets.client import ClientProtocol
from websockets.exceptions import ConnectionClosed
from websockets.protocol import State
from websockets.sync.client import connect
from websockets.uri import parse_uri

from tests.auth_support import create_test_users
from tests.browser import login_answer, serve
from zhizhi.models.warning.record import WarningEvent

#: The session console's tests of this module run on SQLite and on PostgreSQL (tests/conftest.py).
CONSOLE_BACKENDS = ("sqlite", "postgresql")


@pytest.fixture(scope="module")
def live(tmp_path_factory):
    """A console of its own served by uvicorn on a free loopback port."""
    from zhizhi.console.app import create_app
    from zhizhi.console.settings import DemoSettings, LiveSettings, Settings
    from zhizhi.console.state import open_console

    settings = Settings(data_dir=tmp_path_factory.mktemp("ws"), demo=DemoSettings(seed=7),
                        live=LiveSettings(client_queue=200, buffer=1000))
    settings.alerts.check_interval_s = 0
    state = open_console(settings)
    users = create_test_users(state)
    with serve(create_app(settings, state=state)) as base:
        tokens = {name: _login(base, name) for name in (users.district, users.operator_a, users.operator_b)}
        yield base, state, users, tokens
    state.close()


def _login(base: str, username: str) -> str:
    return login_answer(base, username)["token"]


def _ws(base: str, token: str, max_size: int | None = 2**20, **params):
    """A screen's websocket with the login's token as a bearer header (a non-browser client;
    browsers send a ticket: tests/console/test_sessions_live.py)."""
    query = "&".join(f"{k}={v}" for k, v in params.items())
    headers = {"Authorization": f"Bearer {token}"} if token else None
    return connect(base.replace("http://", "ws://") + f"/ws?{query}", open_timeout=10, additional_headers=headers,
                   max_size=max_size)


def _recv(ws, timeout: float = 5.0) -> dict:
    return json.loads(ws.recv(timeout=timeout))


def _never_reading(base: str, token: str) -> socket.socket:
    """A screen that opens ``/ws`` (websockets' own client protocol, a 4 KB receive buffer) and
    then never reads: its socket, handshake done."""
    uri = parse_uri(base.replace("http://", "ws://") + "/ws")
    protocol = ClientProtocol(uri)
    request = protocol.connect()
    request.headers["Authorization"] = f"Bearer {token}"
    protocol.send_request(request)
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.settimeout(10)
    sock.connect((uri.host, uri.port))
    sock.sendall(b"".join(protocol.data_to_send()))
    while protocol.state is State.CONNECTING:
        protocol.receive_data(sock.recv(256))
    assert protocol.state is State.OPEN, protocol.handshake_exc
    return sock


def _raw_until(ws, predicate, timeout: float = 5.0) -> str:
    """The text of the first message that satisfies ``predicate``, as it came."""
    deadline = time.monotonic() + timeout
    while True:
        text = ws.recv(timeout=max(deadline - time.monotonic(), 0.01))
        if predicate(json.loads(text)):
            return text


def _until(ws, predicate, timeout: float = 5.0) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        message = _recv(ws, max(deadline - time.monotonic(), 0.01))
        if predicate(message):
            return message


def _nothing_more(ws, predicate, wait: float = 0.5) -> bool:
    deadline = time.monotonic() + wait
    try:
        while time.monotonic() < deadline:
            if predicate(_recv(ws, max(deadline - time.monotonic(), 0.01))):
                return False
    except TimeoutError:
        pass
    return True


def _raise(state, town: str, track_id: int, ts: float = 1_750_000_000.0):
    """A real alert through the alert service, in the first grid of ``town``."""
    grid = next(g for g in state.jurisdictions.grid_codes if g.startswith(town))
    lon, lat = state.jurisdictions.get(grid).anchor
    warning = WarningEvent(rule="abnormal_stop", rule_id="hazmat-abnormal-stop", severity="orange", camera_id="CAM-T",
                           track_id=track_id, cls="hazmat_tanker", lon=lon, lat=lat, first_ts=ts, last_ts=ts + 20)
    return state.alerts.ingest(warning)


def test_no_token_no_channel(live):
    base, *_ = live
    for token in ("", "not-a-token"):
        with _ws(base, token) as ws, pytest.raises(ConnectionClosed) as info:
            ws.recv(timeout=5)
        assert info.value.rcvd.code == 4401


def test_each_screen_receives_only_its_jurisdiction(live):
    base, state, users, tokens = live
    with _ws(base, tokens[users.district]) as d, _ws(base, tokens[users.operator_a]) as a, \
            _ws(base, tokens[users.operator_b]) as b:
        for ws in (d, a, b):
            assert _recv(ws)["type"] == "snapshot"
        alert = _raise(state, users.town_a, track_id=101)
        got_d = _until(d, lambda m: m["type"] == "alert" and m["id"] == alert.id)
        got_a = _until(a, lambda m: m["type"] == "alert" and m["id"] == alert.id)
        assert got_d["event"] == "new" and got_d["town"] == users.town_a and got_d["seq"] == got_a["seq"]
        assert _nothing_more(b, lambda m: m.get("id") == alert.id)
    # a town's snapshot holds its own open alerts only
    with _ws(base, tokens[users.operator_b]) as b:
        assert all(item.get("town") != users.town_a for item in _recv(b)["items"])
    with _ws(base, tokens[users.operator_a]) as a:
        assert alert.id in {item.get("id") for item in _recv(a)["items"]}


def test_reconnect_with_last_seq_gets_the_missed_messages_once(live):
    base, state, users, tokens = live
    with _ws(base, tokens[users.operator_a]) as a:
        _recv(a)
        first = _raise(state, users.town_a, track_id=201)
        last_seq = _until(a, lambda m: m.get("id") == first.id)["seq"]
    missed = [_raise(state, users.town_a, track_id=202 + i).id for i in range(3)]
    _raise(state, users.town_b, track_id=299)  # not for town A
    with _ws(base, tokens[users.operator_a], last_seq=last_seq) as a:
        replay = [_recv(a) for _ in range(3)]
        assert [m["id"] for m in replay] == missed and all(m["type"] == "alert" for m in replay)
        seqs = [m["seq"] for m in replay]
        assert seqs == sorted(seqs) and seqs[0] > last_seq
        assert _nothing_more(a, lambda m: True, wait=0.3)


def test_a_selection_moves_every_screen_of_its_wall_and_no_other(live):
    base, state, users, tokens = live
    alert = _raise(state, users.town_a, track_id=301)
    token = tokens[users.district]
    with _ws(base, token, wall="main") as board, _ws(base, token, wall="main") as map_screen, \
            _ws(base, token, wall="other") as elsewhere:
        for ws in (board, map_screen, elsewhere):
            _recv(ws)
        sent = time.perf_counter()
        board.send(json.dumps({"type": "wall", "action": "select_alert", "alert_id": alert.id}))
        moved = _until(map_screen, lambda m: m["type"] == "wall")
        latency_ms = (time.perf_counter() - sent) * 1000
        assert moved["action"] == "select_alert" and moved["alert"]["id"] == alert.id and moved["wall"] == "main"
        assert isinstance(moved["cameras"], list) and moved["by"] == users.district
        assert _until(board, lambda m: m["type"] == "wall")["seq"] == moved["seq"]
        assert _nothing_more(elsewhere, lambda m: m["type"] == "wall")
        assert latency_ms < 1000, latency_ms  # goal 200 ms on loopback; the figure is in the notes
        # a town may not select another town's alert
    with _ws(base, tokens[users.operator_b], wall="town-b") as b:
        _recv(b)
        b.send(json.dumps({"type": "wall", "action": "select_alert", "alert_id": alert.id}))
        error = _until(b, lambda m: m["type"] == "error")
        assert "not found" in error["detail"]
        b.send("not json")
        assert _until(b, lambda m: m["type"] == "error")["detail"] == "send JSON objects"
        b.send(json.dumps({"type": "dance"}))
        assert "unknown command" in _until(b, lambda m: m["type"] == "error")["detail"]


def test_a_stalled_screen_never_slows_the_others_and_never_sees_a_silent_gap(live):
    """The fast screen gets every message in order while another one stops reading; when the
    stalled one reads again, every message it missed is either delivered or covered by a snapshot.
    (Overflowing a screen's queue into a snapshot is tested on the hub itself: socket buffers on
    loopback hold megabytes, so here the stall may or may not reach the hub's queue.)"""
    base, state, users, tokens = live
    grid = next(g for g in state.jurisdictions.grid_codes if g.startswith(users.town_a))
    padding = "x" * 20_000
    with _ws(base, tokens[users.district]) as stalled, _ws(base, tokens[users.district]) as fast:
        _recv(stalled), _recv(fast)
        first = state.hub.seq + 1
        got: list[int] = []

        def read_fast() -> None:
            while len(got) < 400:
                got.append(_until(fast, lambda m: m["type"] == "tracks", timeout=20)["seq"])

        reader = threading.Thread(target=read_fast)
        reader.start()
        started = time.perf_counter()
        for i in range(400):  # a steady stream
            state.hub.publish({"type": "tracks", "camera_id": "CAM-T", "ts": float(i), "tracks": [], "pad": padding},
                              audience=[grid])
            if i % 5 == 4:
                time.sleep(0.005)
        reader.join(timeout=30)
        assert got == list(range(first, first + 400)), "the fast screen lost or reordered messages"
        assert time.perf_counter() - started < 30
        seen, covered = [], first - 1
        try:
            while True:
                message = _recv(stalled, 2.0)
                if message["type"] == "snapshot":
                    covered = max(covered, message["seq"])
                else:
                    seen.append(message["seq"])
                    covered = max(covered, message["seq"])
        except TimeoutError:
            pass
        assert seen == sorted(set(seen)), "duplicates or disorder"
        assert covered >= first + 399, "the stalled screen ends up neither up to date nor resynchronised"


def test_every_screen_receives_the_same_text_of_a_message(live):
    """One encoding per message: the district's screens and the town's receive byte-identical
    text with the message's seq; the other town receives nothing of it."""
    base, state, users, tokens = live
    with _ws(base, tokens[users.district]) as d1, _ws(base, tokens[users.district]) as d2, \
            _ws(base, tokens[users.operator_a]) as a, _ws(base, tokens[users.operator_b]) as b:
        for ws in (d1, d2, a, b):
            assert _recv(ws)["type"] == "snapshot"
        alert = _raise(state, users.town_a, track_id=401)
        texts = [_raw_until(ws, lambda m: m["type"] == "alert" and m["id"] == alert.id) for ws in (d1, d2, a)]
        assert texts[0] == texts[1] == texts[2]
        message = json.loads(texts[0])
        assert message["id"] == alert.id and 0 < message["seq"] <= state.hub.seq
        assert _nothing_more(b, lambda m: m.get("id") == alert.id)


def test_a_screen_that_stops_reading_is_dropped_and_the_others_get_everything(live):
    """A screen that never reads (a small receive buffer, no reads): once its socket has held a
    message for the hub's send bound it is dropped; the screens that read get every message in
    order meanwhile, and the dropped one resumes from the ring buffer with its last seq."""
    base, state, users, tokens = live
    grid = next(g for g in state.jurisdictions.grid_codes if g.startswith(users.town_a))
    padding = "x" * 256_000  # 48 of these overflow the socket buffers on loopback (4 MB at most each way)
    bound, state.hub.send_timeout_s = state.hub.send_timeout_s, 1.0
    dropped = state.hub.dropped
    stalled = _never_reading(base, tokens[users.district])
    try:
        with _ws(base, tokens[users.district], max_size=None) as r1, \
                _ws(base, tokens[users.district], max_size=None) as r2:
            _recv(r1), _recv(r2)
            first = state.hub.seq + 1
            got: dict[int, list[int]] = {1: [], 2: []}

            def read(ws, into: list[int]) -> None:
                while len(into) < 48:
                    into.append(_until(ws, lambda m: m["type"] == "tracks", timeout=30)["seq"])

            readers = [threading.Thread(target=read, args=(ws, got[k])) for k, ws in ((1, r1), (2, r2))]
            for reader in readers:
                reader.start()
            for i in range(48):
                state.hub.publish({"type": "tracks", "camera_id": "CAM-S", "ts": float(i), "tracks": [],
                                   "pad": padding}, audience=[grid])
            for reader in readers:
                reader.join(timeout=60)
            assert got[1] == got[2] == list(range(first, first + 48))
            deadline = time.monotonic() + 20
            while state.hub.dropped == dropped and time.monotonic() < deadline:
                time.sleep(0.1)
            assert state.hub.dropped == dropped + 1, "the screen that stopped reading was not dropped"
    finally:
        state.hub.send_timeout_s = bound
        stalled.close()
    with _ws(base, tokens[users.district], last_seq=first - 1, max_size=None) as back:
        replay = [_until(back, lambda m: m["type"] == "tracks", timeout=10)["seq"] for _ in range(48)]
        assert replay == list(range(first, first + 48))
