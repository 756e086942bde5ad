"""verifybot's platform-neutral core: playbooks, the engine, storage and escalations."""
