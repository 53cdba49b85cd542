# syntax=docker/dockerfile:1
# pod-placement-webhook: `docker build -t pod-placement-webhook:0.1.0 .`
# Two stages: the first builds wheels and installs them into a virtual environment; the
# second is the same slim Python with only that environment, no pip, no compiler.

ARG PYTHON_IMAGE=python:3.11.13-slim-bookworm

FROM ${PYTHON_IMAGE} AS build
WORKDIR /src
# The policies are packaged as webhook/defaults, a symlink to ../policies.
COPY pyproject.toml README.md ./
COPY policies ./policies
COPY webhook ./webhook
RUN pip wheel --no-cache-dir --wheel-dir /wheels . \
 && python -m venv /opt/venv \
 && /opt/venv/bin/pip install --no-cache-dir --no-index --find-links /wheels pod-placement-webhook \
 && /opt/venv/bin/pip uninstall --yes pip setuptools

FROM ${PYTHON_IMAGE}
LABEL org.opencontainers.image.title="pod-placement-webhook" \
      org.opencontainers.image.description="Kubernetes mutating admission webhook that places pods by policy" \
      org.opencontainers.image.licenses="Apache-2.0"
RUN python -m pip uninstall --yes --root-user-action=ignore pip setuptools wheel
COPY --from=build /opt/venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1
# Numeric, so kubelet can check runAsNonRoot without reading /etc/passwd.
USER 65532:65532
EXPOSE 8443 8080
ENTRYPOINT ["placement-webhook"]
# The paths deploy/ mounts: the policy ConfigMap and the TLS Secret, as directories.
CMD ["serve", \
     "--policies=/etc/pod-placement-webhook/policies", \
     "--cert-file=/etc/pod-placement-webhook/tls/tls.crt", \
     "--key-file=/etc/pod-placement-webhook/tls/tls.key"]
