"""Errors tfgen raises besides ``ValueError`` (bad input) and ``FileNotFoundError`` (missing files).

No TensorFlow here, so the command line can catch them without loading it.
"""


class DivergedError(RuntimeError):
    """Training produced a NaN or infinite loss; the run kept its last good checkpoint."""
