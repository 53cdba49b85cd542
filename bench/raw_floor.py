"""The raw ASGI floor: what Python serves over TLS with no framework and no work at all.

A ten-line ASGI application that reads the body and answers a fixed review, run by
`uvicorn.run` on the same stack as `placement-webhook serve`: uvloop, httptools, TLS 1.3 with
the development certificate. Nothing of the webhook is imported: the figure is the cost of
Python's TLS, HTTP parsing and ASGI alone, the least any Python webhook pays per request.

    python -m bench.raw_floor --port PORT --cert-file CERT --key-file KEY [--workers N]
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

import uvicorn

ANSWER = b'{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","response":{}}'
HEADERS = [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(ANSWER))]


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] != "http":
        return  # lifespan: nothing to start
    more = True
    while more:
        more = (await receive()).get("more_body", False)
    await send({"type": "http.response.start", "status": 200, "headers": HEADERS})
    await send({"type": "http.response.body", "body": ANSWER})


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.raw_floor")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--cert-file", required=True)
    parser.add_argument("--key-file", required=True)
    parser.add_argument("--workers", type=int, default=1)
    args = parser.parse_args(argv)
    uvicorn.run(
        "bench.raw_floor:app",
        workers=args.workers,
        host=args.host,
        port=args.port,
        ssl_certfile=args.cert_file,
        ssl_keyfile=args.key_file,
        loop="uvloop",
        http="httptools",
        lifespan="off",
        access_log=False,
        log_level="info",
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
