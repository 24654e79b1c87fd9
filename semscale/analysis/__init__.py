"""Numbers from stored runs: curve tables, thresholds, comparisons, explanations, per-name effects, recommendations."""
