"""The policy set in force, and reloading it: a reload that fails keeps the last good set.

The store does not know what a compiled set is: the server gives it the function that compiles
one (the engine's), so this package stays below the engine.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Generic, TypeVar

from webhook.errors import PolicyError
from webhook.policy.load import PolicySet, digest_of, parse_policy_set, read_sources

log = logging.getLogger("webhook.policy")

Compiled = TypeVar("Compiled")


class PolicyStore(Generic[Compiled]):
    """`current` serves; `reload()` replaces it only with a set that loads and compiles."""

    def __init__(self, paths: Sequence[Path], compile: Callable[[PolicySet], Compiled]) -> None:
        self.paths = list(paths)
        self.compile = compile
        self.source: PolicySet = parse_policy_set(read_sources(self.paths))
        self.current: Compiled = compile(self.source)
        self.last_error: str | None = None
        self.reloads = {"success": 0, "failure": 0}  # read by the metrics at scrape time

    @property
    def digest(self) -> str:
        return self.source.digest

    def files_digest(self) -> str | None:
        """The digest of the files as they are now; None when they cannot be read (the
        reload reports why)."""
        try:
            return digest_of(read_sources(self.paths))
        except (OSError, PolicyError) as exc:
            log.debug("policy files not readable now: %s", exc)
            return None

    def reload(self) -> bool:
        try:
            fresh = parse_policy_set(read_sources(self.paths))
            compiled = self.compile(fresh)
        except PolicyError as exc:
            return self._refuse(str(exc))
        except OSError as exc:
            return self._refuse(f"cannot read policies: {exc}")
        except Exception as exc:
            # A bug in loading or compiling must not fail silently: it is a refused reload
            # like any other, counted and shown in /readyz (the alerts read both).
            log.exception("policy reload failed")
            return self._refuse(
                f"unexpected error loading policies: {type(exc).__name__}: {exc}"[:300]
            )
        changed = fresh.digest != self.source.digest
        self.source, self.current, self.last_error = fresh, compiled, None
        self.reloads["success"] += 1
        if changed:
            log.info("policies reloaded: %d policies, digest %s", len(fresh.policies), fresh.digest)
        return True

    def _refuse(self, reason: str) -> bool:
        self.last_error = reason
        self.reloads["failure"] += 1
        log.error("policy reload refused, keeping %s: %s", self.source.digest, reason)
        return False
