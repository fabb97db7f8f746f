"""Proof of a task: the photos and the note a citizen sends in with a claimed task.

Photos are kept off chain, in the data directory (`DataDir.proofs`: `proofs/<task id>/<n>.jpg`),
never as uploaded: each is opened with Pillow (JPEG, PNG or WebP, at most `PHOTO_MAX_BYTES`
and `PIXELS_MAX`), turned upright by its EXIF orientation, scaled so its longest side is at
most `LONGEST_SIDE` pixels, and written again as a new JPEG from its pixels alone: no EXIF, no
GPS position, no camera make, no comment or colour profile survives. Only the citizen who sent
them in and staff (`PROOF_READERS`) may see them.
"""

from __future__ import annotations

import os
import threading
import warnings
from io import BytesIO
from pathlib import Path

from PIL import Image, ImageOps, UnidentifiedImageError

from domain import tasks
from domain.context import Caller, Context
from domain.schemas import TaskProofPublic, TaskPublic
from heitje.errors import Refused
from store import proofs
from store import tasks as task_rows
from store.db import transaction

PHOTOS_MAX = 3
"""Most photos sent in with one task."""
PHOTO_MAX_BYTES = 10 * 1024 * 1024
"""Largest photo file taken (10 MiB, as uploaded)."""
PIXELS_MAX = 64_000_000
"""Most pixels of a JPEG taken (width x height; a 50-megapixel phone camera fits): a JPEG is
decoded at 1/2, 1/4 or 1/8 of its size, so it never fills memory with its full size."""
PIXELS_MAX_OTHER = 16_000_000
"""Most pixels of a PNG or WebP taken: those are decoded at full size (16 MP RGBA with its
copies is about 250 MB; a tiny plain-colour PNG can claim 64 MP)."""
DECODING = threading.BoundedSemaphore(2)
"""Photos decoded at once by this process (each may take a few hundred MB for a moment)."""
LONGEST_SIDE = 1600
"""Longest side in pixels of a stored photo (larger ones are scaled down, never up)."""
JPEG_QUALITY = 85
NOTE_MAX = 2000
"""Most characters of the note."""
FORMATS = ("JPEG", "PNG", "WEBP")
"""Image formats taken, as Pillow's openers name them (JPEG also opens MPO: a JPEG with more
frames, as some phones take them; the first frame is kept)."""
PROOF_READERS = frozenset({"coordinator", "auditor", "admin"})
"""Roles that may see every proof (besides the citizen who sent it in)."""


def clean_photo(data: bytes) -> bytes:
    """The photo `data` (JPEG, PNG or WebP bytes) as a new JPEG without any metadata: upright
    (EXIF orientation applied), RGB, longest side at most `LONGEST_SIDE` px.

    Errors: 413 `photo_too_large` (more than `PHOTO_MAX_BYTES` bytes, or pixels: `PIXELS_MAX` for a
    JPEG, `PIXELS_MAX_OTHER` for PNG and WebP);
    422 `invalid_photo` (not an image Pillow reads as JPEG, PNG or WebP, or a broken one).
    """
    if len(data) > PHOTO_MAX_BYTES:
        raise Refused(413, "photo_too_large", f"a photo has at most {PHOTO_MAX_BYTES // 2**20} MiB")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with DECODING, Image.open(BytesIO(data), formats=FORMATS) as im:
                most = PIXELS_MAX if im.format == "JPEG" else PIXELS_MAX_OTHER
                if im.width * im.height > most:
                    raise Refused(413, "photo_too_large", f"a photo has at most {most} pixels")
                longest = max(im.width, im.height, 1)
                if im.format == "JPEG" and longest > LONGEST_SIDE:  # decode at 1/2, 1/4, 1/8
                    wanted = (
                        im.width * LONGEST_SIDE // longest,
                        im.height * LONGEST_SIDE // longest,
                    )
                    im.draft("RGB", (max(wanted[0], 1), max(wanted[1], 1)))
                im.load()
                upright = ImageOps.exif_transpose(im)
                rgb = _rgb(upright)
    except Refused:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise Refused(413, "photo_too_large", f"a photo has at most {PIXELS_MAX} pixels") from None
    except (
        UnidentifiedImageError,
        OSError,
        SyntaxError,
        ValueError,
        EOFError,
    ):
        raise Refused(422, "invalid_photo", "not a photo: send a JPEG, PNG or WebP image") from None
    rgb.thumbnail((LONGEST_SIDE, LONGEST_SIDE), Image.Resampling.LANCZOS)
    bare = Image.frombytes("RGB", rgb.size, rgb.tobytes())  # the pixels, nothing else
    out = BytesIO()
    bare.save(out, format="JPEG", quality=JPEG_QUALITY, optimize=True)
    return out.getvalue()


