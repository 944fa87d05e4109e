"""certipub's abstract specification: pure functions over immutable values."""
