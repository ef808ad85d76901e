"""Spans and what makes them: ``lg.span``, ``@lg.trace``, stepping generators, prompts, feedback."""
