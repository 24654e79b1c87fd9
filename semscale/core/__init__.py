"""Records every stage shares: the one error type, file locations, unit vectors and heads, statistics, wording."""
