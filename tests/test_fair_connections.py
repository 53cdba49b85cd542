"""No client locks another out of a port by holding its connections (connection_table.py).

A source holds at most --max-connections-per-source; at the cap a newcomer gets in by closing
the connection that has waited longest for its client, else the longest idle one of the
source holding the most; a connection whose answer is being written is never closed. First,
the table on its own; then the real server over TLS, the flooder and the reviewer on distinct
loopback addresses (127.0.0.2, 127.0.0.3: every address of 127.0.0.0/8 is loopback on Linux).
Nothing here depends on timing: every step waits for the one before it.
"""

from __future__ import annotations

import http.client
import json
import socket
import ssl
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from tests.flooding import (
    closed_by_server,
    connect_from,
    memory_limit_bytes,
    open_files,
    stalled_handshakes,
    status_kib,
    wait_for,
)
from tests.reviews import SHIPPED, gpu_pod, review
from tests.servers import RunningServer, port_of, running_server
from webhook.serving.connection_table import ConnectionTable

FLOODER, REVIEWER, PROBER = "127.0.0.2", "127.0.0.3", "127.0.0.1"
BODY = json.dumps(review(gpu_pod())).encode()


# --- the table on its own -------------------------------------------------------------------


@dataclass(eq=False)
class Connection:
    source: str
    idle: float | None = None  # when it became idle; None: waiting or answering
    closed: bool = False

    def idle_since(self) -> float | None:
        return self.idle

    def close_for_room(self) -> None:
        self.closed = True


def table_of(cap: int, per_source: int, *connections: Connection) -> ConnectionTable:
    table = ConnectionTable(cap, per_source)
    for connection in connections:
        assert table.admit(connection) is None
    return table


def answering(table: ConnectionTable, *connections: Connection) -> None:
    """Their requests have arrived: they no longer wait for their clients."""
    for connection in connections:
        table.arrived(connection)


def test_a_source_at_its_limit_is_refused_and_another_source_is_not() -> None:
    table = table_of(10, 2, Connection("a"), Connection("a"))
    assert table.admit(Connection("a")) == "source_limit"
    assert table.admit(Connection("b")) is None
    assert (table.open, table.refused["source_limit"]) == (3, 1)


def test_at_the_cap_the_connection_waiting_longest_for_its_client_gives_way() -> None:
    oldest, newer, other = Connection("a"), Connection("a"), Connection("b")
    table = table_of(3, 3, oldest, newer, other)
    newcomer = Connection("c")
    assert table.admit(newcomer) is None
    assert [c.closed for c in (oldest, newer, other)] == [True, False, False]
    assert table.open == 3 and table.closed_for_room == {"waiting": 1, "idle": 0}


def test_a_new_request_puts_a_connection_at_the_end_of_the_waiting_line() -> None:
    first, second = Connection("a"), Connection("a")
    table = table_of(2, 2, first, second)
    answering(table, first)
    table.waits(first)  # its next request begins: it waits again, since now
    assert table.admit(Connection("b")) is None
    assert (first.closed, second.closed) == (False, True)


def test_with_nobody_waiting_the_longest_idle_connection_of_the_busiest_source_gives_way() -> None:
    busy = [Connection("a", idle=5.0), Connection("a", idle=1.0), Connection("a", idle=None)]
    quiet = Connection("b", idle=0.5)  # idle longer, but its source holds fewer
    table = table_of(4, 4, *busy, quiet)
    answering(table, *busy, quiet)
    assert table.admit(Connection("c")) is None
    assert [c.closed for c in (*busy, quiet)] == [False, True, False, False]
    assert table.closed_for_room == {"waiting": 0, "idle": 1}


def test_when_every_connection_is_answering_the_newcomer_is_refused() -> None:
    held = [Connection("a"), Connection("b")]
    table = table_of(2, 2, *held)
    answering(table, *held)
    assert table.admit(Connection("c")) == "full"
    assert not any(c.closed for c in held) and table.refused["full"] == 1


def test_a_connection_released_twice_is_counted_out_once_and_never_waits_again() -> None:
    gone, kept = Connection("a"), Connection("a")
    table = table_of(5, 5, gone, kept)
    table.release(gone)
    table.release(gone)
    table.waits(gone)  # a late event from a closed connection
    assert (table.open, list(table.waiting), list(table.by_source["a"])) == (1, [kept], [kept])


# --- the real server ------------------------------------------------------------------------


