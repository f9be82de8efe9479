"""Local HTTP servers speaking each destination's contract, with fault injection, for tests and demos."""
