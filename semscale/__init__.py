"""semscale: does zero-shot CLIP accuracy rise, plateau or fall as classes get more names?

Pipeline: datasets -> labels -> encoders -> engine (scoring per scale level) -> store (DuckDB).
"""

__version__ = "0.1.0"

import warnings

# clip_client, jina and hubble import pkg_resources, which setuptools 80 (pinned: 81 removed it) marks
# deprecated with a UserWarning on every start; nothing a semscale user can act on.
warnings.filterwarnings("ignore", message="pkg_resources is deprecated", category=UserWarning)
