"""Replaying recorded calls against today's code, and comparing the outcomes."""
