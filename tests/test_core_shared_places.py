"""The conversion places are shared: half each at most, a person's newest request replaces their oldest."""

from hypothesis import given, strategies as st

from FileStream.core.shared_places import Decision, decide, share_per_client


def test_one_place_is_whoever_comes_first_and_their_next_request_replaces_their_own():
    assert decide(places=1, taken=0, held_by_client=0) is Decision.TAKE
    assert decide(places=1, taken=1, held_by_client=0) is Decision.BUSY
    assert decide(places=1, taken=1, held_by_client=1) is Decision.REPLACE_OLDEST


def test_with_two_places_one_person_cannot_hold_both():
    assert decide(places=2, taken=1, held_by_client=1) is Decision.REPLACE_OLDEST
    assert decide(places=2, taken=1, held_by_client=0) is Decision.TAKE
    assert decide(places=2, taken=2, held_by_client=0) is Decision.BUSY


def test_no_places_means_busy_for_everyone():
    assert decide(places=0, taken=0, held_by_client=0) is Decision.BUSY


@given(places=st.integers(1, 64), data=st.data())
def test_a_client_never_holds_more_than_its_share_and_two_clients_always_fit(places, data):
    share = share_per_client(places)
    assert 1 <= share <= places and 2 * share >= places
    held = data.draw(st.integers(0, share))
    taken = data.draw(st.integers(held, places))
    decision = decide(places, taken, held)
    if decision is Decision.TAKE:
        assert held + 1 <= share and taken < places
    if held == 0 and taken < places:
        assert decision is Decision.TAKE   # a newcomer is never refused a free place
    if places >= 2 and held == 0 and taken <= share:
        assert decision is Decision.TAKE   # one client at its share leaves room for another
