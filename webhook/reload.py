"""Watching the policy directory: a changed set is reloaded without a restart.

In a cluster the policies are a ConfigMap mounted as a directory; kubelet replaces its content
atomically (see `webhook.mounts`) some tens of seconds after the ConfigMap changes. Polling a
digest of the files' content every couple of seconds sees that, and also plain edits on a
laptop, with no inotify quirks (events on symlink swaps differ between kernels and overlay
filesystems). An invalid new set is refused by `PolicyStore.reload`, which logs it and counts
it in `reload_failures`, and the last good set keeps serving; the same content is not retried
until it changes again.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

from webhook.errors import PolicyError
from webhook.mounts import digest_of, read_policy_sources

log = logging.getLogger("webhook.reload")

DEFAULT_POLL_SECONDS = 2.0


class Reloadable(Protocol):
    """What the watcher needs from the policy store (`webhook.server.PolicyStore`)."""

    paths: list[Path]

    def reload(self) -> bool: ...


def content_digest(paths: Sequence[Path]) -> str | None:
    """A digest of the policy files' names and bytes; None when they cannot be read now."""
    try:
        return digest_of(read_policy_sources(paths))
    except (OSError, PolicyError) as exc:
        # Missing or unreadable files are the store's to report when it reloads; here they
        # only mean "look again later".
        log.debug("policy files not readable now: %s", exc)
        return None


class PolicyWatcher:
    """Calls `store.reload()` once for each new content of the policy files."""

    def __init__(self, store: Reloadable, interval: float = DEFAULT_POLL_SECONDS) -> None:
        self.store = store
        self.interval = interval
        self.seen = content_digest(store.paths)

    def poll(self) -> bool | None:
        """True when a new set was loaded, False when it was refused, None when unchanged."""
        digest = content_digest(self.store.paths)
        if digest is None or digest == self.seen:
            return None
        ok = self.store.reload()
        # Remember the content even when refused: a bad set is reported once, not every poll.
        self.seen = digest
        return ok

    async def run(self) -> None:
        """Poll until cancelled. Reading and compiling run in a worker thread so a large set
        never stalls the requests being served; the store swaps its set in one assignment."""
        while True:
            await asyncio.sleep(self.interval)
            try:
                await asyncio.to_thread(self.poll)
            except Exception:
                # A bug in one poll must not end the watch: the set would freeze silently
                # until a restart. Logged with its traceback; the next poll tries again.
                log.exception("policy watch failed, retrying at the next poll")
