"""Every per-process cache draws on one byte budget, ``[cache] memory_mb`` (issue 10, finding
6): many distinct valid tokens cannot make a process hold more than that."""
from __future__ import annotations

import gc
import tracemalloc

from builders import add_user, issue, subject_headers
from keystone_lite import settings as settings_module
from keystone_lite.token.cache import GenerationCache, MemoryBudget

MIB = 1024 * 1024


def test_cache_memory_defaults_to_at_most_64_mb(tmp_path):
    path = tmp_path / "keystone-lite.conf"
    path.write_text("")
    assert 0 < settings_module.load(str(path)).cache_memory_mb <= 64


def test_many_distinct_tokens_stay_within_the_budget(make_deployment):
    deployment = make_deployment({"cache": {"memory_mb": "1"}})
    add_user(deployment, "alice", "demo", "member")
    tokens = [issue(deployment.main, "alice", "demo") for _ in range(1500)]
    budget = deployment.services().cache_budget
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        for token in tokens:  # validated tokens and rendered bodies: ~2.5 KB each
            deployment.admin.get("/v3/auth/tokens", headers=subject_headers(token))
        gc.collect()
        retained = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()

    assert 0 < budget.used <= budget.limit == 1 * MIB
    # The estimate is honest: what the caches really hold is of the order of the budget.
    assert retained < 2 * MIB, retained


def test_a_full_budget_evicts_the_oldest_entries_of_the_largest_cache():
    """Tokens seen once (the largest cache) make room; what they share (principals) stays."""
    budget = MemoryBudget(10_000)
    first, second = GenerationCache(budget), GenerationCache(budget)
    first.put("stamp", "a", "x" * 4000)
    second.put("stamp", "b", "y" * 2000)
    assert first.get("stamp", "a") and second.get("stamp", "b")

    first.put("stamp", "c", "z" * 4000)

    assert first.get("stamp", "c") and first.get("stamp", "a") is None
    assert second.get("stamp", "b")
    assert budget.used <= budget.limit


def test_a_full_budget_evicts_from_another_cache_when_it_holds_the_most():
    budget = MemoryBudget(10_000)
    first, second = GenerationCache(budget), GenerationCache(budget)
    second.put("stamp", "b", "y" * 5000)
    first.put("stamp", "a", "x" * 2000)

    first.put("stamp", "c", "z" * 2500)

    assert first.get("stamp", "a") and first.get("stamp", "c")
    assert second.get("stamp", "b") is None
    assert budget.used <= budget.limit


def test_a_new_stamp_empties_every_cache_that_shares_the_budget():
    budget = MemoryBudget(100_000)
    first, second = GenerationCache(budget), GenerationCache(budget)
    first.put("old", "a", "x" * 1000)
    second.put("old", "b", "y" * 1000)

    first.put("new", "a", "x" * 1000)

    assert second.get("old", "b") is None
    assert 1000 < budget.used < 2000


def test_a_value_larger_than_the_budget_is_not_kept():
    budget = MemoryBudget(1000)
    cache = GenerationCache(budget)

    cache.put("stamp", "a", "x" * 5000)

    assert cache.get("stamp", "a") is None and budget.used == 0
