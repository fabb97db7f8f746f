"""The citizen's tasks (issue 10, item 3): task details, giving a task back, sending it in with
photos and a note, who sees the photos, the rejection reason; and the task pages in a phone
browser.

Without a browser, over the API of one stack: a task's place, deadline and materials; give
back (only the claimant, only before sending in; the task is open again); proof photos stored
re-encoded (a JPEG from a "phone" with EXIF, GPS position, camera make and a rotation comes
back upright, scaled to 1600 px, without any metadata) and larger than the 1 MiB body limit of
other routes; anything but a JPEG, PNG or WebP refused with nothing stored; the photos seen by
the citizen who sent them in and by staff only; the rejection reason seen by the citizen only;
a browser's `Accept` gets the pages at the API's addresses; an old database migrates to the
same tasks and proofs tables a new one has.

In Debian's chromium at 390x844: a citizen filters the tasks by neighbourhood, takes one, sends
it in with a photo and a note, a coordinator approves it (API) and the citizen sees it
approved; a photo that is not one is refused next to its field with the note kept; a task taken
with the keyboard alone; axe-core on every task page, logged out and in, in Dutch and English.
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import types
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from io import BytesIO
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import pytest
from PIL import ExifTags, Image

from domain.proofs import LONGEST_SIDE, PHOTO_MAX_BYTES
from domain.security import SESSION_COOKIE
from scripts.stack import Stack
from store.db import connect as connect_db
from store.db import init_db
from store.migrations import MIGRATIONS, _m_task_details
from tests.apiclient import Api
from tests.browser import axe_violations, browser_test, expect, log_in, phone_context, screenshot
from tests.conftest import fresh

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

REPO = Path(__file__).resolve().parents[1]
RED, BLUE = (220, 20, 20), (20, 20, 220)


# ----- helpers -----


def phone_photo(width: int = 2400, height: int = 1800) -> bytes:
    """A JPEG as a phone makes it: left half red, right half blue (with noise, so it is over
    1 MiB), EXIF with the camera make, orientation 6 (turn 90 degrees clockwise to show) and a
    GPS position, and a JPEG comment."""
    im = Image.new("RGB", (width, height), RED)
    im.paste(BLUE, (width // 2, 0, width, height))
    noise = Image.frombytes("L", (width, height), os.urandom(width * height)).convert("RGB")
    im = Image.blend(im, noise, 0.2)
    exif = Image.Exif()
    exif[ExifTags.Base.Make] = "PhoneCo"
    exif[ExifTags.Base.Model] = "Snapper 9"
    exif[ExifTags.Base.Orientation] = 6
    exif[ExifTags.IFD.GPSInfo] = {
        ExifTags.GPS.GPSLatitudeRef: "N",
        ExifTags.GPS.GPSLatitude: (50.0, 53.0, 17.0),
        ExifTags.GPS.GPSLongitudeRef: "E",
        ExifTags.GPS.GPSLongitude: (5.0, 58.0, 51.0),
    }
    out = BytesIO()
    im.save(out, "JPEG", quality=92, exif=exif, comment=b"Kerkstraat 12 Heerlen")
    data = out.getvalue()
    assert Image.open(BytesIO(data)).getexif().get_ifd(ExifTags.IFD.GPSInfo)  # it has GPS
    return data


def png_with_transparency() -> bytes:
    im = Image.new("RGBA", (300, 200), (0, 0, 0, 0))
    im.paste((0, 128, 0, 255), (0, 0, 150, 200))
    out = BytesIO()
    im.save(out, "PNG")
    return out.getvalue()


class People:
    """The stack's people: coordinator `coco` (approves), citizens `tina` and `otto`, an
    auditor and a finance officer; tasks published with their details."""

    def __init__(self, stack: Stack) -> None:
        self.stack = stack
        self.api = Api(stack)
        self.area = fresh("Welten")  # neighbourhoods of this module only
        self.other_area = fresh("Zeswegen")

    def prepare(self) -> People:
        self.api.staff("coco", "coordinator")
        self.api.staff("audrey", "auditor")
        self.api.staff("fien", "finance")
        for citizen in ("tina", "otto", "kees"):
            self.api.citizen(citizen)
        self.api.wait_registered("tina", "otto", "kees")
        return self

    def publish(self, ref: str, area: str | None = None, reward: str = "2.50") -> dict[str, Any]:
        r = self.api.request(
            "POST",
            "/tasks",
            self.api.publisher_name(),
            json={
                "ref": ref,
                "kind": "paint-bin",
                "title": f"Paint waste bin {ref}",
                "reward": reward,
                "neighbourhood": area or self.area,
                "place": "Corner of Kerkstraat and Pancratiusplein",
                "deadline": "2026-12-31",
                "materials": "Paint and brushes at the city depot, Beersdalweg 10",
            },
        )
        assert r.status_code == 201, r.text
        return dict(r.json())

    def call(self, method: str, path: str, user: str | None, **body: Any) -> httpx.Response:
        return self.api.request(method, path, user, json=body or None)

    def send_in(
        self, ref: str, user: str, photos: list[tuple[str, bytes, str]], note: str = "Painted."
    ) -> httpx.Response:
        """POST /tasks/{ref}/proof as `user` (multipart: `photos`, `note`)."""
        r = self.api.http.post(
            f"/tasks/{ref}/proof",
            headers={"Authorization": f"Bearer {self.api.token(user)}"},
            files=[("photos", p) for p in photos],
            data={"note": note},
        )
        self.api.http.cookies.clear()
        return r

    def stored_photos(self) -> list[Path]:
        return sorted(self.stack.paths.proofs.rglob("*"))


@pytest.fixture(scope="module")
def people(module_stack: Stack) -> Iterator[Future[People]]:
    """The people, made in a background thread while the browser starts."""
    p = People(module_stack)
    try:
        with ThreadPoolExecutor(1) as pool:
            yield pool.submit(p.prepare)
    finally:
        p.api.close()


def code(r: httpx.Response) -> tuple[int, str | None]:
    body = r.json() if r.headers.get("content-type", "").startswith("application/json") else {}
    return r.status_code, body.get("code") if isinstance(body, dict) else None


# ----- the database -----


def test_an_old_database_gets_the_task_details_and_proofs(tmp_path: Path) -> None:
    """A database from before (the schema of the commit before this change, at the migration
    version of that time) migrates to the tasks and proofs tables a new database gets, keeping
    its tasks (no place, deadline or materials: '' and NULL)."""
    shown = subprocess.run(
        ["git", "-C", str(REPO), "show", "fbd40e6:store/db.py"],
        capture_output=True,
        text=True,
        check=False,
    )
    if shown.returncode != 0:
        pytest.skip("no git history with fbd40e6")
    old = types.ModuleType("old_store_db")
    exec(compile(shown.stdout, "old_store_db", "exec"), old.__dict__)
    path = tmp_path / "old.sqlite"
    conn = sqlite3.connect(path)
    try:
        conn.executescript(old.SCHEMA)
        conn.execute(f"PRAGMA user_version = {MIGRATIONS.index(_m_task_details)}")
        conn.execute(
            "INSERT INTO users (username, role, password_hash, name, created_at) "
            "VALUES ('pub', 'coordinator', 'x', 'Pub', 't')"
        )
        conn.execute(
            "INSERT INTO tasks (ref, kind, title, reward, status, published_by, published_at) "
            "VALUES ('old-1', 'paint', 'Old bin', 250, 'open', 1, 't')"
        )
        conn.commit()
    finally:
        conn.close()
    init_db(path)
    init_db(tmp_path / "new.sqlite")
    migrated, new = connect_db(path), connect_db(tmp_path / "new.sqlite")
    try:
        for pragma in ("table_info(tasks)", "table_info(proofs)", "index_list(tasks)"):
            got = [tuple(r) for r in migrated.execute(f"PRAGMA {pragma}")]
            assert got == [tuple(r) for r in new.execute(f"PRAGMA {pragma}")], pragma
        row = migrated.execute(
            "SELECT ref, place, deadline, materials, rejection_reason FROM tasks"
        ).fetchone()
        assert tuple(row) == ("old-1", "", None, "", None)
    finally:
        migrated.close()
        new.close()


# ----- the API -----


def test_a_task_has_place_deadline_and_materials(people: Future[People]) -> None:
    p = people.result()
    ref = fresh("detail-")
    published = p.publish(ref)
    assert (published["place"], published["deadline"], published["materials"]) == (
        "Corner of Kerkstraat and Pancratiusplein",
        "2026-12-31",
        "Paint and brushes at the city depot, Beersdalweg 10",
    )
    assert p.call("GET", f"/tasks/{ref}", None).json() == published
    listed = p.call("GET", f"/tasks?neighbourhood={p.area}", None).json()
    assert ref in {t["ref"] for t in listed}
    assert all(t["neighbourhood"] == p.area for t in listed)
    bad = p.api.request(
        "POST",
        "/tasks",
        p.api.publisher_name(),
        json={
            "ref": fresh("bad-"),
            "kind": "k",
            "title": "t",
            "reward": "1.00",
            "deadline": "31-12",
        },
    )
    assert code(bad) == (422, "invalid_request")


def test_a_claimed_task_is_given_back_by_its_claimant_only(people: Future[People]) -> None:
    p = people.result()
    ref = fresh("back-")
    p.publish(ref)
    assert code(p.call("POST", f"/tasks/{ref}/give-back", "tina")) == (409, "task_not_claimed")
    assert p.call("POST", f"/tasks/{ref}/claim", "tina").status_code == 200
    assert code(p.call("POST", f"/tasks/{ref}/give-back", "otto")) == (403, "not_your_task")
    assert code(p.call("POST", f"/tasks/{ref}/give-back", "coco")) == (403, "forbidden")
    r = p.call("POST", f"/tasks/{ref}/give-back", "tina")
    assert r.status_code == 200
    assert (r.json()["status"], r.json()["claimed_by"]) == ("open", None)
    assert code(p.call("POST", f"/tasks/{ref}/give-back", "tina")) == (409, "task_not_claimed")
    # Open again: someone else takes it; sent in, it cannot be given back.
    assert p.call("POST", f"/tasks/{ref}/claim", "otto").json()["claimed_by"] == "otto"
    assert p.call("POST", f"/tasks/{ref}/submit", "otto").status_code == 200
    assert code(p.call("POST", f"/tasks/{ref}/give-back", "otto")) == (409, "task_not_claimed")
    p.api.check_responses()


def test_proof_photos_are_stored_upright_scaled_and_without_metadata(
    people: Future[People],
) -> None:
    p = people.result()
    ref = fresh("proof-")
    p.publish(ref)
    assert p.call("POST", f"/tasks/{ref}/claim", "tina").status_code == 200
    photo = phone_photo()
    assert len(photo) > 1024 * 1024  # over the body limit of every other route
    r = p.send_in(
        ref,
        "tina",
        [("bin.jpg", photo, "image/jpeg"), ("bin.png", png_with_transparency(), "image/png")],
        note="Painted it green.\nTwo coats.",
    )
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "submitted"
    proof = p.call("GET", f"/tasks/{ref}/proof", "tina").json()
    assert proof["note"] == "Painted it green.\nTwo coats."
    assert proof["photos"] == [f"/tasks/{ref}/proof/1", f"/tasks/{ref}/proof/2"]

    served = p.call("GET", proof["photos"][0], "tina")
    assert served.status_code == 200 and served.headers["content-type"] == "image/jpeg"
    assert "no-store" in served.headers["cache-control"]
    on_disk = [f for f in p.stored_photos() if f.is_file() and f.read_bytes() == served.content]
    assert len(on_disk) == 1 and on_disk[0].name == "1.jpg"
    assert on_disk[0].stat().st_mode & 0o077 == 0  # owner only
    stored = Image.open(BytesIO(served.content))
    assert stored.format == "JPEG"
    # Turned upright (orientation 6: 90 degrees clockwise), then the longest side to 1600 px:
    # 2400x1800 -> 1800x2400 -> 1200x1600; the red left half is now the top.
    assert stored.size == (1800 * LONGEST_SIDE // 2400, LONGEST_SIDE)
    top, bottom = stored.getpixel((600, 200)), stored.getpixel((600, 1400))
    assert isinstance(top, tuple) and isinstance(bottom, tuple)
    assert top[0] > 150 and top[2] < 80, top
    assert bottom[2] > 150 and bottom[0] < 80, bottom
    assert dict(stored.getexif()) == {}
    assert not {"exif", "icc_profile", "comment", "dpi", "xmp"} & set(stored.info)
    for secret in (b"Exif", b"PhoneCo", b"Snapper", b"Kerkstraat", b"http://ns.adobe.com"):
        assert secret not in served.content, secret
    # The PNG: transparent parts white, a JPEG too, small images not enlarged.
    second = Image.open(BytesIO(p.call("GET", proof["photos"][1], "tina").content))
    assert (second.format, second.size) == ("JPEG", (300, 200))
    right = second.getpixel((250, 100))
    assert isinstance(right, tuple) and min(right) > 240, right
    p.api.check_responses()


def test_a_proof_is_seen_by_its_citizen_and_staff_only(people: Future[People]) -> None:
    p = people.result()
    ref = fresh("seen-")
    p.publish(ref)
    assert p.call("POST", f"/tasks/{ref}/claim", "tina").status_code == 200
    assert (
        p.send_in(ref, "tina", [("a.jpg", phone_photo(400, 300), "image/jpeg")]).status_code == 200
    )
    photo = f"/tasks/{ref}/proof/1"
    for user in ("tina", "coco", "audrey", "admin"):
        assert p.call("GET", photo, user).status_code == 200, user
        assert p.call("GET", f"/tasks/{ref}/proof", user).status_code == 200, user
    assert code(p.call("GET", photo, "otto")) == (403, "not_your_task")
    assert code(p.call("GET", f"/tasks/{ref}/proof", "otto")) == (403, "not_your_task")
    assert code(p.call("GET", photo, "fien")) == (403, "forbidden")
    assert code(p.call("GET", photo, None)) == (401, "unauthorized")
    assert code(p.call("GET", f"/tasks/{ref}/proof/2", "tina")) == (404, "photo_not_found")
    assert code(p.call("GET", f"/tasks/{ref}/proof/4", "tina")) == (422, "invalid_request")
    # A task sent in over the JSON API without photos has no proof.
    plain = fresh("plain-")
    p.publish(plain)
    p.call("POST", f"/tasks/{plain}/claim", "tina")
    p.call("POST", f"/tasks/{plain}/submit", "tina")
    assert code(p.call("GET", f"/tasks/{plain}/proof", "tina")) == (404, "proof_not_found")
    p.api.check_responses()


def test_anything_but_a_photo_is_refused_and_nothing_is_stored(people: Future[People]) -> None:
    p = people.result()
    ref = fresh("refused-")
    p.publish(ref)
    assert p.call("POST", f"/tasks/{ref}/claim", "kees").status_code == 200
    before = p.stored_photos()
    good = ("ok.jpg", phone_photo(300, 200), "image/jpeg")
    gif = BytesIO()
    Image.new("RGB", (20, 20)).save(gif, "GIF")
    bad = "invalid_photo"
    refusals = {
        "text named .jpg": ([("bin.jpg", b"not a photo at all", "image/jpeg")], 422, bad),
        "a GIF": ([("bin.gif", gif.getvalue(), "image/gif")], 422, bad),
        "a cut-off JPEG": ([("cut.jpg", phone_photo(300, 200)[:400], "image/jpeg")], 422, bad),
        "a good and a bad one": (
            [good, ("x.png", b"\x89PNG\r\n\x1a\nrubbish", "image/png")],
            422,
            bad,
        ),
        "four photos": ([good] * 4, 422, "too_many_photos"),
        "none": ([], 422, "photo_required"),
        "over 10 MiB": (
            [("big.jpg", b"\xff" * (PHOTO_MAX_BYTES + 1), "image/jpeg")],
            413,
            "photo_too_large",
        ),
    }
    for what, (photos, status, expected) in refusals.items():
        assert code(p.send_in(ref, "kees", photos)) == (status, expected), what
    assert code(p.send_in(ref, "kees", [good], note="  ")) == (422, "note_required")
    assert code(p.send_in(ref, "kees", [good], note="x" * 2001)) == (422, "note_too_long")
    assert code(p.send_in(ref, "otto", [good])) == (403, "not_your_task")
    assert p.stored_photos() == before
    task = p.call("GET", f"/tasks/{ref}", "kees").json()
    assert task["status"] == "claimed"
    assert code(p.call("GET", f"/tasks/{ref}/proof", "kees")) == (404, "proof_not_found")
    assert p.send_in(ref, "kees", [good]).status_code == 200  # and then it works
    p.api.check_responses()


def test_the_rejection_reason_is_for_the_citizen(people: Future[People]) -> None:
    p = people.result()
    ref = fresh("reason-")
    p.publish(ref)
    p.call("POST", f"/tasks/{ref}/claim", "tina")
    p.call("POST", f"/tasks/{ref}/submit", "tina")
    assert code(p.call("POST", f"/tasks/{ref}/reject", "coco", reason="x" * 1001)) == (
        422,
        "invalid_request",
    )
    reason = "The bin is still rusty at the back."
    r = p.call("POST", f"/tasks/{ref}/reject", "coco", reason=reason)
    assert r.status_code == 200 and r.json()["rejection_reason"] == reason
    assert p.call("GET", f"/tasks/{ref}", "tina").json()["rejection_reason"] == reason
    assert p.call("GET", f"/tasks/{ref}", "otto").json()["rejection_reason"] is None
    assert p.call("GET", f"/tasks/{ref}", None).json()["rejection_reason"] is None
    # On the task's page, in the citizen's language.
    page = httpx.get(
        f"{p.stack.api_url}/tasks/{ref}",
        headers={"Accept": "text/html", "Accept-Language": "nl"},
        cookies={SESSION_COOKIE: p.api.token("tina")},
    )
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert "Waarom het werk niet is goedgekeurd:" in page.text and reason in page.text
    # Without a body (API clients from before): rejected, no reason.
    other = fresh("reason-")
    p.publish(other)
    p.call("POST", f"/tasks/{other}/claim", "tina")
    p.call("POST", f"/tasks/{other}/submit", "tina")
    r = p.api.request("POST", f"/tasks/{other}/reject", "coco")
    assert (r.status_code, r.json()["rejection_reason"]) == (200, "")
    p.api.check_responses()


def test_a_browser_gets_the_pages_at_the_api_addresses(people: Future[People]) -> None:
    p = people.result()
    ref = fresh("accept-")
    p.publish(ref)
    url = p.stack.api_url
    browser_accept = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"
    for path in ("/tasks", f"/tasks/{ref}"):
        html = httpx.get(url + path, headers={"Accept": browser_accept})
        assert html.headers["content-type"].startswith("text/html"), path
        for accept in ("*/*", "application/json", "application/json, text/html;q=0.5"):
            r = httpx.get(url + path, headers={"Accept": accept})
            assert r.headers["content-type"] == "application/json", (path, accept)
    assert "Paint waste bin" in httpx.get(url + "/tasks", headers={"Accept": "text/html"}).text
    missing = httpx.get(url + "/tasks/no-such-task", headers={"Accept": "text/html"})
    assert missing.status_code == 404 and "text/html" in missing.headers["content-type"]
    mine = httpx.get(url + "/tasks?mine=1", headers={"Accept": "text/html"})
    assert (mine.status_code, mine.headers["location"]) == (303, "/")
    # The page's form: no session, or not a citizen, is refused like every page form.
    form = httpx.post(url + f"/tasks/{ref}", data={"action": "claim", "csrf_token": "x"})
    assert code(form) == (403, "csrf_failed")
    assert p.call("GET", f"/tasks/{ref}", None).json()["status"] == "open"


# ----- in the browser -----


def _photo_file(data: bytes, name: str = "bin.jpg", mime: str = "image/jpeg") -> dict[str, Any]:
    return {"name": name, "mimeType": mime, "buffer": data}


def _status(page: Page) -> str:
    return page.locator(".heitje-task-status").first.inner_text()


@browser_test
def test_a_citizen_takes_and_sends_in_a_task_on_a_phone(
    people: Future[People], browser: Browser, tmp_path: Path
) -> None:
    p = people.result()
    citizen = fresh("anna")
    p.api.citizen(citizen)
    p.api.wait_registered(citizen)
    here, there = fresh("paint-"), fresh("paint-")
    p.publish(here, p.area, reward="3.00")
    p.publish(there, p.other_area)
    url = p.stack.api_url
    context = phone_context(browser)
    try:
        page = context.new_page()
        log_in(page, url, citizen, p.api.passwords[citizen])
        page.goto(url + "/tasks")
        expect(page.get_by_role("heading", level=1)).to_have_text("Klussen")
        expect(page.get_by_role("link", name=f"Paint waste bin {there}")).to_be_visible()
        # Filter by neighbourhood: a plain GET form.
        page.get_by_label("Wijk").select_option(p.area)
        page.get_by_role("button", name="Klussen tonen").click()
        expect(page).to_have_url(f"{url}/tasks?neighbourhood={p.area}")
        expect(page.get_by_role("link", name=f"Paint waste bin {there}")).to_have_count(0)
        card = page.locator(".heitje-task-card", has_text=f"Paint waste bin {here}")
        expect(card).to_contain_text("3,00 munten")
        expect(card).to_contain_text("Corner of Kerkstraat and Pancratiusplein")
        expect(card).to_contain_text("31 december 2026")
        expect(card).to_contain_text("Paint and brushes at the city depot")
        screenshot(page, "tasks-nl", tmp_path)
        card.get_by_role("link").click()

        # Take it.
        expect(page.get_by_role("heading", level=1)).to_have_text(f"Paint waste bin {here}")
        expect(page.locator(".heitje-task-status")).to_have_text("Open")
        page.get_by_role("button", name="Ik doe deze klus").click()
        expect(page.locator("#notice")).to_contain_text("De klus is van u.")
        expect(page.locator(".heitje-task-status")).to_have_text("Aangenomen")
        assert p.call("GET", f"/tasks/{here}", citizen).json()["claimed_by"] == citizen
        photos = page.locator("#photos")
        expect(photos).to_have_attribute("capture", "environment")
        expect(photos).to_have_attribute("accept", "image/*")
        assert photos.evaluate("e => e.multiple") is True

        # A file that is no photo: refused next to the field, the note kept, nothing changed.
        page.get_by_label("Wat heeft u gedaan?").fill("Geverfd, twee lagen.")
        photos.set_input_files(_photo_file(b"plain text", "notes.jpg"))
        page.get_by_role("button", name="Insturen").click()
        expect(page.locator("#photos-error")).to_have_text(
            "Dit is geen foto die wij kunnen gebruiken. Kies een foto van het type JPEG, PNG of "
            "WebP."
        )
        expect(page.get_by_label("Wat heeft u gedaan?")).to_have_value("Geverfd, twee lagen.")
        expect(page.locator(".heitje-task-status")).to_have_text("Aangenomen")
        screenshot(page, "task-refused-photo-nl", tmp_path)

        # Send it in with a photo from the camera.
        page.locator("#photos").set_input_files(_photo_file(phone_photo(1200, 900)))
        page.get_by_role("button", name="Insturen").click()
        expect(page.locator("#notice")).to_contain_text("Ingestuurd.")
        expect(page.locator(".heitje-task-status")).to_have_text("Ingestuurd")
        expect(page.locator("#proof-note")).to_have_text("Geverfd, twee lagen.")
        img = page.get_by_role("img", name="Foto 1 van het werk")
        expect(img).to_be_visible()
        # Upright (orientation 6): 900 wide, 1200 high; under 1600 px, so not scaled.
        page.wait_for_function(
            "() => { const i = document.querySelector('.heitje-proof__photo');"
            " return i !== null && i.complete && i.naturalWidth > 0; }"
        )
        assert img.evaluate("i => i.naturalWidth") == 900
        screenshot(page, "task-submitted-nl", tmp_path)

        # A coordinator approves (API); the citizen sees it.
        r = p.api.approve(here)
        assert r.status_code == 200, r.text
        page.reload()
        expect(page.locator(".heitje-task-status")).to_have_text("Goedgekeurd")
        expect(page.get_by_text("Uw werk is goedgekeurd.")).to_be_visible()
        page.goto(url + "/tasks?mine=1")
        expect(page.get_by_role("heading", level=1)).to_have_text("Mijn klussen")
        mine = page.locator(".heitje-task-card", has_text=f"Paint waste bin {here}")
        expect(mine.locator(".heitje-task-status")).to_have_text("Goedgekeurd")
        expect(page.locator(".heitje-task-card", has_text=there)).to_have_count(0)
    finally:
        context.close()


@browser_test
def test_a_task_is_taken_with_the_keyboard_alone(people: Future[People], browser: Browser) -> None:
    p = people.result()
    ref = fresh("keys-")
    p.publish(ref)
    url = p.stack.api_url
    context = phone_context(browser, "en-GB")
    try:
        page = context.new_page()
        log_in(page, url, "otto", p.api.passwords["otto"])
        page.goto(f"{url}/tasks/{ref}")
        button = page.get_by_role("button", name="Take this task")
        for _ in range(40):
            page.keyboard.press("Tab")
            if button.evaluate("b => b === document.activeElement"):
                break
        else:
            pytest.fail("Tab never reached the button")
        page.keyboard.press("Enter")
        expect(page.locator("#notice")).to_have_text(
            "The task is yours. When it is done, send it in with a photo."
        )
        expect(page.locator(".heitje-task-status")).to_have_text("Claimed")
    finally:
        context.close()
    assert p.call("GET", f"/tasks/{ref}", "otto").json()["claimed_by"] == "otto"


@browser_test
def test_every_task_page_passes_axe_in_both_languages(
    people: Future[People], browser: Browser, tmp_path: Path
) -> None:
    """The list (all, filtered, mine), a task open, taken (the send-in form, and with a refused
    photo), rejected with photos and a reason; logged out and as a citizen; nl and en."""
    p = people.result()
    url = p.stack.api_url
    open_ref, taken, rejected = fresh("axe-"), fresh("axe-"), fresh("axe-")
    for ref in (open_ref, taken, rejected):
        p.publish(ref)
    for ref in (taken, rejected):
        assert p.call("POST", f"/tasks/{ref}/claim", "tina").status_code == 200
    assert (
        p.send_in(rejected, "tina", [("a.jpg", phone_photo(600, 400), "image/jpeg")]).status_code
        == 200
    )
    p.call("POST", f"/tasks/{rejected}/reject", "coco", reason="Too much paint on the pavement.")
    found: dict[str, list[dict[str, Any]]] = {}
    for lang in ("nl", "en"):
        for who in (None, "tina"):
            context = phone_context(browser)
            context.add_cookies([{"name": "heitje_lang", "value": lang, "url": url}])
            try:
                page = context.new_page()
                paths = [
                    "/tasks",
                    f"/tasks?neighbourhood={p.area}",
                    f"/tasks/{open_ref}",
                    "/tasks/no-such-task",
                ]
                if who is not None:
                    log_in(page, url, who, p.api.passwords[who])
                    paths += ["/tasks?mine=1", f"/tasks/{taken}", f"/tasks/{rejected}"]
                for path in paths:
                    page.goto(url + path)
                    found[f"{lang} {who or 'logged out'} {path}"] = axe_violations(page)
                if who is not None:
                    page.goto(f"{url}/tasks/{taken}")
                    page.locator("#note").fill("Done.")
                    page.locator("#gallery").set_input_files(
                        _photo_file(b"no", "x.png", "image/png")
                    )
                    page.locator("#submit-form button[type=submit]").click()
                    expect(page.locator("#photos-error")).to_be_visible()
                    found[f"{lang} {who} refused photo"] = axe_violations(page)
                    page.goto(f"{url}/tasks/{rejected}")
                    expect(page.locator("#rejection-reason")).to_have_text(
                        "Too much paint on the pavement."
                    )
                    screenshot(page, f"task-rejected-{lang}", tmp_path)
            finally:
                context.close()
    bad = {k: v for k, v in found.items() if v}
    assert bad == {}, json.dumps(bad, indent=1)
