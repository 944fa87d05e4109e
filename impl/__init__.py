"""certipub's concrete implementation: fixed-size tables, indices and ring buffers, as C."""
