"""A few Redis commands sent together and their replies awaited, for the service's event loop (a payment's
card and terminal read, two HMGETs).

redis-py's asyncio pipeline does much per call for two HMGETs on loopback: a pooled connection checked
for readability, a write wrapped in `wait_for` (a task per call), a timeout context per reply. Sending
on redis-py's own `Connection` directly, with one deadline over the whole exchange, costs the client
well under half the CPU (diagnostic timings in docs/serving.md). Connections are redis-py's, made with
the asyncio client's settings (address, password, TLS); redis-py still parses the replies and
disconnects a connection whose exchange failed half-way. The commands are packed here: a read's fields
are the same every time, so their protocol bytes are made once (redis-py encoded every field of every
command, a seventh of the client's time).

The connections are kept per event loop and there are as many as exchanges in flight at once: the
service bounds those (SPEND_SERVING_AWAITED_READS).
"""

from __future__ import annotations

import asyncio
from functools import lru_cache

from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError


class AwaitedRedis:
    def __init__(self, connection_class, connection_kwargs: dict, timeout: float | None) -> None:
        self._make = connection_class
        # The deadline covers the whole exchange: per-call socket timeouts would each cost a timer.
        self._kwargs = connection_kwargs | {"socket_timeout": None}
        self.timeout = timeout
        self._loop: asyncio.AbstractEventLoop | None = None
        self._idle: list = []

    @classmethod
    def like(cls, client) -> AwaitedRedis:
        """Connections like those of `client` (redis.asyncio.Redis), bounded by its socket timeout."""
        pool = client.connection_pool
        return cls(pool.connection_class, dict(pool.connection_kwargs), pool.connection_kwargs.get("socket_timeout"))

    async def exchange(self, commands: list[tuple]) -> list:
        """The replies to `commands`, in order. Raises redis-py's TimeoutError past the deadline and its
        ConnectionError when Redis cannot be reached; a connection left idle across a Redis restart is
        retried once, as redis-py's pool would reconnect it."""
        loop = asyncio.get_running_loop()
        if loop is not self._loop:  # a connection belongs to the loop that opened it
            self._loop, self._idle = loop, []
        conn = self._idle.pop() if self._idle else self._make(**self._kwargs)
        reused = conn.is_connected
        try:
            replies = await self._once(conn, commands)
        except RedisConnectionError:
            if not reused:
                raise
            replies = await self._once(conn, commands)  # it reconnects: the failure was the old socket's
        self._idle.append(conn)
        return replies

    async def _once(self, conn, commands: list[tuple]) -> list:
        try:
            async with asyncio.timeout(self.timeout):
                await conn.send_packed_command(packed(commands), check_health=False)
                return [await conn.read_response() for _ in commands]
        except TimeoutError as error:  # asyncio's: redis-py's own reads disconnected on the cancellation
            await conn.disconnect(nowait=True)
            raise RedisTimeoutError(f"no answer from Redis in {self.timeout} s") from error
        except BaseException:
            await conn.disconnect(nowait=True)  # replies may be left unread: the connection is spent
            raise


def packed(commands: list[tuple]) -> bytes:
    """The commands in Redis's protocol (RESP), as redis-py's `pack_commands` writes them: each command's
    name and key, then its other arguments, whose bytes are kept (a read's fields repeat on every call)."""
    out = []
    for name, key, *rest in commands:
        name, key = _bytes(name), _bytes(key)
        out.append(b"*%d\r\n$%d\r\n%s\r\n$%d\r\n%s\r\n" % (len(rest) + 2, len(name), name, len(key), key))
        out.append(_arguments(tuple(rest)))
    return b"".join(out)


@lru_cache(maxsize=256)  # the views' field lists: a handful per service
def _arguments(args: tuple) -> bytes:
    return b"".join(b"$%d\r\n%s\r\n" % (len(a), a) for a in map(_bytes, args))


def _bytes(value) -> bytes:
    if isinstance(value, bytes):
        return value
    if isinstance(value, str):
        return value.encode("utf-8")
    raise TypeError(f"a Redis argument must be bytes or text, not {type(value).__name__}")
