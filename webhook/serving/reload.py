"""Watching the policy directory: a changed set is reloaded without a restart.

In a cluster the policies are a ConfigMap mounted as a directory; kubelet replaces its content
atomically (see `webhook.kube.mounts`) some tens of seconds after the ConfigMap changes. Polling a
digest of the files' content every couple of seconds sees that, and also plain edits on a
laptop, with no inotify quirks (events on symlink swaps differ between kernels and overlay
filesystems). An invalid new set is refused by `PolicyStore.reload`, which logs it and counts
it in `reload_failures`, and the last good set keeps serving; the same content is not retried
until it changes again.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from webhook.policy import PolicyStore
from webhook.serving.defaults import POLL_SECONDS

log = logging.getLogger("webhook.reload")


class PolicyWatcher:
    """Calls `store.reload()` once for each new content of the policy files."""

    def __init__(self, store: PolicyStore[Any], interval: float = POLL_SECONDS) -> None:
        self.store = store
        self.interval = interval
        self.seen = store.files_digest()

    def poll(self) -> bool | None:
        """True when a new set was loaded, False when it was refused, None when unchanged."""
        digest = self.store.files_digest()
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
