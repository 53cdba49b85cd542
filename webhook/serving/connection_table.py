"""Who holds a listener's connections, and which one gives way when it is full.

A listener holds at most `max_connections`, and one source address at most `max_per_source` of
them: a new connection from a source at its limit is closed at once. At the cap a newcomer is
not refused: room is made by closing, in this order,

1. the connection that has waited longest for its client: for its TLS handshake to finish or
   for a request to arrive whole (a real client needs milliseconds for either);
2. else, of the sources holding the most connections, the connection idle the longest:
   kube-apiserver's client is Go's `net/http` Transport, whose `queueForIdleConn` takes the
   most recently used idle connection first, so the one idle longest is the least likely to
   be carrying a review when it is closed.

A connection whose answer is being computed or written is never closed: when every one is in
that state, the newcomer is. First come, first served let one client that opened the cap's
worth of stalled handshakes, or of idle connections, lock everyone else out, kube-apiserver
included, and pods were then admitted without placement.

The table is bookkeeping only (no I/O, no clock): the connection layer (`connections.py`) says
when a connection starts and stops waiting for its client, and closes what the table names.
"""

from __future__ import annotations

from typing import Literal, Protocol

Refusal = Literal["source_limit", "full"]
Given = Literal["waiting", "idle"]  # what a connection closed to make room was doing


class Held(Protocol):
    """What the table asks of a connection it holds."""

    @property
    def source(self) -> str: ...

    def idle_since(self) -> float | None:
        """When it became idle (no request in progress, every answer written), on any clock
        the listener's connections share; None while it is not idle."""

    def close_for_room(self) -> None:
        """Close it now, without waiting for the client."""


class ConnectionTable:
    def __init__(self, max_connections: int, max_per_source: int) -> None:
        self.max_connections, self.max_per_source = max_connections, max_per_source
        self.by_source: dict[str, dict[Held, None]] = {}
        # Connections waiting for their client, the longest waiting first (insertion order).
        self.waiting: dict[Held, None] = {}
        self.open = 0
        self.refused: dict[Refusal, int] = {"source_limit": 0, "full": 0}
        self.closed_for_room: dict[Given, int] = {"waiting": 0, "idle": 0}

    def admit(self, connection: Held) -> Refusal | None:
        """Hold a new connection, which waits for its client from now on; or say why not
        (the caller closes it). At the cap, another connection is closed to make room."""
        held = self.by_source.get(connection.source)
        if held is not None and len(held) >= self.max_per_source:
            self.refused["source_limit"] += 1
            return "source_limit"
        if self.open >= self.max_connections and not self._make_room():
            self.refused["full"] += 1
            return "full"
        if held is None:
            held = self.by_source[connection.source] = {}
        held[connection] = None
        self.waiting[connection] = None
        self.open += 1
        return None

    def waits(self, connection: Held) -> None:
        """The connection waits for its client again: a new request has begun on it."""
        if connection not in self.waiting and connection in self.by_source.get(
            connection.source, ()
        ):
            self.waiting[connection] = None

    def arrived(self, connection: Held) -> None:
        """The request the connection waited for has arrived whole."""
        self.waiting.pop(connection, None)

    def release(self, connection: Held) -> None:
        """The connection is gone (closed by either side); idempotent."""
        self.waiting.pop(connection, None)
        held = self.by_source.get(connection.source)
        if held is None or held.pop(connection, False) is False:
            return
        if not held:
            del self.by_source[connection.source]
        self.open -= 1

    def _make_room(self) -> bool:
        victim: Held | None = next(iter(self.waiting), None)
        given: Given = "waiting"
        if victim is None:
            victim, given = self._longest_idle_of_the_busiest(), "idle"
        if victim is None:
            return False
        self.release(victim)
        self.closed_for_room[given] += 1
        victim.close_for_room()
        return True

    def _longest_idle_of_the_busiest(self) -> Held | None:
        by_count = sorted(self.by_source.values(), key=len, reverse=True)
        for held in by_count:
            idle = [(since, c) for c in held if (since := c.idle_since()) is not None]
            if idle:
                return min(idle, key=lambda pair: pair[0])[1]
        return None
