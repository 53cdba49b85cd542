"""Reading YAML that may be hostile: every malformed file is one PolicyError, found quickly.

PyYAML's safe loader still lets a small file cost a lot, or fail with exceptions that are not
YAMLError: an alias expanded exponentially ("billion laughs": 561 bytes, a minute and 240 MiB),
a recursive alias or deep nesting (RecursionError), an integer of thousands of digits (Python's
int-to-str limit raises ValueError), a merge key `<<`, a tag it has no constructor for
(`!!python/...`, `!!binary` too), a list or a mapping used as a key (TypeError). Here:

- the events are scanned first, without building anything: nesting depth, recursive aliases and
  the size every alias expands to are bounded there;
- then documents are composed and turned into plain data with the YAML 1.1 core types only,
  merge keys and other tags refused, keys plain scalars, integers within 64 bits, strings that
  are Unicode text (no lone surrogate, which no JSON writer can encode);
- anything else the YAML library raises becomes a PolicyError too.

Policy files are read with `POLICY_LIMITS`. Manifests (`placement-webhook mutate`, `preview`)
are read with `MANIFEST_LIMITS`: any size, and no document may expand through its aliases to
more values than its file has bytes (an honest manifest has fewer values than bytes; a
657-byte alias bomb asks for billions).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from webhook.errors import Path as FieldPath
from webhook.errors import PolicyError

# A ConfigMap, where the policies live in a cluster, holds at most 1 MiB in all.
MAX_FILE_BYTES = 1024 * 1024
MAX_DEPTH = 64  # a policy is about 10 levels deep
MAX_VALUES = 100_000  # values of one document once every alias is expanded
MAX_INT_CHARACTERS = 100  # an int64 in any YAML 1.1 notation is far shorter
INT64 = (-(2**63), 2**63 - 1)

_CORE = "tag:yaml.org,2002:"
_ALLOWED_TAGS = {
    f"{_CORE}{name}" for name in ("str", "int", "float", "bool", "null", "timestamp", "seq", "map")
}
_MERGE = f"{_CORE}merge"


@dataclass(frozen=True)
class Limits:
    max_bytes: int | None = MAX_FILE_BYTES  # None: any size
    max_depth: int = MAX_DEPTH
    max_values: int | None = MAX_VALUES  # None: no more values than the file has bytes
    loader: Any = yaml.SafeLoader  # whose parser reads the events and composes the nodes


POLICY_LIMITS = Limits()
# Kubernetes objects (a CRD's schema included) nest far less than 128 levels; libyaml's parser
# (PyYAML's C binding, when built with it) reads the large lists `kubectl get -o yaml` prints.
MANIFEST_LIMITS = Limits(
    max_bytes=None,
    max_depth=128,
    max_values=None,
    loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader),
)


def read_capped(path: Path) -> bytes:
    """The file's bytes, but no more than one byte past the limit: a huge file is refused by
    `compose_documents` without being read whole, and its digest still changes with it."""
    with path.open("rb") as f:
        return f.read(MAX_FILE_BYTES + 1)


def compose_documents(
    filename: str, data: bytes, limits: Limits = POLICY_LIMITS
) -> list[yaml.Node | None]:
    """The documents of a file as YAML nodes; an empty document (a trailing `---`) is None."""
    if limits.max_bytes is not None and len(data) > limits.max_bytes:
        raise PolicyError(
            filename, None, None, (), f"the file is larger than {limits.max_bytes} bytes (1 MiB)"
        )
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise PolicyError(filename, None, None, (), f"not UTF-8 text: {exc}") from None
    _scan_events(filename, text, _bounded(limits, len(data)))
    documents: list[yaml.Node | None] = []
    try:
        # Composed one at a time, so a syntax error names the document it is in.
        for node in yaml.compose_all(text, Loader=limits.loader):
            empty = isinstance(node, yaml.ScalarNode) and node.tag == f"{_CORE}null"
            documents.append(None if empty else node)
    except yaml.YAMLError as exc:
        raise _yaml_error(filename, len(documents) + 1, exc) from None
    except Exception as exc:  # the library's own failure: still one line, never a traceback
        raise _unexpected(filename, len(documents) + 1, None, exc) from None
    return documents


def to_python(filename: str, index: int, node: yaml.Node, limits: Limits = POLICY_LIMITS) -> Any:
    """Plain data from a composed document. Aliases are expanded (`_scan_events` bounded what
    that costs); duplicate keys are errors (YAML silently keeps one)."""
    reader = _Reader(filename, index, limits.max_depth)
    try:
        return reader.value(node, 0)
    except PolicyError:
        raise
    except yaml.YAMLError as exc:
        raise _yaml_error(filename, index, exc) from None
    except Exception as exc:  # the library's own failure: still one line, never a traceback
        raise _unexpected(filename, index, node.start_mark.line + 1, exc) from None


def _bounded(limits: Limits, size: int) -> Limits:
    """The limits with the file's own size as the bound on values, where none is set."""
    if limits.max_values is not None:
        return limits
    return Limits(limits.max_bytes, limits.max_depth, max(size, MAX_VALUES), limits.loader)


