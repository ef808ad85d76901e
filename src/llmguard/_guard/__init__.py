"""The guard: its policy, the sans-IO corrective flow, the drivers, schemas, limits, inline form."""
