"""pod-placement-webhook: a Kubernetes mutating admission webhook that places ML pods on the
right node pools from declarative policies."""

# The one place the version is written: the package metadata (pyproject.toml reads it),
# `placement-webhook --version`, /readyz and placement_webhook_build_info all come from here.
# `make release VERSION=x.y.z` sets it.
__version__ = "0.1.0"
