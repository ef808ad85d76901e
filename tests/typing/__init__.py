"""Typing examples, checked by ``mypy --strict`` (see tests/test_typing.py) and run by pytest."""
