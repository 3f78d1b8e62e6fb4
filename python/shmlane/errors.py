"""The exceptions shmlane raises, one class per kind of failure.

Every class derives from :class:`Error`, and where a built-in exception
says the same thing, from that too: ``except TimeoutError`` catches
:class:`Timeout`, ``except ValueError`` catches a bad argument.
"""


class Error(Exception):
    """Base of every shmlane exception."""


class Incompatible(Error):
    """The segment (or channel) was made with other settings than this end
    asks for. ``field`` names the setting, ``expected`` and ``found`` its
    two values."""

    def __init__(self, message, field=None, expected=None, found=None):
        super().__init__(message)
        self.field = field
        self.expected = expected
        self.found = found


class NotFound(Error, FileNotFoundError):
    """No segment, queue or socket has this name (is the other side running?)."""


class AlreadyExists(Error, FileExistsError):
    """``create`` found a segment of this name already."""


class PermissionDenied(Error, PermissionError):
    """The OS refused access."""


class RoleTaken(Error):
    """Another live process holds this end of the ring."""


class Timeout(Error, TimeoutError):
    """A blocking call waited its whole timeout."""


class Disconnected(Error, ConnectionError):
    """The other end is gone (for a receiver: and everything it sent was
    received)."""


class Full(Error):
    """A non-blocking send found no room (or the ring's overflow policy is
    ``"fail"``)."""


class Empty(Error):
    """A non-blocking receive found nothing."""


class Corrupted(Error):
    """The shared memory holds impossible values (a peer wrote garbage);
    this end cannot continue."""


class InvalidConfig(Error, ValueError):
    """An option or URL is not valid for this kind of object."""


class TooLarge(Error, ValueError):
    """A message longer than the channel's maximum."""


class Closed(Error, ValueError):
    """The handle was closed; open a new one."""


class FrameHeld(Error, BufferError):
    """The frame of the last ``read()`` is still held: release its
    memoryview (``view.release()`` or the end of its ``with`` block) first."""


class Overflow(Error, OverflowError):
    """A semaphore would pass its maximum value."""


class Busy(Error, RuntimeError):
    """Another thread is using this end (a ring end serves one thread at a
    time; a blocking call holds it while it waits)."""
