"""Agent runs and tools: step and tool-call limits, loop detection, deadlines."""
