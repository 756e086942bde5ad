"""Local fakes of the external APIs verifybot talks to, shared by tests and benchmarks."""
