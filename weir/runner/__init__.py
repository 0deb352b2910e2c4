"""Runs flows: the engine, node kinds, triggers, secrets and the execution store."""
