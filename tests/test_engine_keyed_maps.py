"""The engine's maps keyed by tuples (a subscription's (pid, topic)): a map built from a
table's slots, each keyed by a pair of its fields, means what the native comprehension
builds, wherever the keys are one to one; where they are not, the run's obligation is
false, so no proof can rest on it."""

from __future__ import annotations

import dataclasses
import random

import z3

from proofs.engine.interp import run
from proofs.engine.values import RecT, TupT, flatten, fresh, ty_of_hint, unflatten
from spec.map import Map

CASES = 40


@dataclasses.dataclass
class Slots:
    n: int
    used: list[bool]
    pid: list[int]
    topic: list[int]
    value: list[int]


SLOTS = RecT(Slots)


def by_key(t: Slots) -> Map[tuple[int, int], int]:
    return Map({(t.pid[s], t.topic[s]): t.value[s] for s in range(t.n) if t.used[s]})


def keys_unique(t: Slots) -> bool:
    return all(all(not (t.used[a] and t.used[b] and a != b and t.pid[a] == t.pid[b]
                        and t.topic[a] == t.topic[b]) for b in range(t.n)) for a in range(t.n))


def read(m: Map[tuple[int, int], int], p: int, q: int) -> int:
    """The value at (p, q), or -1 where there is none."""
    if (p, q) in m:
        return m[(p, q)]
    return -1


def on_topic(m: Map[tuple[int, int], int], q: int) -> int:
    """How many keys of m have q second."""
    return sum(1 for key in m if key[1] == q)


def values_doubled_on_topic(m: Map[tuple[int, int], int], q: int) -> Map[tuple[int, int], int]:
    return Map({key: 2 * v if key[1] == q else v for key, v in m.items()})


def _lift(t: Slots) -> list[z3.BoolRef]:
    sym = fresh(SLOTS, "t")
    claims = [sym.n == t.n]
    for s in range(t.n):
        claims += [sym.used.get(s) == t.used[s], sym.pid.get(s) == t.pid[s], sym.topic.get(s) == t.topic[s],
                   sym.value.get(s) == t.value[s]]
    return claims


def solved(*assertions: z3.BoolRef) -> z3.CheckSatResult:
    """What Z3 answers of the assertions together, within 20 s."""
    s = z3.Solver()
    s.set("timeout", 20000)
    s.add(*assertions)
    return s.check()


def random_slots(rng: random.Random, unique: bool) -> Slots:
    n = rng.randrange(0, 6)
    keys = [(rng.randrange(3), rng.randrange(3)) for _ in range(n)]
    if unique:
        keys = list(dict.fromkeys(keys))
        n = len(keys)
    return Slots(n, [rng.random() < 0.7 for _ in range(n)], [k[0] for k in keys], [k[1] for k in keys],
                 [rng.randrange(100) for _ in range(n)])


def test_a_pair_hint_is_one_tuple_leaf() -> None:
    ty = ty_of_hint(tuple[int, int])
    assert isinstance(ty, TupT) and len(ty.sorts()) == 1
    assert [z3.simplify(x) for x in unflatten(ty, flatten(ty, (3, 4)))] == [3, 4]


def test_a_map_keyed_by_pairs_of_slot_fields_equals_native_maps() -> None:
    leaves = flatten(SLOTS, fresh(SLOTS, "t"))
    built = run(by_key, lambda: [unflatten(SLOTS, leaves)])
    p, q = z3.Ints("p q")
    at = run(read, lambda: [built.result, p, q])
    unique = run(keys_unique, lambda: [unflatten(SLOTS, leaves)])
    rng = random.Random(0)
    for _ in range(CASES):
        t = random_slots(rng, unique=True)
        native = by_key(t)
        for key in [(a, b) for a in range(3) for b in range(3)]:
            s = z3.Solver()
            s.add(*_lift(t), unique.result, *built.assumptions, *at.assumptions, p == key[0], q == key[1])
            s.add(at.result != read(native, *key))
            assert s.check() == z3.unsat, (t, key)
        s = z3.Solver()
        s.add(*_lift(t), unique.result, z3.Not(z3.And(*built.obligations)))
        assert s.check() == z3.unsat, "the keys are one to one, and the obligation says so"


def test_a_map_whose_keys_repeat_fails_its_obligation() -> None:
    leaves = flatten(SLOTS, fresh(SLOTS, "t"))
    built = run(by_key, lambda: [unflatten(SLOTS, leaves)])
    t = Slots(2, [True, True], [1, 1], [2, 2], [5, 6])
    s = z3.Solver()
    s.add(*_lift(t), *built.assumptions, z3.Not(z3.And(*built.obligations)))
    assert s.check() == z3.sat


def test_two_maps_built_alike_are_alike_term_for_term() -> None:
    leaves = flatten(SLOTS, fresh(SLOTS, "t"))
    one = run(by_key, lambda: [unflatten(SLOTS, leaves)]).result
    two = run(by_key, lambda: [unflatten(SLOTS, leaves)]).result
    assert all(a.eq(b) for a, b in zip([one.present, *one.values], [two.present, *two.values], strict=True))


