"""Round-robin turns: one busy person's queue delays another person's item by one turn at most."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from FileStream.core.turns import Turns


def drain(turns):
    served = []
    while (next_one := turns.pop()) is not None:
        served.append(next_one)
    return served


def test_a_file_sent_after_someone_elses_sixty_waits_behind_one_of_them():
    turns = Turns()
    for n in range(60):
        turns.push("eve", n)
    assert turns.pop() == ("eve", 0)          # the copy under way when Alice arrives
    turns.push("alice", "a")
    assert turns.pop() == ("alice", "a"), "Alice waited only for the copy under way"
    assert turns.keys == ["eve"] and turns.waiting("eve") == 59


def test_people_are_served_in_a_ring_in_the_order_they_first_came():
    turns = Turns()
    for key, item in [("eve", 1), ("eve", 2), ("eve", 3), ("bob", "b1"), ("alice", "a1"), ("bob", "b2")]:
        turns.push(key, item)
    assert drain(turns) == [("eve", 1), ("bob", "b1"), ("alice", "a1"), ("eve", 2), ("bob", "b2"), ("eve", 3)]
    turns.push("eve", 4)
    turns.push("eve", 5)
    assert turns.pop() == ("eve", 4)
    turns.push("bob", "b3")
    turns.push("alice", "a2")
    assert drain(turns) == [("bob", "b3"), ("alice", "a2"), ("eve", 5)], "newcomers go ahead of who was just served"
    assert not turns and len(turns) == 0 and turns.pop() is None


def test_an_item_given_up_leaves_its_queue_and_an_empty_key_leaves_the_ring():
    turns = Turns()
    turns.push("eve", 1)
    turns.push("bob", 2)
    assert turns.remove("eve", 1) and not turns.remove("eve", 1) and not turns.remove("nobody", 3)
    assert turns.keys == ["bob"] and turns.waiting("eve") == 0 and len(turns) == 1


@given(st.lists(st.tuples(st.sampled_from("abcde"), st.booleans()), max_size=200))
def test_between_two_turns_of_one_person_no_other_person_gets_two(steps):
    """Pushes and pops in any order: while a person waits, nobody else is served twice."""
    turns = Turns()
    served_since = {}   # person waiting -> how often each other person was served since they began waiting
    counter = 0
    for key, is_push in steps:
        if is_push:
            counter += 1
            if turns.waiting(key) == 0:
                served_since[key] = {}
            turns.push(key, counter)
            continue
        popped = turns.pop()
        if popped is None:
            continue
        who, _item = popped
        # The person just served starts waiting afresh (or stops waiting).
        if turns.waiting(who) == 0:
            served_since.pop(who, None)
        else:
            served_since[who] = {}
        for waiting, others in served_since.items():
            if waiting != who:
                others[who] = others.get(who, 0) + 1
                assert others[who] <= 1, f"{who} served twice while {waiting} waited"
    left = len(turns)
    assert len(drain(turns)) == left and not turns
