"""What the tools read: Kubernetes objects from YAML or JSON files, directories and standard
input, one at a time."""

from webhook.tools.inputs.documents import (
    DocumentError,
    Item,
    manifest_files,
    read_inputs,
    read_items,
    read_stream,
)

__all__ = ["DocumentError", "Item", "manifest_files", "read_inputs", "read_items", "read_stream"]
