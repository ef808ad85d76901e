"""Fixed start and end times for tests that build records by hand."""

T0 = "2026-01-02T03:04:05.123456Z"
T1 = "2026-01-02T03:04:06.000001Z"
