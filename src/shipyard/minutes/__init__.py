"""The Actions minutes guard: usage of record, per-job attribution, forecast, waste, alerts and routing."""
