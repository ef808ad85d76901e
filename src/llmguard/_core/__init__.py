"""The ground floor: records, content snapshots, context variables, the one wrapper.

Everything else builds on these; nothing here imports any other part of llmguard
except `llmguard.exceptions`' data types' own modules.
"""
