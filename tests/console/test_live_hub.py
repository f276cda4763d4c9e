"""The live hub: numbering, jurisdiction scoping, replay on reconnect, slow clients, threads."""

from __future__ import annotations

import asyncio
import threading

import pytest

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
