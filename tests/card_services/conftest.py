"""Fixtures for the pure card library: demo cards with predictable randomness."""

from __future__ import annotations

import itertools
from collections.abc import Callable

import pytest

from card_services import MasterKeyVerifier, VirtualCard
from card_services.demo import DEMO_MASTER_KEYS, demo_blank_card, demo_personalised_card


def counting_random(seed: int) -> Callable[[int], bytes]:
    """Distinct, repeatable "random" bytes: each call returns the next counter value."""
    counter = itertools.count(seed)

    def random_bytes(length: int) -> bytes:
        return next(counter).to_bytes(length, "big")

    return random_bytes


@pytest.fixture(params=[1, 2, 3], ids=["gen1", "gen2", "gen3"])
def generation(request: pytest.FixtureRequest) -> int:
    return int(request.param)


@pytest.fixture
def card(generation: int) -> VirtualCard:
    state = demo_personalised_card(label=f"demo-{generation}", generation=generation, serial=7)
    return VirtualCard(state, random_bytes=counting_random(1000))


@pytest.fixture
def gen3_card() -> VirtualCard:
    state = demo_personalised_card(label="demo-3", generation=3, serial=3)
    return VirtualCard(state, random_bytes=counting_random(1000))


@pytest.fixture
def blank_card(generation: int) -> VirtualCard:
    state = demo_blank_card(label=f"blank-{generation}", generation=generation, serial=99)
    return VirtualCard(state, random_bytes=counting_random(5000))


@pytest.fixture
def verifier() -> MasterKeyVerifier:
    return MasterKeyVerifier(DEMO_MASTER_KEYS, random_bytes=counting_random(77))
