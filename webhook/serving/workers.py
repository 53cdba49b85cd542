"""`serve --workers N`: N processes answer on the same listening sockets.

One Python process uses one core; a webhook on the path of every pod creation should use the
cores its pod requests. The parent binds the webhook and health sockets, forks N workers that
each run the usual servers on the inherited sockets (the kernel hands each new connection to
one of them), forwards SIGTERM and SIGINT to them and waits until they have finished their
in-flight requests.

A worker that dies on its own stops the whole server with exit code 1: the kubelet then
restarts the container, instead of a pod serving at part capacity behind a health port that
the surviving workers still answer.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import socket
import sys
from dataclasses import dataclass, field
from types import FrameType

from webhook.policy import load_policy_set
from webhook.proof import compile_proven
from webhook.serving.serve import Listeners, ServeOptions, run

log = logging.getLogger("webhook.workers")

_STOP_SIGNALS = {signal.SIGTERM, signal.SIGINT}
BACKLOG = 2048  # uvicorn's default


def bind_socket(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(BACKLOG)
    return sock


def serve_workers(options: ServeOptions, workers: int) -> int:
    """Run `workers` worker processes until a stop signal; the exit code for the CLI."""
    # Checked once here so a bad policy set is one error line, not one per worker.
    compile_proven(load_policy_set(options.policies), options.proof_classes)
    listeners = Listeners(
        webhook=bind_socket(options.host, options.port),
        health=bind_socket(options.host, options.health_port) if options.health_port else None,
    )
    log.info("starting %d workers on https://%s:%d/mutate", workers, options.host, options.port)
    children = _Children()
    # Signals wait until every worker exists and has put back the default handlers.
    signal.pthread_sigmask(signal.SIG_BLOCK, _STOP_SIGNALS)
    try:
        for _ in range(workers):
            children.pids.add(_fork_worker(options, listeners))
        # The kernel accepts connections on a listening socket while any process holds it:
        # kept open here, it would queue new connections after SIGTERM, when the workers no
        # longer accept, instead of refusing them. The workers hold their own copies.
        listeners.webhook.close()
        if listeners.health is not None:
            listeners.health.close()
        for sig in _STOP_SIGNALS:
            signal.signal(sig, children.forward)
    finally:
        signal.pthread_sigmask(signal.SIG_UNBLOCK, _STOP_SIGNALS)
    code = children.wait()
    log.info("all workers stopped")
    return code


@dataclass
class _Children:
    """The worker processes, from the parent's side."""

    pids: set[int] = field(default_factory=set)
    stopping: bool = False

    def forward(self, signum: int, frame: FrameType | None = None) -> None:
        self.stopping = True
        for pid in self.pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signum)

    def wait(self) -> int:
        """Until every worker has exited; 1 when one died on its own or badly, else 0."""
        code = 0
        while self.pids:
            pid, status = os.wait()
            self.pids.discard(pid)
            exit_code = os.waitstatus_to_exitcode(status)
            if not self.stopping:
                log.error("worker %d exited with %d: stopping the server", pid, exit_code)
                code = 1
                self.forward(signal.SIGTERM)
            elif exit_code not in (0, -signal.SIGTERM, -signal.SIGINT):
                # Killed by the forwarded signal is a clean stop too: a worker still starting
                # has not put its graceful handlers in place yet, and has no request in flight.
                log.error("worker %d exited with %d", pid, exit_code)
                code = 1
        return code


def _fork_worker(options: ServeOptions, listeners: Listeners) -> int:
    pid = os.fork()
    if pid:
        return pid
    # The worker: default signal handling (the servers install their own), then serve.
    for sig in _STOP_SIGNALS:
        signal.signal(sig, signal.SIG_DFL)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, _STOP_SIGNALS)
    code = 0
    try:
        run(options, listeners)
    except SystemExit as exc:  # uvicorn's way of saying it could not start
        code = exc.code if isinstance(exc.code, int) else 1
    except BaseException:
        log.exception("worker failed")
        code = 1
    finally:
        logging.shutdown()
        sys.stdout.flush()
        # Leave without the parent's atexit handlers and buffers, which belong to the parent.
        os._exit(code)
