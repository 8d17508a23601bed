"""Writing the card's files all or nothing: every file goes to a temp file beside its target first, and only when
all are complete on disk are they renamed into place. A failure before that removes the temp files (and any folder
this write created), so an earlier card in the folder stays as it was and no file is ever half-written.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Mapping

from hfm_runtime.artifact import default_file_mode
from hfm_runtime.errors import HfmError


class CardWriteError(HfmError):
    """The card's folder cannot be made or written."""


def write_all(folder: Path, files: Mapping[str, bytes], stale: tuple[str, ...] = ()) -> list[Path]:
    """Write `files` (path relative to `folder` -> bytes); `folder` and its parents are created if missing.

    `stale`: relative paths this writer owns that the new set no longer has (a figure of an earlier card), removed
    once the new files are in place so that the folder describes one artifact only.
    """
    if folder.exists() and not folder.is_dir():
        raise CardWriteError(f"{folder} exists and is not a folder; give --out a folder (it is created if missing)")
    created: list[Path] = []
    staged: list[tuple[str, Path]] = []
    try:
        for relative, data in files.items():
            target = folder / relative
            _make_folders(target.parent, created)
            staged.append((_write_temp(target, data), target))
        for temp, target in staged:
            os.replace(temp, target)
    except BaseException as exc:
        for temp, _ in staged:
            Path(temp).unlink(missing_ok=True)
        for path in reversed(created):
            _remove_empty(path)
        if isinstance(exc, OSError):
            raise CardWriteError(f"cannot write the card into {folder}: {exc.strerror or exc}; expected a folder "
                                 "this user can write") from None
        raise
    for relative in stale:
        if relative not in files:
            (folder / relative).unlink(missing_ok=True)
    return [folder / relative for relative in files]


def _make_folders(folder: Path, created: list[Path]) -> None:
    """Create `folder` and its missing parents, outermost first, adding each to `created` as soon as it exists."""
    missing = []
    for path in (folder, *folder.parents):
        if path.exists():
            break
        missing.append(path)
    for path in reversed(missing):
        try:
            path.mkdir()
        except FileExistsError:
            if path.is_dir():  # made meanwhile by someone else: theirs, not ours to remove
                continue
            raise
        created.append(path)


def _write_temp(target: Path, data: bytes) -> str:
    handle, temp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        with os.fdopen(handle, "wb") as stream:
            stream.write(data)
            stream.flush()
            os.fsync(stream.fileno())
        os.chmod(temp, default_file_mode())  # mkstemp makes 0600; a card is shared like any document
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise
    return temp


def _remove_empty(folder: Path) -> None:
    try:
        folder.rmdir()
    except OSError:
        pass  # not empty (someone else's files) or already gone: leave it
