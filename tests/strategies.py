"""Hypothesis strategies shared by the property tests: arbitrary JSON, odd values, and
a real invitee payload with every field path, to mutate."""

from __future__ import annotations

import copy

from hypothesis import strategies as st

from shared.calendly import samples

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=50),
    lambda children: st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=10), children, max_size=5),
    max_leaves=20,
)


def mutate(base: dict, path: list, value):
    data = copy.deepcopy(base)
    target = data
    for key in path[:-1]:
        target = target[key] if isinstance(target, dict) else target[int(key)]
    if isinstance(target, dict):
        target[path[-1]] = value
    return data


def mutated(event: str, mutations) -> dict:
    """The real payload (BASE) as ``event``, with each (path, value) applied where it fits."""
    data = dict(BASE, event=event)
    for path, value in mutations:
        try:
            data = mutate(data, list(path), value)
        except (KeyError, IndexError, TypeError, ValueError):
            continue
    return data


def paths(value, prefix=()):
    if isinstance(value, dict):
        for key, child in value.items():
            yield prefix + (key,)
            yield from paths(child, prefix + (key,))
    elif isinstance(value, list):
        for index, child in enumerate(value):
            yield from paths(child, prefix + (index,))


BASE = samples.envelope("invitee.created", samples.invitee_payload(questions=[("Phone", "+1 404-555-1234")]))
ALL_PATHS = sorted(set(paths(BASE)), key=str)
odd_values = st.one_of(
    json_values,
    st.sampled_from(["", "\u202e\u0000", "x" * 20_000, "+1 000", "Mars/Olympus", "2026-13-45T99:00:00Z",
                     "+0 000-000-0000", "😀" * 100, "null"]),
)
