"""semscale: does zero-shot CLIP accuracy rise, plateau or fall as classes get more names?

Pipeline: datasets -> labels -> encoders -> engine (scoring per scale level) -> store (DuckDB).
"""

__version__ = "0.1.0"