def _rgb(im: Image.Image) -> Image.Image:
    """`im` as RGB; transparent parts become white."""
    if im.mode in ("RGBA", "LA", "PA") or (im.mode == "P" and "transparency" in im.info):
        rgba = im.convert("RGBA")
        white = Image.new("RGB", rgba.size, (255, 255, 255))
        white.paste(rgba, mask=rgba.getchannel("A"))
        return white
    return im.convert("RGB")


def submit(ctx: Context, caller: Caller, ref: str, note: str, photos: list[bytes]) -> TaskPublic:
    """Send in claimed task `ref` (only by the citizen who claimed it) with `note` (1 to
    `NOTE_MAX` characters) and `photos` (1 to `PHOTOS_MAX` files as uploaded, each cleaned by
    `clean_photo`): the photos are stored, then the task is `submitted` and the proof recorded
    in one transaction. Refused: nothing stored, the task unchanged.

    Errors: 404 `task_not_found`; 403 `not_your_task`; 409 `task_not_claimed`; 413
    `photo_too_large`; 422 `photo_required`, `too_many_photos`, `invalid_photo`,
    `note_required`, `note_too_long`.
    """
    tasks.claimed_task(ctx, caller, ref)  # the cheap refusals first
    note = note.strip()
    if not photos:
        raise Refused(422, "photo_required", "send at least one photo of the work")
    if len(photos) > PHOTOS_MAX:
        raise Refused(422, "too_many_photos", f"send at most {PHOTOS_MAX} photos")
    if not note:
        raise Refused(422, "note_required", "say in a few words what you did")
    if len(note) > NOTE_MAX:
        raise Refused(422, "note_too_long", f"a note has at most {NOTE_MAX} characters")
    cleaned = [clean_photo(p) for p in photos]
    written: list[Path] = []
    try:
        with transaction(ctx.db):
            task = tasks.claimed_task(ctx, caller, ref)
            folder = _folder(ctx, int(task["id"]))
            folder.mkdir(parents=True, exist_ok=True, mode=0o700)
            for n, jpeg in enumerate(cleaned, start=1):
                written.append(_write(folder / f"{n}.jpg", jpeg))
            at = ctx.now.isoformat()
            proofs.insert(ctx.db, task["id"], caller.id, note, len(cleaned), at)
            task_rows.set_submitted(ctx.db, task["id"], at)
    except BaseException:
        for path in written:
            path.unlink(missing_ok=True)
        raise
    return tasks.get_task(ctx, ref, caller)


def _folder(ctx: Context, task_id: int) -> Path:
    return ctx.settings.paths.proofs / str(task_id)


def _write(path: Path, data: bytes) -> Path:
    """Write `data` to `path` whole (a temporary file renamed), owner-only."""
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    os.replace(tmp, path)
    return path


def may_see(caller: Caller | None, owner: int | None) -> bool:
    """True when `caller` may see the proof of a task sent in (or claimed) by user `owner`:
    that citizen, or staff (`PROOF_READERS`)."""
    if caller is None:
        return False
    return caller.role in PROOF_READERS or (owner is not None and caller.id == owner)


def _readable(ctx: Context, caller: Caller, ref: str) -> tuple[int, int, str, str]:
    """(task id, photos, note, sent in at) of the proof of `ref`, for `caller`.

    Errors: 404 `task_not_found`, `proof_not_found`; 403 `not_your_task`."""
    task = task_rows.get(ctx.db, ref)
    if task is None:
        raise Refused(404, "task_not_found", f"no published task {ref!r}")
    row = proofs.get(ctx.db, int(task["id"]))
    owner = row["user_id"] if row is not None else task["claimed_by"]
    if not may_see(caller, owner):
        raise Refused(403, "not_your_task", f"the proof of task {ref!r} is not yours to see")
    if row is None:
        raise Refused(404, "proof_not_found", f"task {ref!r} was sent in without photos")
    return int(task["id"]), int(row["photos"]), str(row["note"]), str(row["created_at"])


def proof(ctx: Context, caller: Caller, ref: str) -> TaskProofPublic:
    """The proof sent in with task `ref`: note, photo paths (`/tasks/<ref>/proof/<n>`), when.

    Errors: 404 `task_not_found`, `proof_not_found`; 403 `not_your_task`."""
    _, count, note, at = _readable(ctx, caller, ref)
    return TaskProofPublic(
        note=note,
        photos=[f"/tasks/{ref}/proof/{n}" for n in range(1, count + 1)],
        submitted_at=at,
    )


def photo(ctx: Context, caller: Caller, ref: str, n: int) -> Path:
    """The file of photo `n` (1-based) of the proof of task `ref` (a JPEG).

    Errors: 404 `task_not_found`, `proof_not_found`, `photo_not_found`; 403 `not_your_task`."""
    task_id, count, _, _ = _readable(ctx, caller, ref)
    path = _folder(ctx, task_id) / f"{n}.jpg"
    if not 1 <= n <= count or not path.is_file():
        raise Refused(404, "photo_not_found", f"task {ref!r} has no photo {n}")
    return path
