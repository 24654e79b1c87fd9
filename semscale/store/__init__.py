"""The DuckDB results file (runs, points, predictions, embedding cache) and the run queue over it."""
