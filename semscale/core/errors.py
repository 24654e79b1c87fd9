"""One exception type for input a user can fix; the CLI and the dashboard show its message as is."""


class SemscaleError(Exception):
    """A problem with the user's input or environment, explained in one sentence."""