def review_from(server: RunningServer, source: str) -> int:
    """A review on a new connection from `source`: the status of its answer."""
    raw = connect_from(source, port_of(server))
    tls = server.ssl_context().wrap_socket(raw, server_hostname="localhost")
    connection = http.client.HTTPSConnection("localhost", port_of(server), timeout=30)
    connection.sock = tls
    try:
        connection.request("POST", "/mutate", BODY, {"Content-Type": "application/json"})
        answer = connection.getresponse()
        status = answer.status if json.loads(answer.read())["response"]["allowed"] else 0
    finally:
        connection.close()
    return status


def kept_alive_from(server: RunningServer, source: str) -> http.client.HTTPSConnection:
    """A connection that has had one review answered and stays open, idle."""
    raw = connect_from(source, port_of(server))
    connection = http.client.HTTPSConnection("localhost", port_of(server), timeout=30)
    connection.sock = server.ssl_context().wrap_socket(raw, server_hostname="localhost")
    connection.request("POST", "/mutate", BODY, {"Content-Type": "application/json"})
    assert connection.getresponse().read()
    return connection


def still_open(sockets: list[socket.socket]) -> int:
    """How many of `sockets` the server has not closed (looked at without waiting)."""
    count = 0
    for sock in sockets:
        sock.setblocking(False)
        try:
            count += bool(sock.recv(1, socket.MSG_PEEK))
        except BlockingIOError:
            count += 1
        except OSError:
            pass
    return count


def cut(connection: http.client.HTTPSConnection) -> bool:
    """Whether the server has closed a kept-alive connection: EOF, reset or a TLS error."""
    assert connection.sock is not None
    try:
        return bool(connection.sock.recv(1) == b"")
    except (ConnectionError, ssl.SSLError):
        return True


def metrics(server: RunningServer) -> list[str]:
    with urllib.request.urlopen(server.health_url + "/metrics", timeout=30) as scraped:
        return [line for line in scraped.read().decode().splitlines() if "connections" in line]


def series(lines: list[str], name: str, **labels: str) -> float:
    wanted = ",".join(f'{k}="{v}"' for k, v in labels.items())
    prefix = f"placement_webhook_{name}{{{wanted}}} "
    return sum(float(line.removeprefix(prefix)) for line in lines if line.startswith(prefix))


def test_one_source_flooding_past_the_cap_does_not_lock_a_second_one_out(tmp_path: Path) -> None:
    """The flooder may take the whole cap (its limit is the cap here) and keeps opening
    stalled handshakes, in rounds, far past it; between the rounds the second source opens a
    new connection for each review, which gets in by closing the flooder's oldest, and every
    review is answered."""
    cap, rounds, per_round = 40, 10, 30
    args = ["--max-connections", str(cap), "--max-connections-per-source", str(cap)]
    with running_server(tmp_path, [SHIPPED], args) as server:
        pid = server.process.pid
        idle_files = open_files(pid)
        flood, answers, held = [], [], []
        for _ in range(rounds):
            flood += stalled_handshakes(port_of(server), per_round, [FLOODER])
            answers.append(review_from(server, REVIEWER))
            held.append(open_files(pid) - idle_files)
        lines = metrics(server)
        peak = status_kib(pid, "VmHWM")
        # The others were refused at the address limit, or closed to make room.
        wait_for("the flooder held to the cap", lambda: still_open(flood) <= cap)
        for sock in flood:
            sock.close()
    closed = series(lines, "connections_closed_for_room_total", listener="webhook", state="waiting")
    refused = series(lines, "connections_refused_total", listener="webhook", reason="source_limit")
    print(
        f"\nFAIR {rounds * per_round} stalled handshakes from {FLOODER} past a cap of {cap}: "
        f"reviews from {REVIEWER} {answers.count(200)}/{rounds} answered, server sockets at most "
        f"{max(held)} over idle, {closed:.0f} closed to make room, {refused:.0f} refused at the "
        f"address limit, peak RSS {peak / 1024:.1f} MiB"
    )
    assert answers == [200] * rounds
    assert max(held) <= cap + 2  # the server's sockets: the cap, and the one being accepted
    assert peak * 1024 < memory_limit_bytes()
    assert closed == rounds - 1  # each review but the first, when the cap still had room
    assert series(lines, "connections_refused_total", listener="webhook", reason="full") == 0


