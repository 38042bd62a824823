"""The fraud read's Redis exchange (features/store/awaited_redis.py) against a Redis of the test's own: the
same replies as redis-py's client, one deadline, a clean reconnect after a restart, no stale replies."""

from __future__ import annotations

import asyncio
import time

import pytest
import redis
import redis.asyncio as aredis
from hypothesis import given
from hypothesis import strategies as st
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from spend.features.store.awaited_redis import AwaitedRedis, packed
from spend.serving.launch import free_port
from tests.conftest import running_in_ci
from tests.support.sandbox import missing_tools, redis_server


@pytest.fixture()
def server():
    message = missing_tools()
    if message is not None:
        if running_in_ci():
            pytest.fail(f"{message}; CI must provide them", pytrace=False)
        pytest.skip(message)
    port = free_port()
    process = {"port": port, "process": redis_server(port)}
    client = redis.Redis(port=port)
    client.hset("card", mapping={"a": b"1", "b": b"2"})
    client.hset("terminal", mapping={"c": b"3"})
    yield process
    process["process"].kill()


def _awaited(port: int, timeout: float = 0.25) -> AwaitedRedis:
    return AwaitedRedis.like(aredis.Redis(port=port, socket_timeout=timeout, socket_connect_timeout=timeout))


COMMANDS = [("HMGET", b"card", b"a", b"b", b"x"), ("HMGET", b"terminal", b"c")]


def test_replies_are_the_clients_and_one_connection_serves_one_reader_in_turn(server):
    awaited = _awaited(server["port"])

    async def run():
        return [await awaited.exchange(COMMANDS) for _ in range(20)]

    replies = asyncio.run(run())
    assert replies[0] == [[b"1", b"2", None], [b"3"]] and all(r == replies[0] for r in replies)
    assert len(awaited._idle) == 1 and awaited.timeout == 0.25


def test_a_stalled_redis_is_a_timeout_within_the_deadline_and_no_stale_reply_follows(server):
    awaited = _awaited(server["port"], timeout=0.2)
    pause = redis.Redis(port=server["port"])

    async def run():
        await awaited.exchange(COMMANDS)  # a connection to reuse
        pause.execute_command("CLIENT", "PAUSE", 600, "ALL")
        began = time.monotonic()
        with pytest.raises(RedisTimeoutError):
            await awaited.exchange(COMMANDS)
        took = time.monotonic() - began
        await asyncio.sleep(0.7)  # the pause ends; the late replies must not reach the next exchange
        return took, await awaited.exchange([("HMGET", b"terminal", b"c")])

    took, after = asyncio.run(run())
    assert took < 0.5 and after == [[b"3"]]


def test_after_a_restart_the_first_exchange_reconnects_and_a_stopped_redis_is_a_connection_error(server):
    awaited = _awaited(server["port"])

    async def exchange():
        return await awaited.exchange([("HMGET", b"card", b"a")])

    async def run():
        assert await exchange() == [[b"1"]]
        server["process"].kill()
        server["process"].wait(timeout=10)
        with pytest.raises(RedisConnectionError):
            await exchange()
        server["process"] = redis_server(server["port"])  # empty: it keeps nothing
        redis.Redis(port=server["port"]).hset("card", "a", "9")
        return await exchange()

    assert asyncio.run(run()) == [[b"9"]]


def test_a_reused_connection_across_a_restart_is_retried_once(server):
    awaited = _awaited(server["port"])

    async def run():
        first = await awaited.exchange([("HMGET", b"card", b"a")])
        server["process"].kill()
        server["process"].wait(timeout=10)
        server["process"] = redis_server(server["port"])
        # The idle connection's socket is dead; the exchange still answers (from the new, empty server).
        return first, await awaited.exchange([("HMGET", b"card", b"a")])

    assert asyncio.run(run()) == ([[b"1"]], [[None]])


def test_each_event_loop_gets_its_own_connections(server):
    awaited = _awaited(server["port"])
    assert asyncio.run(awaited.exchange(COMMANDS)) == asyncio.run(awaited.exchange(COMMANDS))


arguments = st.one_of(st.binary(max_size=40), st.text(max_size=20))


@given(st.lists(st.tuples(st.sampled_from(["HMGET", "GET", b"HGETALL"]), arguments, st.lists(arguments)), max_size=4))
def test_commands_are_packed_byte_for_byte_as_redis_py_packs_them(commands):
    from redis.asyncio.connection import Connection

    flat = [(name, key, *rest) for name, key, rest in commands]
    assert packed(flat) == b"".join(Connection().pack_commands(flat))


def test_a_key_or_field_with_protocol_bytes_in_it_is_read_back_whole(server):
    client = redis.Redis(port=server["port"])
    client.hset(b"odd\r\n*1\r\nkey", mapping={"f\r\n$3": b"v\r\n"})
    replies = asyncio.run(_awaited(server["port"]).exchange([("HMGET", b"odd\r\n*1\r\nkey", "f\r\n$3", b"none")]))
    assert replies == [[b"v\r\n", None]]
