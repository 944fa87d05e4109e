"""certipub's proofs: Z3 obligations that impl refines spec, taken from the code itself."""
