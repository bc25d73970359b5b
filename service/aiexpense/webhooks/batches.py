"""Batches: the items of a batched notification (LINE events, Meta entries and messages)
run one by one, so one malformed item never costs the others their expense.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

from starlette.responses import Response

from .refusals import Malformed, Refusal, ok

log = logging.getLogger("aiexpense.webhooks")


class Batch:
    """Runs the items of a batched notification (LINE events, Meta entries and messages)
    one by one, so a malformed item never costs the others their expense.

    A service failure still propagates (503: the platform redelivers the whole batch, and
    the items already recorded are idempotent). :meth:`answer` is ``{"ok": true}`` when
    every item was usable; when some were not, 200 naming the first fault (the others
    were handled) and counted as an error; when none was usable, the fault itself.
    """

    def __init__(self, platform: str) -> None:
        self.platform = platform
        self.handled = 0
        self.faults: list[Malformed] = []

    def items(self, value: Any, where: str) -> Iterator[dict[str, Any]]:
        """The objects of the array ``value`` (entries, changes, events...). An array that
        is not one, or an item that is not an object, is a fault of its own: the others
        are still yielded. None or absent (a level the platform may omit) yields nothing."""
        if value is None:
            return
        if not isinstance(value, list):
            self._fault(Malformed(where, f"{where} must be an array of objects"))
            return
        for item in value:
            if isinstance(item, dict):
                yield item
            else:
                self._fault(Malformed(where, f"{where} must be an array of objects"))

    async def run(self, step: Callable[..., Awaitable[Any]], *args: Any) -> None:
        try:
            await step(*args)
        except Malformed as exc:
            self._fault(exc)
        else:
            self.handled += 1

    def _fault(self, exc: Malformed) -> None:
        log.warning("%s webhook: skipped a malformed item: %s", self.platform, exc.message)
        self.faults.append(exc)

    def answer(self) -> Response:
        if not self.faults:
            return ok()
        first = self.faults[0]
        if not self.handled:
            raise first
        message = f"{len(self.faults)} item(s) skipped, the rest handled: {first.message}"
        raise Refusal(200, first.field, message)
