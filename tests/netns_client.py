"""One HTTP or HTTPS request, for a test to run under `nsenter --net` inside a container's network
namespace (the container has no network of its own to publish a port on).

    python netns_client.py URL [--connect 127.0.0.1] [--cacert CA] [--data FILE]

Connects to --connect, but verifies the certificate for URL's host name and sends it as SNI
and Host, as kube-apiserver does for https://<service>.<namespace>.svc. Prints one JSON object:
status, body and the server certificate (DER, base64). Standard library only.
"""

from __future__ import annotations

import argparse
import base64
import http.client
import json
import socket
import ssl
import sys
from pathlib import Path
from urllib.parse import urlsplit


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("url")
    parser.add_argument("--connect", default="127.0.0.1")
    parser.add_argument("--cacert", type=Path)
    parser.add_argument("--data", type=Path)
    args = parser.parse_args()
    url = urlsplit(args.url)
    host, port = url.hostname or "", url.port or (443 if url.scheme == "https" else 80)
    sock = socket.create_connection((args.connect, port), timeout=10)
    certificate = None
    if url.scheme == "https":
        context = ssl.create_default_context(cafile=args.cacert)
        tls = context.wrap_socket(sock, server_hostname=host)
        certificate = base64.b64encode(tls.getpeercert(binary_form=True) or b"").decode()
        sock = tls
    connection = http.client.HTTPConnection(host, port, timeout=10)
    connection.sock = sock
    body = args.data.read_bytes() if args.data else None
    headers = {"Content-Type": "application/json"} if body else {}
    path = url.path + (f"?{url.query}" if url.query else "")
    connection.request("POST" if body else "GET", path, body, headers)
    response = connection.getresponse()
    answer = {
        "status": response.status,
        "body": response.read().decode(),
        "certificate": certificate,
    }
    json.dump(answer, sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main())