class _Reader:
    def __init__(self, filename: str, index: int, max_depth: int = MAX_DEPTH) -> None:
        self.filename, self.index, self.max_depth = filename, index, max_depth
        self.constructor = yaml.constructor.SafeConstructor()

    def refuse(self, node: yaml.Node, path: FieldPath, message: str) -> PolicyError:
        return PolicyError(self.filename, self.index, node.start_mark.line + 1, path, message)

    def value(self, node: yaml.Node, depth: int, path: FieldPath = ()) -> Any:
        if depth > self.max_depth:  # _scan_events checked it already; kept for direct callers
            raise self.refuse(node, path, f"nested more than {self.max_depth} levels deep")
        if node.tag == _MERGE:
            raise self.refuse(
                node, path, "YAML merge keys (<<) are not supported: write the keys out"
            )
        if node.tag not in _ALLOWED_TAGS:
            raise self.refuse(
                node,
                path,
                f"unsupported YAML tag {node.tag!r}: only plain strings, numbers, booleans, "
                "null, lists and mappings",
            )
        if isinstance(node, yaml.MappingNode) and node.tag == f"{_CORE}map":
            return self.mapping(node, depth, path)
        if isinstance(node, yaml.SequenceNode) and node.tag == f"{_CORE}seq":
            return [self.value(item, depth + 1, (*path, i)) for i, item in enumerate(node.value)]
        if isinstance(node, yaml.ScalarNode) and node.tag not in (f"{_CORE}map", f"{_CORE}seq"):
            return self.scalar(node, path)
        raise self.refuse(node, path, f"the tag {node.tag!r} does not fit this value")

    def mapping(self, node: yaml.MappingNode, depth: int, path: FieldPath) -> dict[Any, Any]:
        out: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            if not isinstance(key_node, yaml.ScalarNode):
                raise self.refuse(
                    key_node, path, "a mapping key must be a plain value, not a list or a mapping"
                )
            key = self.value(key_node, depth + 1, path)
            where = (*path, str(key))
            if key in out:
                raise self.refuse(key_node, where, "duplicate key")
            out[key] = self.value(value_node, depth + 1, where)
        return out

    def scalar(self, node: yaml.Node, path: FieldPath) -> Any:
        if node.tag == f"{_CORE}int" and len(node.value) > MAX_INT_CHARACTERS:
            raise self.refuse(
                node, path, f"an integer of more than {MAX_INT_CHARACTERS} characters"
            )
        value = self.constructor.construct_object(node)
        is_int = isinstance(value, int) and not isinstance(value, bool)
        if is_int and not INT64[0] <= value <= INT64[1]:
            raise self.refuse(node, path, "an integer beyond 64 bits")
        if isinstance(value, str):
            return self.text(node, path, value)
        return value

    def text(self, node: yaml.Node, path: FieldPath, value: str) -> str:
        # YAML escapes such as "\ud83d\ude00" (what ASCII-escaping JSON writers emit) reach
        # Python as surrogate code points: pairs become their character; a lone one is not
        # text at all, and no JSON encoder will write it.
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            try:
                return value.encode("utf-16", "surrogatepass").decode("utf-16")
            except UnicodeDecodeError:
                raise self.refuse(
                    node, path, "a lone surrogate escape (such as \\ud83d) is not text"
                ) from None
        return value


def _scan_events(filename: str, text: str, limits: Limits) -> None:
    """Bound depth and alias expansion before anything is built. Each anchor's expanded size is
    counted once, so an exponential alias chain is refused after a few events."""
    scan = _Scan(filename, limits)
    try:
        for event in yaml.parse(text, Loader=limits.loader):
            scan.event(event)
    except PolicyError:
        raise
    except yaml.YAMLError as exc:
        raise _yaml_error(filename, max(scan.document, 1), exc) from None
    except Exception as exc:  # the library's own failure: still one line, never a traceback
        raise _unexpected(filename, max(scan.document, 1), None, exc) from None


class _Scan:
    def __init__(self, filename: str, limits: Limits) -> None:
        self.filename = filename
        self.max_depth = limits.max_depth
        self.max_values = limits.max_values or MAX_VALUES
        self.document = 0
        self.open: list[list[Any]] = []  # [anchor, values so far] of each open collection
        self.sizes: dict[str, int] = {}  # anchor -> values it expands to

    def event(self, event: yaml.Event) -> None:
        if isinstance(event, yaml.DocumentStartEvent):
            self.document += 1
            self.sizes = {}
        elif isinstance(event, yaml.AliasEvent):
            if any(anchor == event.anchor for anchor, _ in self.open):
                raise self.refuse(event, f"the alias *{event.anchor} refers to itself")
            self.add(event, self.sizes.get(str(event.anchor), 1))
        elif isinstance(event, yaml.ScalarEvent):
            if event.anchor is not None:
                self.sizes[event.anchor] = 1
            self.add(event, 1)
        elif isinstance(event, yaml.CollectionStartEvent):
            if len(self.open) >= self.max_depth:
                raise self.refuse(event, f"nested more than {self.max_depth} levels deep")
            self.open.append([event.anchor, 1])
        elif isinstance(event, yaml.CollectionEndEvent):
            anchor, size = self.open.pop()
            if anchor is not None:
                self.sizes[anchor] = size
            self.add(event, size)

    def add(self, event: yaml.Event, size: int) -> None:
        if self.open:
            self.open[-1][1] += size
            size = self.open[-1][1]
        if size > self.max_values:
            raise self.refuse(
                event,
                f"the document expands to more than {self.max_values} values (through aliases)",
            )

    def refuse(self, event: yaml.Event, message: str) -> PolicyError:
        line = event.start_mark.line + 1 if event.start_mark is not None else None
        return PolicyError(self.filename, max(self.document, 1), line, (), message)


def _yaml_error(filename: str, document: int, exc: yaml.YAMLError) -> PolicyError:
    mark = getattr(exc, "problem_mark", None)
    line = mark.line + 1 if mark is not None else None
    problem = getattr(exc, "problem", None) or str(exc)
    return PolicyError(filename, document, line, (), f"invalid YAML: {problem}")


def _unexpected(filename: str, document: int, line: int | None, exc: Exception) -> PolicyError:
    text = str(exc).splitlines()[0] if str(exc) else ""
    return PolicyError(
        filename, document, line, (), f"unreadable YAML ({type(exc).__name__}: {text[:200]})"
    )
