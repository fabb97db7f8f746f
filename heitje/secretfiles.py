"""Files that hold secrets (service keys, the key-encryption key, the dev chain's mnemonic):
written readable by the owner only (files 0600, their directories 0700) and refused when
group or others can read them.

POSIX file modes; the check follows OpenSSH's rule for private keys ("UNPROTECTED PRIVATE KEY
FILE": any group or other permission bit refuses the file).
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from heitje.errors import ConfigError

PRIVATE_FILE = 0o600
PRIVATE_DIR = 0o700


def ensure_private_dir(path: Path) -> Path:
    """Create directory `path` (and its parents) with mode 0700; an existing `path` that group
    or others may enter is tightened to 0700 (parents are left as they are). Returns `path`."""
    path.mkdir(parents=True, exist_ok=True, mode=PRIVATE_DIR)
    if stat.S_IMODE(path.stat().st_mode) & 0o077:
        path.chmod(PRIVATE_DIR)
    return path


def write_private(path: Path, text: str) -> None:
    """Write `text` to `path` with mode 0600, in a directory of mode 0700 (created if missing).

    The file is created 0600 (never readable by others, not even for a moment) and an existing
    file is set to 0600 before anything is written to it.
    """
    ensure_private_dir(path.parent)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, PRIVATE_FILE)
    try:
        os.fchmod(fd, PRIVATE_FILE)
    except BaseException:
        os.close(fd)
        raise
    with os.fdopen(fd, "w") as f:
        f.write(text)


def require_private(path: Path) -> None:
    """Refuse a secret file that group or others may read or write.

    Raises `ConfigError` (`key_file_exposed`) with a one-line message naming the file and the
    `chmod 600` that fixes it. A missing file passes (the caller reports it).
    """
    try:
        mode = stat.S_IMODE(path.stat().st_mode)
    except FileNotFoundError:
        return
    if mode & 0o077:
        raise ConfigError(
            f"{path} holds a secret but group or others may read it (mode {mode:04o}): "
            f"run `chmod 600 {path}` and start again",
            code="key_file_exposed",
        )
