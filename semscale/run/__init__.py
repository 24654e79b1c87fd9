"""One run: presets, schedules, aggregation rules, scoring, the config builder, the engine loop, background jobs."""