def test_a_source_at_its_limit_is_refused_before_any_tls_work(tmp_path: Path) -> None:
    args = ["--max-connections", "40", "--max-connections-per-source", "20"]
    with running_server(tmp_path, [SHIPPED], args) as server:
        flood = stalled_handshakes(port_of(server), 30, [FLOODER])
        refused = [sock for sock in flood[20:] if closed_by_server(sock)]
        assert review_from(server, REVIEWER) == 200
        lines = metrics(server)
        log = server.log()
        for sock in flood:
            sock.close()
    assert len(refused) == 10
    assert series(lines, "connections_refused_total", listener="webhook", reason="source_limit")
    assert series(lines, "connections_open", listener="webhook") == 20
    assert f"webhook connection from {FLOODER} closed: {FLOODER} holds 20" in log


def test_at_a_cap_full_of_idle_connections_the_longest_idle_of_the_busiest_source_is_closed(
    tmp_path: Path,
) -> None:
    """Kept-alive connections that send nothing more (as a client that opened a pool and
    left it) are not waiting for anything: the newcomer takes the place of the one idle the
    longest, from the source that holds the most."""
    args = ["--max-connections", "6", "--max-connections-per-source", "6"]
    with running_server(tmp_path, [SHIPPED], args) as server:
        pool = [kept_alive_from(server, FLOODER) for _ in range(5)]
        other = kept_alive_from(server, PROBER)  # the cap is full, nobody waits
        assert review_from(server, REVIEWER) == 200
        assert cut(pool[0])
        for connection in [*pool[1:], other]:  # the others still serve
            connection.request("POST", "/mutate", BODY, {"Content-Type": "application/json"})
            assert connection.getresponse().status == 200
        lines = metrics(server)
        for connection in [*pool, other]:
            connection.close()
    assert series(lines, "connections_closed_for_room_total", listener="webhook", state="idle")


def health_port(server: RunningServer) -> int:
    return int(server.health_url.rsplit(":", 1)[1])


def probe(server: RunningServer, source: str) -> int:
    sock = connect_from(source, health_port(server))
    sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: probe\r\nConnection: close\r\n\r\n")
    answer = b""
    while chunk := sock.recv(4096):
        answer += chunk
    sock.close()
    return int(answer.split(b" ", 2)[1])


def test_a_flood_of_the_health_port_does_not_starve_the_probes(tmp_path: Path) -> None:
    """The health port holds 100 connections per worker, 20 per source: six flooders that
    connect and send nothing, fifty each, fill it, and a probe from kubelet's address still
    gets in."""
    flooders = [f"127.0.0.{i}" for i in range(2, 8)]
    with running_server(tmp_path, [SHIPPED]) as server:
        pid = server.process.pid
        idle_files = open_files(pid)
        flood = [connect_from(flooders[i // 50], health_port(server)) for i in range(300)]
        statuses = [probe(server, PROBER) for _ in range(20)]
        held = open_files(pid) - idle_files
        lines = metrics(server)
        for sock in flood:
            sock.close()
    refused = series(lines, "connections_refused_total", listener="health", reason="source_limit")
    closed = series(lines, "connections_closed_for_room_total", listener="health", state="waiting")
    print(
        f"\nHEALTH 300 silent connections from 6 addresses: probes {statuses.count(200)}/20 "
        f"answered, server sockets {held} over idle, {refused:.0f} refused at the address "
        f"limit, {closed:.0f} closed to make room"
    )
    assert statuses == [200] * 20
    assert held <= 100 + 2
    assert refused and closed


def test_a_websocket_upgrade_is_answered_as_http_and_counted_out(tmp_path: Path) -> None:
    """uvicorn would hand an upgraded connection to its WebSocket protocol, out of the port's
    count; the webhook serves no WebSocket and answers the request as plain HTTP."""
    with running_server(tmp_path, [SHIPPED]) as server:
        raw = socket.create_connection(("127.0.0.1", port_of(server)), timeout=30)
        tls = server.ssl_context().wrap_socket(raw, server_hostname="localhost")
        tls.sendall(
            b"GET /mutate HTTP/1.1\r\nHost: localhost\r\nConnection: Upgrade\r\n"
            b"Upgrade: websocket\r\nSec-WebSocket-Version: 13\r\n"
            b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n"
        )
        status = tls.recv(4096).split(b" ", 2)[1]
        tls.close()
        wait_for(
            "the connection counted out",
            lambda: series(metrics(server), "connections_open", listener="webhook") == 0,
        )
    assert status == b"405"
