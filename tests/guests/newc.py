"""A newc cpio reader for the tests, written from the format's description (not from
vmm/guests/cpio.py): each member as a dict of its header fields, name and data."""

FIELDS = ("ino", "mode", "uid", "gid", "nlink", "mtime", "filesize", "devmajor", "devminor",
          "rdevmajor", "rdevminor", "namesize", "check")


def _aligned(offset):
    return (offset + 3) & ~3


def read_newc(archive):
    """The members of `archive` up to (not including) the trailer; asserts the layout."""
    members, offset = [], 0
    while True:
        assert archive[offset:offset + 6] == b"070701", f"bad magic at {offset}"
        header = archive[offset + 6:offset + 110]
        member = {field: int(header[i * 8:i * 8 + 8], 16) for i, field in enumerate(FIELDS)}
        name_end = offset + 110 + member["namesize"]
        assert archive[name_end - 1] == 0, "name not NUL-terminated"
        member["name"] = archive[offset + 110:name_end - 1].decode()
        data_start = _aligned(name_end)
        member["data"] = archive[data_start:data_start + member["filesize"]]
        offset = _aligned(data_start + member["filesize"])
        if member["name"] == "TRAILER!!!":
            assert offset == len(archive), "bytes after the trailer"
            return members
        members.append(member)
