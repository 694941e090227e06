"""Many Redis commands over one connection in a few round trips, without redis-py's per-command layers.

redis-py's Pipeline spends Python on each command (queueing, options, a pass over every argument
before packing, a callback per reply): 20,000 XGROUP CREATE took it about 0.3 s of a local Redis, three
times what `exchange` takes, and more in a process holding a large topology, where its garbage sets
off collections of the whole heap. `exchange` packs plain command tuples (by hiredis, one buffer a
chunk) and reads the raw replies in order: a chunk of commands is written, then its replies read, so
neither side holds more than one chunk. Replies are as the connection
decodes them (no callbacks: XINFO answers flat lists of field, value); a Redis error reply is
returned in its place as the redis-py exception, not raised. A connection error or timeout is raised
(and the connection dropped, so no half-read reply is left on it).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

__all__ = ["CHUNK", "Command", "exchange", "fields", "pairs"]

Command = tuple[Any, ...]
CHUNK = 10_000  # commands written before their replies are read


def exchange(client: Any, commands: Sequence[Command], *, chunk: int = CHUNK) -> list[Any]:
    """The replies to `commands`, in order, sent over one pooled connection of `client`."""
    import redis

    if not commands:
        return []
    pool = client.connection_pool
    connection = pool.get_connection()
    try:
        replies: list[Any] = []
        for start in range(0, len(commands), chunk):
            part = commands[start:start + chunk]
            connection.send_packed_command(_packed(connection, part))
            for _ in part:
                try:
                    replies.append(connection.read_response())
                except redis.ResponseError as exc:
                    replies.append(exc)
        return replies
    except BaseException:
        connection.disconnect()
        raise
    finally:
        pool.release(connection)


def _packed(connection: Any, commands: Sequence[Command]) -> list[bytes]:
    """`commands` in the Redis protocol: by hiredis, one call each and one buffer for the chunk (redis-py's
    packer adds a Python pass over every argument); by redis-py's packer without hiredis."""
    try:
        from hiredis import pack_command
    except ImportError:  # pragma: no cover - redis[hiredis] is a dependency
        return list(connection.pack_commands(commands))
    import redis

    try:
        return [b"".join([pack_command(command) for command in commands])]
    except TypeError as exc:  # an argument that is not str, bytes, int or float
        raise redis.DataError(str(exc)) from exc


def fields(flat: Sequence[Any] | dict[Any, Any]) -> dict[str, Any]:
    """A reply of alternating field and value (RESP2), or a map (RESP3), as a dict."""
    if isinstance(flat, dict):
        return {str(k): v for k, v in flat.items()}
    return dict(zip(flat[::2], flat[1::2], strict=True))  # field names are str: the client decodes replies


def pairs(items: Iterable[Any]) -> list[dict[str, Any]]:
    """Each of a list of flat replies (XINFO GROUPS, XINFO CONSUMERS) as a dict."""
    return [fields(item) for item in items]
