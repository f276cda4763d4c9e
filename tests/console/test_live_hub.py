"""The live hub: numbering, jurisdiction scoping, replay on reconnect, slow clients, threads, one
encoding per message, the send watchdog."""

from __future__ import annotations

import asyncio
import json
import threading

import numpy as np
import pytest

from zhizhi.console.live import hub as hub_module
from zhizhi.console.live.hub import LiveHub

TOWN_A, TOWN_B = "320612001", "320612002"
GRID_A, GRID_B = "320612001002003", "320612002001001"


def make_hub(**kw) -> LiveHub:
    state: dict[str, dict] = {}

    def snapshot(client):
        return [m for m in state.values() if client.code == "" or m["grid"].startswith(client.code)]

    hub = LiveHub(snapshot, **kw)
    hub.state = state  # type: ignore[attr-defined]
    return hub


def alert(hub: LiveHub, n: int, grid: str) -> int:
    message = {"type": "alert", "id": f"A{n}", "grid": grid}
    hub.state[message["id"]] = message  # type: ignore[attr-defined]
    return hub.publish(message, audience=[grid])


async def drain(client, count: int, timeout: float = 1.0) -> list[dict]:
    return [await asyncio.wait_for(client.next(), timeout) for _ in range(count)]


def test_each_client_gets_only_its_jurisdiction_in_increasing_seq():
    async def scenario():
        hub = make_hub()
        district, a, b = hub.connect("", last_seq=0), hub.connect(TOWN_A, last_seq=0), hub.connect(TOWN_B, last_seq=0)
        for n in range(6):
            alert(hub, n, GRID_A if n % 2 else GRID_B)
        got_district, got_a, got_b = await drain(district, 6), await drain(a, 3), await drain(b, 3)
        assert [m["seq"] for m in got_district] == [1, 2, 3, 4, 5, 6]
        assert [m["id"] for m in got_a] == ["A1", "A3", "A5"] and all(m["grid"] == GRID_A for m in got_a)
        assert [m["seq"] for m in got_b] == [1, 3, 5]
        with pytest.raises(asyncio.TimeoutError):  # nothing else for town A
            await asyncio.wait_for(a.next(), 0.05)

    asyncio.run(scenario())


def test_a_new_client_starts_with_a_scoped_snapshot():
    async def scenario():
        hub = make_hub()
        alert(hub, 1, GRID_A)
        alert(hub, 2, GRID_B)
        snap = await asyncio.wait_for(hub.connect(TOWN_A).next(), 1)
        assert snap["type"] == "snapshot" and snap["seq"] == 2 and [m["id"] for m in snap["items"]] == ["A1"]

    asyncio.run(scenario())


def test_reconnect_with_last_seq_gets_what_was_missed_without_duplicates():
    async def scenario():
        hub = make_hub(buffer=100)
        client = hub.connect(TOWN_A, last_seq=0)
        for n in range(4):
            alert(hub, n, GRID_A)
        first = await drain(client, 2)
        client.close()  # the screen drops after seeing 2 of 4
        for n in range(4, 8):
            alert(hub, n, GRID_A)
        again = hub.connect(TOWN_A, last_seq=first[-1]["seq"])
        rest = await drain(again, 6)
        seqs = [m["seq"] for m in first + rest]
        assert seqs == list(range(1, 9)) and len(set(seqs)) == 8
        assert all(m["type"] == "alert" for m in rest)

    asyncio.run(scenario())


def test_reconnect_beyond_the_buffer_or_from_another_life_gets_a_snapshot():
    async def scenario():
        hub = make_hub(buffer=5)
        for n in range(20):
            alert(hub, n, GRID_A)
        old = await asyncio.wait_for(hub.connect(TOWN_A, last_seq=3).next(), 1)
        assert old["type"] == "snapshot" and old["seq"] == 20 and len(old["items"]) == 20
        future = await asyncio.wait_for(hub.connect(TOWN_A, last_seq=999).next(), 1)  # hub restarted
        assert future["type"] == "snapshot"

    asyncio.run(scenario())


def test_a_slow_client_is_resynchronised_and_never_holds_up_the_others():
    async def scenario():
        hub = make_hub(queue_size=10)
        slow, fast = hub.connect("", last_seq=0), hub.connect("", last_seq=0)
        received = []

        async def reader():
            while len(received) < 50:
                received.append(await fast.next())

        task = asyncio.create_task(reader())
        for n in range(50):
            alert(hub, n, GRID_A)
            await asyncio.sleep(0)  # the fast reader keeps up
        await asyncio.wait_for(task, 1)
        assert [m["seq"] for m in received] == list(range(1, 51))
        assert slow.pending <= 10 and slow.resyncs >= 1
        snap = await slow.next()  # the slow one resumes from a snapshot, then live
        assert snap["type"] == "snapshot" and snap["seq"] == 50 and len(snap["items"]) == 50
        alert(hub, 99, GRID_A)
        assert (await slow.next())["seq"] == 51

    asyncio.run(scenario())


