#!/usr/bin/env bash
# Builds the image from the Dockerfile: `make image IMAGE=<name:tag> [PYTHON_IMAGE=<base>]`.
# With buildah when it is installed (no daemon needed), else with docker.
#
# Where the host's pip is set up for a package index or a TLS-inspecting proxy of its own
# (`pip config`: index-url, extra-index-url, cert; or the PIP_* variables), the build's pip gets
# the same settings, as a pip.conf and CA bundle mounted into the build's RUN steps only (buildah).
# A machine that reaches pypi.org directly needs none of it, and the image keeps none of it.
set -euo pipefail

image=${IMAGE:?IMAGE=<name:tag> is required}
# The image says which version it holds (org.opencontainers.image.version), read from the one
# place it is written.
version=$(sed -n 's/^__version__ = "\(.*\)"$/\1/p' "$(dirname "$0")/../webhook/__init__.py")
build_args=(--tag "$image" --build-arg "VERSION=${version:?no __version__ in webhook/__init__.py}")
if [[ -n ${PYTHON_IMAGE:-} ]]; then
    build_args+=(--build-arg "PYTHON_IMAGE=$PYTHON_IMAGE")
fi

host_pip() {  # the host pip's setting $1 (env variable $2 first), empty when unset
    local value=${!2:-}
    if [[ -z $value ]]; then
        value=$(python3 -m pip config get "$1" 2>/dev/null || true)
    fi
    printf '%s' "$value"
}

# Only index URLs the build can reach: http(s), not a file:// path of the host.
reachable() { tr ' ' '\n' | grep -E '^https?://' | tr '\n' ' ' || true; }

pip_settings() {
    local conf=$1 cert index extra
    cert=$(host_pip global.cert PIP_CERT)
    index=$(host_pip global.index-url PIP_INDEX_URL | reachable)
    extra=$(host_pip global.extra-index-url PIP_EXTRA_INDEX_URL | reachable)
    echo "[global]" >"$conf"
    [[ -n $index ]] && echo "index-url = $index" >>"$conf"
    [[ -n $extra ]] && echo "extra-index-url = $extra" >>"$conf"
    if [[ -n $cert && -f $cert ]]; then
        echo "cert = /run/host-pip/ca.crt" >>"$conf"
        mounts+=(--volume "$cert:/run/host-pip/ca.crt:ro")
    fi
    if [[ $(wc -l <"$conf") -gt 1 ]]; then
        mounts+=(--volume "$conf:/etc/pip.conf:ro")
        echo "build pip settings from the host: $(tail -n +2 "$conf" | cut -d' ' -f1 | tr '\n' ' ')"
    fi
}

cd "$(dirname "$0")/.."
if command -v buildah >/dev/null; then
    mounts=()
    conf=$(mktemp)
    trap 'rm -f "$conf"' EXIT
    pip_settings "$conf"
    # --layers keeps every step's result: an unchanged requirements.lock reuses the
    # dependency layer, unchanged sources the whole image. chroot isolation needs no user
    # namespaces, which containers and CI machines often lack.
    buildah bud --isolation chroot --layers "${mounts[@]}" "${build_args[@]}" .
else
    docker build "${build_args[@]}" .
fi
