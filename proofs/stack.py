"""The layers of certipub, lowest first, as the runner proves them.

Each name is a module or package of `proofs` that registers its layer's obligations when
imported; the first, `lemmas`, holds the facts the engine states at the terms it makes,
which every layer's proofs use. A layer's impl calls only the interface of the layer below it here, and its
obligations run over that layer's spec (`proofs.layer.over`).
"""

STACK: tuple[str, ...] = ("lemmas", "x86", "container", "vm", "message", "topic", "syscall")