def test_wall_messages_reach_only_that_wall():
    async def scenario():
        hub = make_hub()
        wall1, wall2 = hub.connect("", last_seq=0, wall="main"), hub.connect("", last_seq=0, wall="town-1")
        hub.publish({"type": "wall", "select": "A1"}, wall="main")
        hub.publish({"type": "camera_status", "id": "C1"}, audience=[GRID_A])
        assert [m["type"] for m in await drain(wall1, 2)] == ["wall", "camera_status"]
        assert [m["type"] for m in await drain(wall2, 1)] == ["camera_status"]

    asyncio.run(scenario())


def test_publishing_from_other_threads_keeps_order_and_numbers():
    async def scenario():
        hub = make_hub(buffer=10_000, queue_size=10_000)
        hub.bind(asyncio.get_running_loop())
        client = hub.connect("", last_seq=0)

        def produce(offset: int) -> None:
            for n in range(500):
                alert(hub, offset + n, GRID_A)

        threads = [threading.Thread(target=produce, args=(k * 1000,)) for k in range(4)]
        for t in threads:
            t.start()
        await asyncio.get_running_loop().run_in_executor(None, lambda: [t.join() for t in threads])
        got = await drain(client, 2000)
        assert [m["seq"] for m in got] == list(range(1, 2001))

    asyncio.run(scenario())


def test_positions_are_delivered_but_not_kept_for_replay():
    async def run():
        hub = LiveHub(snapshot=lambda client: [], buffer=10)
        live = hub.connect("", last_seq=0)
        hub.publish({"type": "alert", "id": "a"})
        hub.publish({"type": "vehicles", "vehicles": [{"vehicle_id": "v"}]}, keep=False)
        hub.publish({"type": "alert", "id": "b"})
        got = [await live.next() for _ in range(3)]
        back = hub.connect("", last_seq=1)  # missed 2 (a position) and 3
        replayed = await back.next()
        return got, replayed, len(hub._ring)

    got, replayed, kept = asyncio.run(run())
    assert [m["type"] for m in got] == ["alert", "vehicles", "alert"] and [m["seq"] for m in got] == [1, 2, 3]
    assert replayed == {"type": "alert", "id": "b", "seq": 3} and kept == 2


def test_publishing_after_the_servers_loop_closed_still_numbers_and_keeps():
    """A hub whose loop is gone (its server stopped; the next app on the same state has not
    bound yet) takes messages without failing the publisher, and replays them later."""
    hub = make_hub()

    async def serve_and_stop():
        hub.bind(asyncio.get_running_loop())

    asyncio.run(serve_and_stop())  # the loop is closed when run() returns
    first = alert(hub, 1, GRID_A)
    second = alert(hub, 2, GRID_A)
    assert (first, second) == (1, 2)

    async def reconnect():
        hub.bind(asyncio.get_running_loop())
        client = hub.connect("", last_seq=0)
        return await drain(client, 2)

    assert [m["id"] for m in asyncio.run(reconnect())] == ["A1", "A2"]


class CountingEncoder:
    """Wraps the hub's encoder and counts its calls."""

    def __init__(self) -> None:
        self.calls = 0
        self.encode = hub_module.encode

    def __call__(self, message):
        self.calls += 1
        return self.encode(message)


@pytest.fixture
def encoder(monkeypatch) -> CountingEncoder:
    counting = CountingEncoder()
    monkeypatch.setattr(hub_module, "encode", counting)
    return counting


async def texts(client, count: int, timeout: float = 1.0) -> list[str]:
    return [await asyncio.wait_for(client.next_text(), timeout) for _ in range(count)]


@pytest.mark.parametrize("screens", [1, 10, 300])
def test_a_message_is_encoded_once_whatever_the_number_of_screens(encoder, screens):
    async def scenario():
        hub = make_hub()
        district = [hub.connect("", last_seq=0) for _ in range(screens)]
        town_a = [hub.connect(TOWN_A, last_seq=0) for _ in range(screens)]
        town_b = [hub.connect(TOWN_B, last_seq=0) for _ in range(screens)]
        seqs = [alert(hub, n, GRID_A if n % 2 else GRID_B) for n in range(4)]
        got_district = [await texts(c, 4) for c in district]
        got_a, got_b = [await texts(c, 2) for c in town_a], [await texts(c, 2) for c in town_b]
        assert encoder.calls == 4  # one per message, none per screen
        # every screen of a kind holds the very same texts, each with its message's seq
        for group in (got_district, got_a, got_b):
            assert all(g == group[0] for g in group)
        assert [json.loads(t)["seq"] for t in got_district[0]] == seqs
        assert [json.loads(t)["id"] for t in got_a[0]] == ["A1", "A3"]  # town A never gets town B's
        assert [json.loads(t)["id"] for t in got_b[0]] == ["A0", "A2"]
        assert got_a[0] == [got_district[0][1], got_district[0][3]]  # the same text as the district's
        assert all(c.pending == 0 for c in town_a + town_b + district)  # and nothing else is queued

    asyncio.run(scenario())


