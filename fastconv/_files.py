"""Writing files so that a crash never leaves a torn one.

``atomic_write(path)`` hands out a temporary file in the target's own folder (a rename is
atomic only within one file system); on success the data is flushed and fsynced, the file
takes the target's name with one ``os.replace``, and the folder is fsynced so that the rename
itself is on disk. The new file gets the old one's permissions, or a new file's (0o666 less
the umask), not the temporary file's 0o600. A process killed at any moment leaves the old
file or the new one, whole, and at worst a ``.fastconv-*.tmp`` file beside it; an exception
leaves the old file and no temporary one.
"""
import contextlib
import os
import tempfile

__all__ = ["atomic_write"]


def _fsync_folder(folder):
    try:
        fd = os.open(folder, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError:                 # not every platform opens folders (Windows)
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _umask():
    """The process's umask, read without changing it where Linux allows (os.umask can only
    set it, which would race with other threads creating files)."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _mode_for(path):
    """The permissions a file replacing path should have: the old file's, else what open()
    would give a new one (0o666 less the umask); mkstemp's temporary file has 0o600."""
    try:
        return os.stat(path).st_mode & 0o7777
    except OSError:
        return 0o666 & ~_umask()


@contextlib.contextmanager
def atomic_write(path, suffix=".tmp"):
    """Context manager yielding a binary file object that replaces `path` when the block ends
    without an exception."""
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=".fastconv-", suffix=suffix, dir=folder)
    try:
        if hasattr(os, "fchmod"):         # not on Windows, whose files have no such modes
            os.fchmod(fd, _mode_for(path))
        with os.fdopen(fd, "wb") as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    _fsync_folder(folder)
