"""Exception classes of vmm; each class docstring is the message users see.

Host-side errors (a bad image, a guest touching memory it does not have) stop
the run with one clear line.  Guest-side exceptions (#UD, #DE, #GP...) are
`GuestFault` objects delivered to the guest through its IDT.

Example:
    try:
        machine.load("bad.elf")
    except VmmError as e:
        print(e)         # "image error: not an ELF file: bad.elf"
"""


class VmmError(Exception):
    """vmm error"""

    prefix = "vmm"

    def __str__(self):
        detail = super().__str__()
        return f"{self.prefix}: {detail}" if detail else (self.__doc__ or self.prefix)


class ImageError(VmmError):
    """image error: the guest image cannot be loaded"""

    prefix = "image error"


class GuestFetchError(ImageError):
    """guest fetch error: the guest's packages cannot be fetched or unpacked"""

    prefix = "guest fetch"


class MemoryAccessError(VmmError):
    """guest memory error: the guest touched physical memory it does not have"""

    prefix = "guest memory error"


class GuestStop(VmmError):
    """guest stopped: an exception the guest cannot handle (no IDT is loaded)"""

    prefix = "guest stopped"

    def __init__(self, message, vector=None):
        super().__init__(message)
        self.vector = vector


class GuestFault(Exception):
    """A guest CPU exception (vector, optional error code) raised by semantics.

    It is not a host error: the monitor delivers it through the guest IDT, or
    turns it into a GuestStop when the guest has none.
    """

    def __init__(self, vector, error_code=None, reason=""):
        super().__init__(vector, error_code, reason)
        self.vector = vector
        self.error_code = error_code
        self.reason = reason
