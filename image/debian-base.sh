#!/usr/bin/env bash
# Builds a stand-in for python:3.11-slim-bookworm from Debian packages alone, for machines that
# reach Debian's archive and PyPI but no container registry. `make image-debian` builds the
# Dockerfile on it, unchanged but for --build-arg PYTHON_IMAGE. Needs root, mmdebstrap, podman.
#
# What the Dockerfile relies on is made as in the official image: `python`, `python3` and `pip`
# in /usr/local/bin, pip and setuptools installed by pip (so the final stage can uninstall
# them), no EXTERNALLY-MANAGED marker (Debian's PEP 668 marker makes that uninstall fail),
# LANG=C.UTF-8. What differs: Debian's Python 3.11.2 in /usr/bin instead of a 3.11.x built in
# /usr/local. pip and setuptools come from Debian's own wheels: no index is needed here.
set -euo pipefail

tag=${1:?usage: image/debian-base.sh TAG}
if podman image exists "$tag"; then
    echo "$tag: already built"
    exit 0
fi

wheels=/usr/share/python-wheels
rootfs=$(mktemp --suffix=.tar)
trap 'rm -f "$rootfs"' EXIT
mmdebstrap --mode=root --variant=minbase \
    --include=ca-certificates,netbase,tzdata,python3.11,python3.11-venv \
    --dpkgopt='path-exclude=/usr/share/doc/*' \
    --dpkgopt='path-include=/usr/share/doc/*/copyright' \
    --dpkgopt='path-exclude=/usr/share/man/*' \
    --dpkgopt='path-exclude=/usr/share/locale/*' \
    --customize-hook='rm -f "$1/usr/lib/python3.11/EXTERNALLY-MANAGED"' \
    --customize-hook="chroot \"\$1\" sh -c 'pip=\$(echo $wheels/pip-*.whl) && python3.11 \$pip/pip install --quiet --no-index --no-cache-dir \$pip $wheels/setuptools-*.whl'" \
    --customize-hook='ln -sf /usr/bin/python3.11 "$1/usr/local/bin/python3" && ln -sf python3 "$1/usr/local/bin/python"' \
    bookworm "$rootfs"
podman import \
    --change 'ENV PATH=/usr/local/bin:/usr/local/sbin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change 'ENV LANG=C.UTF-8' \
    --change 'CMD ["python3"]' \
    "$rootfs" "$tag"
