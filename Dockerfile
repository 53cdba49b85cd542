# pod-placement-webhook: `docker build -t pod-placement-webhook:0.1.0 .` (or `make image`).
# Two stages: the first installs the pinned, hash-checked dependencies of requirements.lock and
# then the package into a virtual environment; the second is the same slim Python with only
# that environment, no pip, no compiler. Nothing is fetched but the base image and the wheels
# of requirements.lock, so a build works behind a registry mirror and a PyPI mirror alone.

ARG PYTHON_IMAGE=python:3.11.13-slim-bookworm

FROM ${PYTHON_IMAGE} AS build
WORKDIR /src
# Dependencies first, in a layer of their own: rebuilt only when requirements.lock changes.
# Binary wheels only: the slim image has no compiler, and a source build would not be pinned.
COPY requirements.lock ./
RUN python -m venv /opt/venv \
 && /opt/venv/bin/pip install --no-cache-dir --require-hashes --only-binary=:all: \
      --requirement requirements.lock
# The policies are packaged as webhook/defaults, a symlink to ../policies. Built with the
# pinned setuptools already in the environment; --no-index: nothing more is downloaded.
COPY pyproject.toml README.md ./
COPY policies ./policies
COPY webhook ./webhook
RUN /opt/venv/bin/pip install --no-cache-dir --no-index --no-deps --no-build-isolation . \
 && /opt/venv/bin/pip check \
 && /opt/venv/bin/pip uninstall --yes pip setuptools wheel

FROM ${PYTHON_IMAGE}
# webhook/__init__.py's __version__ (image/build.sh passes it).
ARG VERSION=unknown
LABEL org.opencontainers.image.title="pod-placement-webhook" \
      org.opencontainers.image.description="Kubernetes mutating admission webhook that places pods by policy" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.version="${VERSION}"
RUN python -m pip uninstall --yes --root-user-action=ignore pip setuptools wheel
COPY --from=build /opt/venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1
# Numeric, so kubelet can check runAsNonRoot without reading /etc/passwd.
USER 65532:65532
# 10250: the port control planes with restricted node access can reach (docs/install.md).
EXPOSE 10250 8080
ENTRYPOINT ["placement-webhook"]
# The paths deploy/ mounts: the policy ConfigMap and the TLS Secret, as directories.
CMD ["serve", \
     "--policies=/etc/pod-placement-webhook/policies", \
     "--cert-file=/etc/pod-placement-webhook/tls/tls.crt", \
     "--key-file=/etc/pod-placement-webhook/tls/tls.key"]
