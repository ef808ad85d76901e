"""The ground floor: records, content snapshots, context variables, the one wrapper.

Every other part of llmguard builds on these; nothing here imports anything outside
`_core`, not even `llmguard.exceptions`, whose errors carry `_core`'s values.
"""
