"""Label selectors as kube-scheduler parses and matches them, ported from apimachinery.

- `new_requirement` is `labels.NewRequirement` (staging/src/k8s.io/apimachinery/pkg/labels/
  selector.go): the key must be a qualified name, every value a label value; In and NotIn need
  values, Exists and DoesNotExist none, Gt and Lt exactly one that `strconv.ParseInt(v, 10, 64)`
  accepts. A requirement that breaks a rule is a `SelectorError`, never a requirement.
- `Requirement.matches` is `Requirement.Matches`: NotIn and DoesNotExist hold on a missing key;
  Gt and Lt compare the label as an int64 and fail when it is not one.
- `label_selector` is `metav1.LabelSelectorAsSelector` (apimachinery/pkg/apis/meta/v1/
  helpers.go): a nil selector selects nothing, an empty one everything.
- `selector_from_set` is `labels.SelectorFromSet`, which does not validate (a nodeSelector).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

# apimachinery/pkg/util/validation/validation.go: qualifiedNameFmt, dns1123SubdomainFmt and
# labelValueFmt, each matched on the whole string.
_NAME = re.compile(r"([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]")
_SUBDOMAIN = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*")
_LABEL_VALUE = re.compile(r"(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?")
# strconv.ParseInt(s, 10, 64): an optional sign and decimal digits, nothing else (no spaces,
# no underscores: those are for base 0 only).
_GO_INT = re.compile(r"[+-]?[0-9]+")
_INT64 = range(-(2**63), 2**63)

SET_OPERATORS = ("In", "NotIn", "Exists", "DoesNotExist")
NODE_OPERATORS = (*SET_OPERATORS, "Gt", "Lt")


class SelectorError(ValueError):
    """A selector kube-scheduler cannot parse; the message is apimachinery's reason."""


def go_int64(text: str) -> int | None:
    """`strconv.ParseInt(text, 10, 64)`, or None where Go returns an error."""
    if not _GO_INT.fullmatch(text):
        return None
    value = int(text)
    return value if value in _INT64 else None


def is_qualified_name(key: str) -> bool:
    """`validation.IsQualifiedName` (= `IsLabelKey`): [prefix/]name."""
    prefix, slash, name = key.rpartition("/")
    if slash and (not prefix or len(prefix) > 253 or not _SUBDOMAIN.fullmatch(prefix)):
        return False
    return 0 < len(name) <= 63 and _NAME.fullmatch(name) is not None


def is_label_value(value: str) -> bool:
    return len(value) <= 63 and _LABEL_VALUE.fullmatch(value) is not None


@dataclass(frozen=True)
class Requirement:
    key: str
    operator: str  # In, NotIn, Exists, DoesNotExist, Gt, Lt (Equals is In with one value)
    values: tuple[str, ...] = ()

    def matches(self, labels: Mapping[str, str]) -> bool:
        present = self.key in labels
        if self.operator == "In":
            return present and labels[self.key] in self.values
        if self.operator == "NotIn":
            return not present or labels[self.key] not in self.values
        if self.operator == "Exists":
            return present
        if self.operator == "DoesNotExist":
            return not present
        # Gt and Lt: the label must parse as an int64 too, or the requirement fails.
        have = go_int64(labels[self.key]) if present else None
        bound = go_int64(self.values[0]) if len(self.values) == 1 else None
        if have is None or bound is None:
            return False
        return have > bound if self.operator == "Gt" else have < bound


def new_requirement(key: str, operator: str, values: Iterable[Any] = ()) -> Requirement:
    """`labels.NewRequirement` for a node or label selector operator; SelectorError if the
    scheduler would refuse it."""
    values = tuple(values)
    problems = []
    if not isinstance(key, str) or not is_qualified_name(key):
        problems.append(f"key {key!r}: not a qualified name")
    if operator in ("In", "NotIn") and not values:
        problems.append("for 'in', 'notin' operators, values set can't be empty")
    elif operator in ("Exists", "DoesNotExist") and values:
        problems.append("values set must be empty for exists and does not exist")
    elif operator in ("Gt", "Lt") and (
        len(values) != 1 or not isinstance(values[0], str) or go_int64(values[0]) is None
    ):
        problems.append("for 'Gt', 'Lt' operators, exactly one integer value is required")
    elif operator not in NODE_OPERATORS:
        problems.append(f"operator {operator!r}: not supported")
    problems += [
        f"value {v!r}: not a label value"
        for v in values
        if not isinstance(v, str) or not is_label_value(v)
    ]
    if problems:
        raise SelectorError("; ".join(problems))
    return Requirement(key, operator, values)


@dataclass(frozen=True)
class Selector:
    """ANDed requirements; `requirements=None` is `labels.Nothing()`, `()` is Everything."""

    requirements: tuple[Requirement, ...] | None

    @property
    def empty(self) -> bool:
        """`Selector.Empty()`: true for Everything only (Nothing is not empty)."""
        return self.requirements == ()

    def matches(self, labels: Mapping[str, str]) -> bool:
        if self.requirements is None:
            return False
        return all(r.matches(labels) for r in self.requirements)

    def merged(self, extra: Mapping[str, str]) -> Selector:
        """`mergeLabelSetWithSelector` (podtopologyspread/common.go): the set's pairs ANDed."""
        pairs = tuple(Requirement(k, "In", (v,)) for k, v in sorted(extra.items()))
        return Selector(pairs + (self.requirements or ()))


NOTHING = Selector(None)
EVERYTHING = Selector(())


def label_selector(doc: Mapping[str, Any] | None) -> Selector:
    """`metav1.LabelSelectorAsSelector`: nil selects nothing, `{}` everything; a label
    selector has no Gt or Lt. SelectorError for what the scheduler cannot parse."""
    if doc is None:
        return NOTHING
    match_labels = doc.get("matchLabels") or {}
    expressions = doc.get("matchExpressions") or []
    requirements = [new_requirement(k, "In", [v]) for k, v in match_labels.items()]
    for expression in expressions:
        operator = expression.get("operator")
        if operator not in SET_OPERATORS:
            raise SelectorError(f"{operator!r} is not a valid label selector operator")
        requirements.append(
            new_requirement(expression.get("key"), operator, expression.get("values") or [])
        )
    return Selector(tuple(requirements))


def selector_from_set(pairs: Mapping[str, str]) -> Selector:
    """`labels.SelectorFromSet`: the exact pairs, not validated; empty selects everything."""
    return Selector(tuple(Requirement(k, "In", (v,)) for k, v in pairs.items()))
