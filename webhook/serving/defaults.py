"""What `serve` uses when told nothing else; read by the server and by the command line (which
must not import the server to print its help)."""

HOST = "0.0.0.0"
# A port control planes with restricted node access can reach: GKE private clusters allow only
# 443 and 10250 from the control plane to nodes (cert-manager serves its webhook on 10250 too).
PORT = 10250
HEALTH_PORT = 8080
READ_TIMEOUT_SECONDS = 10.0  # longer than any `timeoutSeconds` the apiserver may use (max 30)
POLL_SECONDS = 2.0  # how often policy files and the certificate are looked at
