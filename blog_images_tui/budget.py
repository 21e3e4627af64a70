"""A spending limit in USD, shared by the job engine and ``batch --dry-run``.

A job *reserves* its estimated cost before it is sent, so that jobs running at
once cannot together go over the limit; when it ends the reservation is
*settled*: turned into spending if an image was (or may have been) paid for,
else released. :meth:`Budget.fits` answers "would this cost still fit?"
without reserving anything.
"""

from __future__ import annotations

from collections.abc import Hashable

from blog_images_tui.errors import BadInput
from blog_images_tui.pricing import format_usd

#: float sums of prices must not refuse a job that fits to the cent
_SLACK_USD = 1e-9


class BudgetRefused(BadInput):
    """A job was not started because its estimated cost would break the budget."""

    title = "Over budget"


class Budget:
    """``limit_usd`` None: no limit (everything fits, spending is still counted)."""

    def __init__(self, limit_usd: float | None = None) -> None:
        if limit_usd is not None and limit_usd < 0:
            raise BadInput("--budget must not be negative")
        self.limit_usd = limit_usd
        #: costs of images paid for (actual when known, else estimated)
        self.spent_usd = 0.0
        self._reserved: dict[Hashable, float] = {}

    @property
    def committed_usd(self) -> float:
        """Spent plus what running jobs have reserved (what a new cost is checked against)."""
        return self.spent_usd + sum(self._reserved.values())

    def fits(self, usd: float | None) -> bool:
        """True if a cost of ``usd`` (None: unknown) can be reserved now."""
        if self.limit_usd is None:
            return True
        return usd is not None and self.committed_usd + usd <= self.limit_usd + _SLACK_USD

    def reserve(self, key: Hashable, usd: float | None, *, model: str | None = None) -> None:
        """Hold ``usd`` for ``key`` until :meth:`settle`; BudgetRefused (nothing held) if it does not fit."""
        if self.limit_usd is None:
            return  # nothing to hold back: settle() counts the estimate if the job is paid for
        if usd is None:
            raise BudgetRefused(f"not started: the cost of {model} images is unknown, "
                                f"so the {format_usd(self.limit_usd)} budget cannot allow it")
        if not self.fits(usd):
            raise BudgetRefused(f"not started: it would cost ~{format_usd(usd)} and "
                                f"{format_usd(self.committed_usd)} of the {format_usd(self.limit_usd)} "
                                "budget is spent or committed")
        self._reserved[key] = usd

    def settle(self, key: Hashable, *, paid: bool, actual_usd: float | None = None,
               estimated_usd: float | None = None) -> None:
        """End ``key``'s reservation; if ``paid``, count the actual cost, else the reserved or estimated one."""
        reserved = self._reserved.pop(key, None)
        if not paid:
            return
        for usd in (actual_usd, reserved, estimated_usd):
            if usd is not None:
                self.spent_usd += usd
                return
