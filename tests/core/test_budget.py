"""The budget rule that the job engine and ``batch --dry-run`` share."""

from __future__ import annotations

import pytest

from blog_images_tui.budget import Budget, BudgetRefused
from blog_images_tui.errors import BadInput


def test_reservations_count_until_settled_and_only_what_was_paid_is_spent():
    budget = Budget(1.0)
    budget.reserve("a", 0.4)
    budget.reserve("b", 0.4)
    assert budget.committed_usd == pytest.approx(0.8)
    assert not budget.fits(0.4)  # the two running jobs hold 0.8 of the 1.0
    with pytest.raises(BudgetRefused, match="0.8"):
        budget.reserve("c", 0.4)
    budget.settle("a", paid=False)  # refused by the API: nothing spent, its share is free again
    assert budget.fits(0.4) and budget.spent_usd == 0
    budget.settle("b", paid=True, actual_usd=0.25)  # the actual cost wins over the estimate
    assert budget.spent_usd == pytest.approx(0.25) and budget.committed_usd == pytest.approx(0.25)


def test_a_paid_job_without_an_actual_cost_counts_its_reservation_then_its_estimate():
    budget = Budget(10.0)
    budget.reserve("a", 2.0)
    budget.settle("a", paid=True, estimated_usd=3.0)
    assert budget.spent_usd == pytest.approx(2.0)
    budget.settle("never-reserved", paid=True, estimated_usd=3.0)
    assert budget.spent_usd == pytest.approx(5.0)


def test_an_unknown_cost_never_fits_a_limit_and_anything_fits_no_limit():
    limited = Budget(5.0)
    assert not limited.fits(None)
    with pytest.raises(BudgetRefused, match="cost of gpt-image-x images is unknown"):
        limited.reserve("a", None, model="gpt-image-x")
    unlimited = Budget(None)
    assert unlimited.fits(None) and unlimited.fits(1e9)
    unlimited.reserve("a", 1e9)
    assert unlimited.committed_usd == 0  # nothing to hold back; spending is counted when settled
    unlimited.settle("a", paid=True, estimated_usd=1.5)
    assert unlimited.spent_usd == pytest.approx(1.5)


def test_a_cost_that_fills_the_budget_to_the_cent_fits():
    budget = Budget(0.3)
    budget.reserve("a", 0.1)
    budget.reserve("b", 0.2)  # 0.1 + 0.2 is 0.30000000000000004 in floats
    assert budget.committed_usd == pytest.approx(0.3)


def test_a_negative_budget_is_bad_input():
    with pytest.raises(BadInput, match="must not be negative"):
        Budget(-1)
