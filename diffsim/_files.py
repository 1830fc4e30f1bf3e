"""Output files that survive a full disk and a kill at any moment.

Every file diffsim writes goes through `atomic_write` (a temporary file in
the same folder, fsynced, then renamed over the target: a reader, a resume
or a crash sees the old file or the new one, never half of either; figures
through `save_figure`) or, for the optimizer's `metrics.jsonl`, through
`append_line`. A failed write raises `WriteError`, an `OSError` whose
message names the file. `FolderLock` keeps a second job out of an output
folder, `remove_stale_temporaries` clears what killed writes left. Library
module: no imports of the job layer.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import io
import os
import re
import tempfile
import time
from pathlib import Path

TEMP_PREFIX = ".tmp-"
# ours (.tmp-NAME-XXXXXXXX), older checkpoints' (.tmp-XXXXXXXX.eqx) and older outputs'
# (.NAME.XXXXXXXX.tmp)
_TEMPORARY = re.compile(
    r"\.tmp-.+-[a-z0-9_]{8}|\.tmp-[a-z0-9_]{8}\.eqx|\..+\.[a-z0-9_]{8}\.tmp"
)
PROCESS_START = time.time()
UMASK = os.umask(0o022)
os.umask(UMASK)


class WriteError(OSError):
    """A file could not be written (full disk, quota, permissions); `str()`
    is one line naming the file, e.g. `cannot write runs/x/fields.nc: No
    space left on device`. The target keeps its previous content."""

    def __init__(self, path, cause: OSError):
        super().__init__(cause.errno, cause.strerror or str(cause), str(path))
        self.path = Path(path)

    def __str__(self) -> str:
        return f"cannot write {self.filename}: {self.strerror}"


class FolderInUse(OSError):
    """Another job holds the lock on an output folder (see `FolderLock`)."""

    def __str__(self) -> str:
        return self.strerror or ""


def write_fd(fd: int, data, path) -> None:
    """Write all of `data` (bytes-like) to the open descriptor `fd` of `path`.
    The one place where output bytes reach a file (tests patch it to inject
    faults)."""
    view = memoryview(data).cast("B")
    while view:
        view = view[os.write(fd, view) :]


def atomic_write(path, data) -> Path:
    """Replace `path` by `data` (bytes-like or str, UTF-8), all or nothing.

    **Arguments:**

    - `path`: the target file; its folder is created if missing.
    - `data`: the complete new content.

    **Returns:** `path`.

    Written to `.tmp-<name>-XXXX` in the same folder, fsynced, renamed with
    `os.replace` and the folder fsynced. Any failure removes the temporary
    file and leaves the previous `path` untouched; an `OSError` is raised as
    `WriteError` naming `path`.
    """
    path = Path(path)
    if isinstance(data, str):
        data = data.encode()
    tmp = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f"{TEMP_PREFIX}{path.name}-")
        try:
            os.fchmod(
                fd, 0o666 & ~UMASK
            )  # mkstemp makes 0600; give outputs the usual mode
            write_fd(fd, data, path)
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
        tmp = None
        _fsync_folder(path.parent)
    except WriteError:
        raise
    except OSError as e:
        raise WriteError(path, e) from None
    finally:
        if tmp is not None:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
    return path


def append_line(path, line: str) -> None:
    """Append one line (a newline is added) to `path` with a single `O_APPEND`
    write: earlier lines are never rewritten. An `OSError` is raised as
    `WriteError` naming `path`."""
    path = Path(path)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o666)
        try:
            write_fd(fd, (line + "\n").encode(), path)
        finally:
            os.close(fd)
    except WriteError:
        raise
    except OSError as e:
        raise WriteError(path, e) from None


def save_figure(fig, path, **kwargs) -> Path:
    """A matplotlib figure saved with `atomic_write`: `fig.savefig` renders
    into memory (format from the suffix of `path`, `kwargs` as for
    `savefig`), so a full disk or a kill never leaves half a PNG.

    **Returns:** `path`."""
    path = Path(path)
    buffer = io.BytesIO()
    fig.savefig(buffer, format=path.suffix.lstrip(".") or None, **kwargs)
    return atomic_write(path, buffer.getbuffer())


def sync_file(path) -> None:
    """fsync `path` if it exists (so that it is on disk before a file that
    depends on it, e.g. a checkpoint after the metrics lines it covers)."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        return
    except OSError as e:
        raise WriteError(path, e) from None
    try:
        os.fsync(fd)
    except OSError as e:
        raise WriteError(path, e) from None
    finally:
        os.close(fd)


def remove_stale_temporaries(folder, subfolders=()) -> list[Path]:
    """Delete the temporary files that writes interrupted by a kill left in
    `folder` and its `subfolders` (names as `atomic_write` makes them, and
    as earlier versions did), when older than this process. Call it while
    holding the folder's `FolderLock`. Returns the removed paths."""
    removed = []
    for where in [Path(folder), *(Path(folder) / sub for sub in subfolders)]:
        if not where.is_dir():
            continue
        for entry in where.iterdir():
            with contextlib.suppress(OSError):
                if (
                    _TEMPORARY.fullmatch(entry.name)
                    and entry.is_file()
                    and entry.stat().st_mtime < PROCESS_START
                ):
                    entry.unlink()
                    removed.append(entry)
    return removed


class FolderLock:
    """An exclusive `fcntl.flock` on `folder/.lock`, held while the context
    is open: a second job on the same folder is refused with `FolderInUse`
    naming the holder's process id. The operating system releases the lock
    when the holder exits, killed or not."""

    def __init__(self, folder, what: str = "folder"):
        self.folder, self.what, self.fd = Path(folder), what, None

    def __enter__(self) -> FolderLock:
        path = self.folder / ".lock"
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
        except OSError as e:
            raise WriteError(path, e) from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as e:
            holder = os.pread(fd, 32, 0).decode(errors="replace").strip()
            os.close(fd)
            if e.errno not in (errno.EWOULDBLOCK, errno.EACCES):
                raise WriteError(path, e) from None
            pid = f" (process {holder})" if holder.isdigit() else ""
            raise FolderInUse(
                errno.EBUSY,
                f"{self.what} {self.folder} is in use by another diffsim job{pid}; "
                f"wait for it to finish or choose another {self.what}",
                str(path),
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        self.fd = fd
        return self

    def __exit__(self, *exc) -> None:
        if self.fd is not None:
            with contextlib.suppress(OSError):
                os.ftruncate(self.fd, 0)
            os.close(self.fd)  # closing the descriptor releases the lock
            self.fd = None


def describe_os_error(error: OSError) -> str:
    """One line for an `OSError` met while writing outputs."""
    if isinstance(error, (WriteError, FolderInUse)):
        return str(error)
    if error.filename is not None:
        return f"cannot write {error.filename}: {error.strerror or error}"
    return str(error)


def _fsync_folder(folder: Path) -> None:
    """Make a rename durable (not supported everywhere: best effort)."""
    with contextlib.suppress(OSError):
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
