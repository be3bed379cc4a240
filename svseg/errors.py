"""The one exception type for user errors.

Bad input (a missing file, a wrong format, an unknown dataset or network, a name that escapes
the data root) raises :class:`SvsegError` with a one-line message naming the file and the
problem. Only the CLI turns it into exit code 2; bugs stay ordinary exceptions.
"""

from __future__ import annotations


class SvsegError(Exception):
    """A problem with the user's input, reported as one line and exit code 2."""
