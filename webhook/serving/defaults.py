"""What `serve` uses when told nothing else; read by the server and by the command line (which
must not import the server to print its help)."""

HOST = "0.0.0.0"
# A port control planes with restricted node access can reach: GKE private clusters allow only
# 443 and 10250 from the control plane to nodes (cert-manager serves its webhook on 10250 too).
PORT = 10250
HEALTH_PORT = 8080
READ_TIMEOUT_SECONDS = 10.0  # longer than any `timeoutSeconds` the apiserver may use (max 30)
POLL_SECONDS = 2.0  # how often policy files and the certificate are looked at
# What one connection to the webhook port may cost (webhook/serving/connections.py).
HANDSHAKE_TIMEOUT_SECONDS = 10.0  # a real client needs milliseconds; the loop's default is 60
WRITE_TIMEOUT_SECONDS = 10.0  # a client that reads none of a waiting answer is cut after it
# Each open connection costs at most ~60 KiB (measured: docs/reliability.md); 1,000 of them
# stay well inside the Deployment's 256 MiB with the server's own ~70 MiB. The apiserver keeps
# a few kept-alive connections per replica and instance, and opens more in a burst: its
# mutating requests in flight are bounded by --max-mutating-requests-inflight (200 by default)
# per instance. One source may hold half the cap, so that no single client can fill it.
MAX_CONNECTIONS = 1000
# Pod classes the placement proof tries when a set is loaded (and in policy tests): a set of a
# thousand policies derives more than ten thousand, each a run of the whole set, and the
# replica is not ready until its set is loaded. `check` tries every class.
PROOF_CLASSES = 3000
MAX_CONNECTIONS_PER_SOURCE = 500
# The health port (probes, /metrics) serves a few clients: kubelet opens a connection per
# probe, Prometheus keeps one per scraper.
HEALTH_MAX_CONNECTIONS = 100
HEALTH_MAX_CONNECTIONS_PER_SOURCE = 20