def test_the_text_is_the_message_with_its_seq_last():
    async def scenario():
        hub = make_hub()
        client = hub.connect("", last_seq=0)
        hub.publish({"type": "alert", "id": "x", "text": "路面积水", "seq": 999, "score": float("inf")})
        hub.publish({})
        return await texts(client, 2)

    first, empty = asyncio.run(scenario())
    assert first == '{"type":"alert","id":"x","text":"路面积水","score":null,"seq":1}'  # the hub's seq wins
    assert empty == '{"seq":2}'


def test_a_rendered_message_is_rendered_and_encoded_once_per_jurisdiction(encoder):
    renders: list[str] = []

    def render(code: str) -> dict:
        renders.append(code)
        return {"type": "incident", "codes": [c for c in (GRID_A, GRID_B) if c.startswith(code)]}

    async def scenario():
        hub = make_hub()
        screens = {code: [hub.connect(code, last_seq=0) for _ in range(20)] for code in ("", TOWN_A, TOWN_B)}
        seq = hub.publish({"type": "incident", "codes": [GRID_A, GRID_B]}, audience=[GRID_A, GRID_B],
                          render=render)
        return seq, {code: [await texts(c, 1) for c in group] for code, group in screens.items()}

    seq, got = asyncio.run(scenario())
    assert sorted(renders) == sorted(["", TOWN_A, TOWN_B]) and encoder.calls == 3
    for code, group in got.items():
        assert all(g == group[0] for g in group)
        message = json.loads(group[0][0])
        assert message["seq"] == seq
        assert message["codes"] == [c for c in (GRID_A, GRID_B) if c.startswith(code)]  # each its own cut


def test_a_message_json_cannot_carry_fails_its_publisher_and_takes_no_number():
    hub = make_hub()
    with pytest.raises(TypeError, match="live message 'tracks' cannot be sent as JSON"):
        hub.publish({"type": "tracks", "count": np.int64(3)})
    assert hub.seq == 0 and hub.publish({"type": "tracks", "count": 3}) == 1


def test_snapshots_stay_each_screens_own_and_are_built_off_the_loop():
    async def scenario():
        hub = LiveHub(lambda client: [{"built_in": threading.current_thread().name, "code": client.code}])
        loop_thread = threading.current_thread().name
        a, b = hub.connect(TOWN_A), hub.connect(TOWN_B)
        return loop_thread, json.loads(await a.next_text()), json.loads(await b.next_text())

    loop_thread, snap_a, snap_b = asyncio.run(scenario())
    assert snap_a["type"] == snap_b["type"] == "snapshot"
    assert snap_a["items"][0]["code"] == TOWN_A and snap_b["items"][0]["code"] == TOWN_B
    assert snap_a["items"][0]["built_in"] != loop_thread


def test_a_screen_whose_socket_stops_taking_messages_is_dropped_and_the_others_carry_on():
    async def scenario():
        hub = make_hub(send_timeout_s=0.2)
        stuck, reader = hub.connect("", last_seq=0), hub.connect("", last_seq=0)
        never = asyncio.Event()
        received: list[str] = []

        async def blocked_send(text: str) -> None:
            await never.wait()  # a socket that never drains

        async def send(text: str) -> None:
            received.append(text)

        tasks = [asyncio.create_task(stuck.forward(blocked_send)), asyncio.create_task(reader.forward(send))]
        for n in range(5):
            alert(hub, n, GRID_A)
            await asyncio.sleep(0)
        await asyncio.wait_for(stuck.dropped.wait(), 5)
        for n in range(5, 10):
            alert(hub, n, GRID_A)
        for _ in range(100):
            await asyncio.sleep(0)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        return hub, stuck, reader, received

    hub, stuck, reader, received = asyncio.run(scenario())
    assert [json.loads(t)["seq"] for t in received] == list(range(1, 11))  # the other screen got everything
    assert hub.dropped == 1 and hub.clients == 1 and stuck.pending == 0 and not reader.dropped.is_set()


def test_the_send_bound_must_be_positive():
    with pytest.raises(ValueError, match="send_timeout_s must be positive"):
        LiveHub(lambda client: [], send_timeout_s=0)


def test_the_send_watchdog_follows_the_hub_to_the_next_servers_loop():
    """A hub outlives its server (the shared test console): the watchdog started on a loop
    that has closed runs again on the next loop that connects a client."""
    hub = make_hub(send_timeout_s=0.2)

    async def first_server():
        hub.connect("", last_seq=0).close()

    async def next_server():
        stuck = hub.connect("", last_seq=0)
        never = asyncio.Event()

        async def blocked_send(text: str) -> None:
            await never.wait()

        task = asyncio.create_task(stuck.forward(blocked_send))
        alert(hub, 1, GRID_A)
        await asyncio.wait_for(stuck.dropped.wait(), 5)
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)

    asyncio.run(first_server())
    asyncio.run(next_server())
    assert hub.dropped == 1