def test_a_count_of_keys_is_the_native_count_and_nothing_else() -> None:
    leaves = flatten(SLOTS, fresh(SLOTS, "t"))
    built = run(by_key, lambda: [unflatten(SLOTS, leaves)])
    unique = run(keys_unique, lambda: [unflatten(SLOTS, leaves)])
    q = z3.Int("q")
    count = run(on_topic, lambda: [built.result, q])
    assert count.assumptions, "a count outside a binder is pinned"
    rng = random.Random(1)
    for _ in range(CASES // 2):
        t = random_slots(rng, unique=True)
        for topic in range(3):
            want = on_topic(by_key(t), topic)
            given = [*_lift(t), unique.result, *built.assumptions, *count.assumptions, q == topic]
            for claim, answer in ((count.result == want, z3.sat), (count.result != want, z3.unsat)):
                assert solved(*given, claim) == answer, (t, topic, want, claim)


def test_a_map_of_a_maps_items_equals_native_maps() -> None:
    leaves = flatten(SLOTS, fresh(SLOTS, "t"))
    built = run(by_key, lambda: [unflatten(SLOTS, leaves)])
    unique = run(keys_unique, lambda: [unflatten(SLOTS, leaves)])
    p, q, x = z3.Ints("p q x")
    doubled = run(values_doubled_on_topic, lambda: [built.result, x])
    at = run(read, lambda: [doubled.result, p, q])
    rng = random.Random(2)
    for _ in range(CASES // 2):
        t = random_slots(rng, unique=True)
        native = values_doubled_on_topic(by_key(t), 1)
        for key in [(a, b) for a in range(3) for b in range(3)]:
            s = z3.Solver()
            s.add(*_lift(t), unique.result, *built.assumptions, *doubled.assumptions, *at.assumptions,
                  x == 1, p == key[0], q == key[1], at.result != read(native, *key))
            assert s.check() == z3.unsat, (t, key)


def owners(t: Slots, pid: int, i: int) -> Map[tuple[int, int], int]:
    """Slots [0, i) as keys, each owned by pid: one value for every key."""
    return Map({(t.pid[s], t.topic[s]): pid for s in range(i)})


def test_a_map_of_one_value_equals_native_maps_whose_keys_repeat() -> None:
    """{key(s): pid ...} is the map Python builds whether or not keys repeat: no obligation
    that they are one to one, and every key read as the native map has it."""
    leaves = flatten(SLOTS, fresh(SLOTS, "t"))
    i, pid, p, q = z3.Ints("i pid p q")
    built = run(owners, lambda: [unflatten(SLOTS, leaves), pid, i])
    assert not built.obligations, "no key need be one to one"
    at = run(read, lambda: [built.result, p, q])
    rng = random.Random(3)
    for _ in range(CASES // 2):
        t = random_slots(rng, unique=False)
        upto = rng.randrange(0, t.n + 1)
        native = owners(t, 9, upto)
        for key in [(a, b) for a in range(3) for b in range(3)]:
            s = z3.Solver()
            s.add(*_lift(t), *built.assumptions, *at.assumptions, i == upto, pid == 9,
                  p == key[0], q == key[1], at.result != read(native, *key))
            assert s.check() == z3.unsat, (t, upto, key)


def test_maps_over_nested_prefixes_share_one_inverse_and_stay_consistent() -> None:
    """The maps over slots [0, i) and [0, i + 1) share their inverse (the prefixes are
    nested); with keys that repeat, both still read as the native maps, at once."""
    leaves = flatten(SLOTS, fresh(SLOTS, "t"))
    i, pid, p, q = z3.Ints("i pid p q")
    small = run(owners, lambda: [unflatten(SLOTS, leaves), pid, i])
    large = run(owners, lambda: [unflatten(SLOTS, leaves), pid, i + 1])
    at_small = run(read, lambda: [small.result, p, q])
    at_large = run(read, lambda: [large.result, p, q])
    t = Slots(4, [True] * 4, [1, 0, 1, 1], [2, 0, 2, 2], [0, 0, 0, 0])
    for upto in range(t.n):
        for key in [(1, 2), (0, 0), (2, 2)]:
            s = z3.Solver()
            s.add(*_lift(t), *small.assumptions, *large.assumptions, *at_small.assumptions,
                  *at_large.assumptions, i == upto, pid == 9, p == key[0], q == key[1])
            assert s.check() == z3.sat, "the shared inverse's assumptions are consistent"
            s.add(z3.Or(at_small.result != read(owners(t, 9, upto), *key),
                        at_large.result != read(owners(t, 9, upto + 1), *key)))
            assert s.check() == z3.unsat, (upto, key)


def used_slots(t: Slots) -> Map[int, int]:
    """The used slots' values, keyed by the slots themselves."""
    return Map({s: t.value[s] for s in range(t.n) if t.used[s]})


def how_many_used(t: Slots) -> int:
    return len(used_slots(t))


def every_slot_used(t: Slots) -> bool:
    return all(t.used[s] for s in range(t.n))


def test_a_map_keyed_by_its_own_slots_counts_them_as_a_set_of_the_range() -> None:
    """len of {s: ... for s in range(n) if ...} is the native count, and is n exactly when
    every slot is kept, for every n: what the counting lemmas give a count of a range."""
    leaves = flatten(SLOTS, fresh(SLOTS, "t"))
    t = unflatten(SLOTS, leaves)
    count = run(how_many_used, lambda: [unflatten(SLOTS, leaves)])
    every = run(every_slot_used, lambda: [unflatten(SLOTS, leaves)])
    assert count.assumptions, "a count of a range's slots is pinned"
    for claim in (z3.And(count.result == t.n, z3.Not(every.result)),
                  z3.And(count.result < t.n, every.result)):
        assert solved(t.n >= 0, *count.assumptions, *every.assumptions, claim) == z3.unsat, claim
    rng = random.Random(2)
    for _ in range(CASES // 2):
        native = random_slots(rng, unique=False)
        want = how_many_used(native)
        for claim, answer in ((count.result == want, z3.sat), (count.result != want, z3.unsat)):
            assert solved(*_lift(native), *count.assumptions, claim) == answer, (native, want, claim)
