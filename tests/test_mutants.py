"""The mutation check's list keeps up with the code: every named edit still finds the text it
changes (exactly once), and every test it runs exists. The mutants themselves run with
`make mutants` (tests/mutants.py), which is too slow for every run of the suite."""

from __future__ import annotations

import pytest

import mutants


@pytest.mark.parametrize("mutant", mutants.MUTANTS, ids=lambda m: m.name)
def test_every_mutant_still_applies_to_the_code_it_breaks(mutant):
    assert mutants.applies(mutant) is None
    assert mutant.mutated != mutant.original


def test_mutants_have_unique_names_and_cover_every_guard():
    names = [m.name for m in mutants.MUTANTS]
    assert len(names) == len(set(names))
    assert {m.guard for m in mutants.MUTANTS} == {
        "ownership", "bans", "deep links", "token domains", "pacing", "rate limits",
        "expiry and copy deletion", "link expiry", "header sanitising",
        "private bot", "traffic limit", "per-client limit", "incoming limit", "failed intake leaves no record",
        "late writes harmless",
        "finished once after a stop"}
