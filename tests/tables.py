"""Shared test helpers: small random message tables built by the impl's own operations."""

from __future__ import annotations

import random

from impl import message as impl_message
from impl.message import MsgTable
from spec.abi import Config

SMALL = Config(NUM_SUB=4, QLEN_MAX=5, MSG_MAX=6)


def random_table(rng: random.Random, cfg: Config = SMALL, steps: int = 30) -> MsgTable:
    """A reachable table: boot, then random creates, enqueues, dequeues and destroys."""
    t = impl_message.msgq_init(cfg)
    for seq in range(steps):
        q = rng.randrange(-1, cfg.NUM_SUB + 1)
        choice = rng.random()
        if choice < 0.25:
            impl_message.queue_create(t, rng.randrange(0, cfg.QLEN_MAX + 2))
        elif choice < 0.7:
            data = bytes(rng.randrange(256) for _ in range(rng.randrange(cfg.MSG_MAX + 2)))
            impl_message.queue_enqueue(t, q, seq, data)
        elif choice < 0.9:
            impl_message.queue_dequeue(t, q)
        else:
            impl_message.queue_destroy(t, q)
    return t
