"""Secrets (issue 9, item 2): no private key or mnemonic on a command line, in a log, in a
response or in a file others may read; key files owner-only and checked at start; the
key-encryption key (KEK) carries a key id and a check value, a wrong one is refused at start;
rotating the KEK re-encrypts every custodial key and resumes after an interruption."""

from __future__ import annotations

import base64
import contextlib
import hashlib
import hmac
import json
import os
import signal
import sqlite3
import stat
import subprocess
import threading
import time
from pathlib import Path

import httpx
import psutil
import pytest
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from eth_account import Account

from domain.keyring import check_at_start
from domain.security import open_custodial_key, seal_custodial_key
from heitje.datadir import DataDir
from heitje.errors import ConfigError
from heitje.settings import Settings
from node.anvil import Anvil, dev_private_key
from node.keys import SERVICE_ROLES, service_key, write_key
from scripts.deploy import ensure_kek
from scripts.stack import HEITJE_COMMAND
from store import accounts
from store.db import connect, init_db, transaction
from tests.conftest import cli_env, run_heitje, shared_scenario

ETHER = 10**18


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def _key_id(kek: bytes) -> str:
    """The key id as docs/operations.md defines it: HMAC-SHA256(KEK, "heitje kek id v1"),
    first 8 bytes in hex."""
    return hmac.new(kek, b"heitje kek id v1", hashlib.sha256).hexdigest()[:16]


def _kek(data_dir: Path) -> bytes:
    return base64.b64decode(DataDir(data_dir).kek.read_text().strip())


def _assert_refused(result: subprocess.CompletedProcess[str], *words: str) -> str:
    """Exit 2, one line on stderr starting with "heitje:" and holding `words`, no traceback."""
    lines = result.stderr.splitlines()
    assert result.returncode == 2, result.stderr[-2000:]
    assert len(lines) == 1, result.stderr[-2000:]
    assert lines[0].startswith("heitje: ") and "Traceback" not in result.stderr
    for word in words:
        assert word in lines[0], lines[0]
    return lines[0]


def _serve(data_dir: Path, **env: str) -> subprocess.CompletedProcess[str]:
    """`heitje api serve` for `data_dir` on a closed chain port: it must refuse before serving."""
    args = ["api", "serve", "--data-dir", str(data_dir), "--rpc-url", "http://127.0.0.1:9"]
    return run_heitje(*args, "--port", "9", cwd=None, timeout=120, **env)


def _settings(data_dir: Path) -> Settings:
    """The service's settings for `data_dir`, its KEK from DIR/keys/kek.key (not the caller's
    environment)."""
    return Settings(data_dir=data_dir, kek=None, kek_file=None)


def _service_dir(tmp_path: Path) -> Path:
    """A data dir as `heitje deploy` leaves it, without a chain: service keys and a KEK."""
    data_dir = tmp_path / "data"
    for role in SERVICE_ROLES:
        write_key(DataDir(data_dir).key(role), Account.create().key.hex())
    ensure_kek(data_dir)
    return data_dir


# ----- anvil -----


def test_anvil_gets_no_key_on_its_command_line_and_logs_none(tmp_path: Path) -> None:
    chain = Anvil(tmp_path)
    rpc_url = chain.start()
    try:
        assert chain.process is not None
        cmdline = Path(f"/proc/{chain.process.pid}/cmdline").read_bytes().replace(b"\0", b" ")
        config = json.loads((tmp_path / "chain" / "chain.json").read_text())
        keys = [dev_private_key(tmp_path, i) for i in range(10)]

        def rpc(method: str, *params: object) -> object:
            return httpx.post(
                rpc_url, json={"jsonrpc": "2.0", "id": 1, "method": method, "params": params}
            ).json()["result"]

        # The dev accounts of the data dir's mnemonic are funded (1,000,000 ether each), and
        # the node offers no account of its own (nothing unlocked, no well-known dev keys).
        for key in keys:
            address = Account.from_key(key).address
            assert int(str(rpc("eth_getBalance", address, "latest")), 16) == 1_000_000 * ETHER
        assert rpc("eth_accounts") == []
        spent = Account.from_key(keys[9]).address
        rpc("anvil_setBalance", spent, hex(5))
    finally:
        chain.stop()
    assert str(config["mnemonic"]).encode() not in cmdline
    for word in str(config["mnemonic"]).split():
        assert f" {word} ".encode() not in cmdline
    for key in keys:
        assert key[2:].encode() not in cmdline.lower()
    log = (tmp_path / "chain" / "anvil.log").read_bytes().lower()
    for key in keys:
        assert key[2:].encode() not in log
    assert str(config["mnemonic"]).encode() not in log
    assert b"private key" not in log and b"mnemonic" not in log
    assert _mode(tmp_path / "chain" / "chain.json") == 0o600
    assert _mode(tmp_path / "chain") == 0o700
    # A restart on the saved state funds nobody again: an account that spent keeps its balance.
    again = Anvil(tmp_path)
    again.start()
    try:
        balance = httpx.post(
            again.rpc_url,
            json={
                "jsonrpc": "2.0",
                "id": 1,
                "method": "eth_getBalance",
                "params": [spent, "latest"],
            },
        ).json()["result"]
        assert int(balance, 16) == 5
    finally:
        again.stop()


def test_an_old_anvil_log_with_the_banner_is_deleted_at_start(tmp_path: Path) -> None:
    """The defect (review): a data directory from before `--quiet` kept anvil's old banner,
    with every dev key and the mnemonic, in `chain/anvil.log`; anvil appended to it."""
    first = Anvil(tmp_path)
    first.start()
    first.stop()
    key = dev_private_key(tmp_path, 0)
    log = tmp_path / "chain" / "anvil.log"
    log.write_text(f"Available Accounts\n\nPrivate Keys\n==================\n(0) {key}\n")
    again = Anvil(tmp_path)
    again.start()
    again.stop()
    assert key[2:].encode() not in (log.read_bytes().lower() if log.exists() else b"")


def test_an_exposed_chain_json_is_refused(tmp_path: Path) -> None:
    (tmp_path / "chain").mkdir()
    path = tmp_path / "chain" / "chain.json"
    path.write_text(json.dumps({"chain_id": 46_400, "mnemonic": "x", "accounts": 1}))
    path.chmod(0o644)
    with pytest.raises(ConfigError) as e:
        Anvil(tmp_path).start()
    assert e.value.code == "key_file_exposed" and f"chmod 600 {path}" in str(e.value)


# ----- key files -----


def test_key_files_are_written_0600_in_a_0700_directory(tmp_path: Path) -> None:
    keys = tmp_path / "keys"
    old = keys / "minter.key"
    keys.mkdir(mode=0o755)
    keys.chmod(0o755)
    old.write_text("00" * 32)
    old.chmod(0o644)  # a key file left readable by an older version or by hand
    write_key(old, Account.create().key.hex())
    write_key(keys / "admin.key", Account.create().key.hex())
    assert _mode(old) == 0o600 and _mode(keys / "admin.key") == 0o600
    assert _mode(keys) == 0o700
    data_dir = tmp_path / "data"
    kek = ensure_kek(data_dir)
    assert _mode(kek) == 0o600 and _mode(kek.parent) == 0o700


@pytest.mark.parametrize("name", ["relayer.key", "kek.key"])
def test_a_key_file_readable_by_others_is_refused_at_start(tmp_path: Path, name: str) -> None:
    data_dir = _service_dir(tmp_path)
    path = DataDir(data_dir).keys / name
    path.chmod(0o644)
    line = _assert_refused(_serve(data_dir), str(path), f"chmod 600 {path}")
    assert "0644" in line
    with pytest.raises(ConfigError) as e:
        if name == "relayer.key":
            service_key(DataDir(data_dir).keys, "relayer")
        else:
            _settings(data_dir).key_encryption_key()
    assert e.value.code == "key_file_exposed"
    path.chmod(0o600)
    assert check_at_start(_settings(data_dir)) == _key_id(_kek(data_dir))


# ----- the KEK's key id and check value -----


def _add_custodial_keys(
    data_dir: Path, kek: bytes, n: int, *, key_id: str | None, rotations: int = 0
) -> dict[str, bytes]:
    """`n` accounts with custodial keys sealed under `kek` (the last `rotations` of them with a
    pending key rotation too), stored through `store`; returns address -> raw private key."""
    init_db(DataDir(data_dir).service_db)
    conn = connect(DataDir(data_dir).service_db)
    raw: dict[str, bytes] = {}
    try:
        with transaction(conn):
            for i in range(n):
                key = os.urandom(32)
                address = Account.from_key(key).address
                raw[address] = key
                user_id = accounts.insert_user(
                    conn,
                    username=f"citizen{i}-{address[2:8]}",
                    role="citizen",
                    password_hash="!",
                    name="",
                    address=address,
                )
                nonce, ct = seal_custodial_key(kek, key, address)
                accounts.insert_custodial_key(conn, user_id, address, nonce, ct, "x")
                if i >= n - rotations:
                    new_key = os.urandom(32)
                    new_address = Account.from_key(new_key).address
                    raw[new_address] = new_key
                    nonce, ct = seal_custodial_key(kek, new_key, new_address)
                    accounts.start_rotation(conn, user_id, new_address, nonce, ct, "lost_key", "x")
            for table in ("custodial_keys", "key_rotations"):  # as sealed before key ids
                conn.execute(f"UPDATE {table} SET key_id = ?", (key_id,))
    finally:
        conn.close()
    return raw


def _sealed_rows(data_dir: Path) -> list[tuple[str, bytes, bytes, str | None]]:
    db = sqlite3.connect(f"file:{DataDir(data_dir).service_db}?mode=ro", uri=True)
    try:
        return db.execute(
            "SELECT address, nonce, ciphertext, key_id FROM custodial_keys UNION ALL "
            "SELECT new_address, nonce, ciphertext, key_id FROM key_rotations"
        ).fetchall()
    finally:
        db.close()


def _check_row(data_dir: Path) -> tuple[str, ...] | None:
    db = sqlite3.connect(f"file:{DataDir(data_dir).service_db}?mode=ro", uri=True)
    try:
        row = db.execute("SELECT key_id FROM kek_check").fetchone()
    finally:
        db.close()
    return None if row is None else tuple(row)


def test_a_wrong_but_well_formed_kek_is_refused_at_start(tmp_path: Path) -> None:
    data_dir = _service_dir(tmp_path)
    right = _kek(data_dir)
    # A database from before check values: its custodial keys carry no key id.
    raw = _add_custodial_keys(data_dir, right, 3, key_id=None, rotations=1)
    wrong = base64.b64encode(os.urandom(32)).decode()
    line = _assert_refused(_serve(data_dir, HEITJE_KEK=wrong), "cannot open 4 of its 4")
    assert _key_id(base64.b64decode(wrong)) in line
    assert _check_row(data_dir) is None  # nothing adopted, nothing stamped
    assert {r[3] for r in _sealed_rows(data_dir)} == {None}
    # The right KEK is adopted at its first start: key id and check value stored, keys stamped.
    result = run_heitje("kek", "check", "--data-dir", str(data_dir))
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == _key_id(right)
    assert _check_row(data_dir) == (_key_id(right),)
    assert {r[3] for r in _sealed_rows(data_dir)} == {_key_id(right)}
    assert len(raw) == 4
    # From then on a wrong KEK cannot open the check value, even with no custodial key at all.
    _assert_refused(_serve(data_dir, HEITJE_KEK=wrong), "check value")
    empty = _service_dir(tmp_path / "fresh")
    check_at_start(_settings(empty))  # first start: the check value is stored
    _assert_refused(_serve(empty, HEITJE_KEK=wrong), _key_id(base64.b64decode(wrong)))


# ----- rotation -----


def _rotate(data_dir: Path, new_kek: Path, **env: str) -> subprocess.CompletedProcess[str]:
    args = ["kek", "rotate", "--new-kek-file", str(new_kek), "--data-dir", str(data_dir)]
    return run_heitje(*args, cwd=None, timeout=300, **env)


def _kek_new(tmp_path: Path, name: str) -> tuple[Path, bytes]:
    path = tmp_path / name
    result = run_heitje("kek", "new", str(path))
    assert result.returncode == 0, result.stderr
    new = base64.b64decode(path.read_text().strip())
    assert result.stdout.strip() == _key_id(new) and _mode(path) == 0o600
    return path, new


def _open(kek: bytes, address: str, nonce: bytes, ciphertext: bytes) -> bytes:
    """A sealed key opened as sealed: AES-256-GCM, the address as associated data."""
    return AESGCM(kek).decrypt(nonce, ciphertext, address.encode())


def _assert_all_under(data_dir: Path, kek: bytes, raw: dict[str, bytes]) -> None:
    rows = _sealed_rows(data_dir)
    assert len(rows) == len(raw)
    for address, nonce, ct, key_id in rows:
        assert key_id == _key_id(kek)
        assert _open(kek, address, nonce, ct) == raw[address]


def _add_staff_totp_secret(data_dir: Path, kek: bytes) -> tuple[int, bytes]:
    """A coordinator with a TOTP secret sealed under `kek` as `domain.second_factor` seals it
    (AES-256-GCM, the account id in the associated data); returns (user id, secret)."""
    conn = connect(DataDir(data_dir).service_db)
    secret = b"JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"
    try:
        with transaction(conn):
            user_id = accounts.insert_user(
                conn, username="coco", role="coordinator", password_hash="!", name="", address=None
            )
            nonce = os.urandom(12)
            ct = AESGCM(kek).encrypt(nonce, secret, f"heitje second factor v1:{user_id}".encode())
            conn.execute(
                "INSERT INTO second_factors (user_id, nonce, ciphertext, key_id, created_at) "
                "VALUES (?, ?, ?, ?, '2026-12-02T10:00:00+00:00')",
                (user_id, nonce, ct, _key_id(kek)),
            )
    finally:
        conn.close()
    return user_id, secret


def test_kek_rotation_reencrypts_every_custodial_key(tmp_path: Path) -> None:
    data_dir = _service_dir(tmp_path)
    old = _kek(data_dir)
    raw = _add_custodial_keys(data_dir, old, 6, key_id=_key_id(old), rotations=2)
    check_at_start(_settings(data_dir))
    before = {r[0]: bytes(r[2]) for r in _sealed_rows(data_dir)}
    totp = _add_staff_totp_secret(data_dir, old)
    new_path, new = _kek_new(tmp_path, "new.key")
    result = run_heitje(
        "kek", "rotate", "--new-kek-file", str(new_path), "--data-dir", str(data_dir)
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {
        "old_key_id": _key_id(old),
        "new_key_id": _key_id(new),
        "resealed": 8,  # 6 custodial keys + 2 keys of unfinished key rotations
        "already_resealed": 0,
        "already_switched": False,
    }
    _assert_all_under(data_dir, new, raw)
    for address, nonce, ct, _ in _sealed_rows(data_dir):
        assert bytes(ct) != before[address]
        with pytest.raises(InvalidTag):
            _open(old, address, nonce, ct)
    assert _check_row(data_dir) == (_key_id(new),)
    # A staff member's TOTP secret (issue 11) is sealed anew too: it opens under the new KEK.
    user_id, secret = totp
    conn = sqlite3.connect(DataDir(data_dir).service_db)
    nonce, ct, key_id = conn.execute(
        "SELECT nonce, ciphertext, key_id FROM second_factors WHERE user_id = ?", (user_id,)
    ).fetchone()
    conn.close()
    aad = f"heitje second factor v1:{user_id}".encode()
    assert key_id == _key_id(new)
    assert AESGCM(new).decrypt(nonce, ct, aad) == secret
    # The service now refuses the old KEK and starts with the new one.
    _assert_refused(_serve(data_dir), "check value", _key_id(old))
    ok = run_heitje("kek", "check", "--data-dir", str(data_dir), HEITJE_KEK_FILE=str(new_path))
    assert ok.returncode == 0 and ok.stdout.strip() == _key_id(new), ok.stderr
    # Running it again changes nothing.
    again = run_heitje(
        "kek", "rotate", "--new-kek-file", str(new_path), "--data-dir", str(data_dir)
    )
    assert again.returncode == 0, again.stderr
    assert json.loads(again.stdout)["already_switched"] is True
    assert json.loads(again.stdout)["resealed"] == 0
    _assert_all_under(data_dir, new, raw)
    # Refusals: the same KEK, a new KEK file others may read.
    _assert_refused(_rotate(data_dir, new_path, HEITJE_KEK_FILE=str(new_path)), "the current one")
    new_path.chmod(0o640)
    _assert_refused(_rotate(data_dir, new_path), f"chmod 600 {new_path}")


def test_an_interrupted_kek_rotation_resumes(tmp_path: Path) -> None:
    data_dir = _service_dir(tmp_path)
    old = _kek(data_dir)
    total = 300  # each key takes the rotation milliseconds (address check): time to stop it
    raw = _add_custodial_keys(data_dir, old, total, key_id=_key_id(old))
    new_path, new = _kek_new(tmp_path, "new.key")
    proc = subprocess.Popen(
        [*HEITJE_COMMAND, "kek", "rotate", "--new-kek-file", str(new_path), "--data-dir",
         str(data_dir)],
        env=cli_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        stdin=subprocess.DEVNULL, start_new_session=True,
    )  # fmt: skip

    def resealed() -> int:
        return sum(1 for r in _sealed_rows(data_dir) if r[3] == _key_id(new))

    try:
        deadline = time.monotonic() + 120
        while resealed() < 5:
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline, "the rotation did not start"
            time.sleep(0.01)
        os.killpg(proc.pid, signal.SIGKILL)  # interrupted midway, as by a power cut
    finally:
        proc.wait(timeout=60)
        if proc.stdout:
            proc.stdout.close()
        if proc.stderr:
            proc.stderr.close()
    done = resealed()
    assert 5 <= done < total, "the rotation finished before it could be interrupted"
    # Half rotated: both KEKs are in use, rows say which; the check value is still the old one.
    rows = _sealed_rows(data_dir)
    assert {r[3] for r in rows} == {_key_id(old), _key_id(new)}
    for address, nonce, ct, key_id in rows:
        kek = new if key_id == _key_id(new) else old
        assert _open(kek, address, nonce, ct) == raw[address]
    assert _check_row(data_dir) == (_key_id(old),)
    # The service will not start half-way, with either KEK.
    _assert_refused(_serve(data_dir), "rotation is unfinished", f"{done} of the {total}")
    _assert_refused(_serve(data_dir, HEITJE_KEK_FILE=str(new_path)), "cannot open")
    # Running the same command again finishes the job.
    result = run_heitje(
        "kek", "rotate", "--new-kek-file", str(new_path), "--data-dir", str(data_dir)
    )
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert (report["already_resealed"], report["resealed"]) == (done, total - done)
    _assert_all_under(data_dir, new, raw)
    assert _check_row(data_dir) == (_key_id(new),)


# ----- a full replay leaks nothing -----


class _CommandLines:
    """Records the command line of every process this test starts, children of children too,
    while a replay runs (anvil, the API, the indexer)."""

    def __init__(self) -> None:
        self.seen: dict[int, str] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        me = psutil.Process()
        while not self._stop.is_set():
            for p in me.children(recursive=True):
                with contextlib.suppress(psutil.Error):
                    self.seen[p.pid] = " ".join(p.cmdline())
            time.sleep(0.1)

    def __enter__(self) -> _CommandLines:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def _secrets(data_dir: Path) -> dict[str, list[tuple[bytes, bool]]]:
    """Every secret of a data dir, by name, in each form it could leak in, each with whether
    it is text whose case does not matter: each private key (service keys, the dev chain's
    accounts, every custodial key) as hex without and with 0x, in any case, and as raw bytes;
    the KEK as base64 and raw; the mnemonic."""
    paths = DataDir(data_dir)
    kek = _kek(data_dir)
    keys: dict[str, bytes] = {}
    for role in SERVICE_ROLES:
        keys[f"{role}.key"] = bytes.fromhex(paths.key(role).read_text().strip().removeprefix("0x"))
    for i in range(10):
        keys[f"dev account {i}"] = bytes.fromhex(dev_private_key(data_dir, i)[2:])
    for address, nonce, ct, _ in _sealed_rows(data_dir):
        keys[f"custodial {address}"] = bytes(open_custodial_key(kek, address, nonce, ct).key)
    found: dict[str, list[tuple[bytes, bool]]] = {
        name: [(key.hex().encode(), True), (b"0x" + key.hex().encode(), True), (key, False)]
        for name, key in keys.items()
    }
    found["kek"] = [(paths.kek.read_text().strip().encode(), False), (kek, False)]
    mnemonic = str(json.loads((paths.chain / "chain.json").read_text())["mnemonic"])
    found["mnemonic"] = [(mnemonic.encode(), True)]
    return found


def _hits(haystack: bytes, secrets: dict[str, list[tuple[bytes, bool]]]) -> set[str]:
    """The names of the secrets found in `haystack`."""
    lowered = haystack.lower()
    hits = set()
    for name, forms in secrets.items():
        for form, any_case in forms:
            if (form.lower() in lowered) if any_case else (form in haystack):
                hits.add(name)
    return hits


@pytest.mark.slow
def test_a_full_replay_leaks_no_secret(tmp_path: Path, capfd: pytest.CaptureFixture[str]) -> None:
    from scripts.replay.demo import run_demo

    path, _ = shared_scenario("edge-cases")
    data_dir = (tmp_path / "data").resolve()
    responses: list[httpx.Response] = []
    with _CommandLines() as commands:
        report = run_demo(path, data_dir=data_dir, responses=responses)
    assert report["reconciled"] is True
    out, err = capfd.readouterr()
    secrets = _secrets(data_dir)
    custodial = [n for n in secrets if n.startswith("custodial ")]
    assert len(custodial) >= 10 and len(responses) >= 100
    # Every custodial key is sealed under the KEK's key id, and the database holds its check.
    assert {r[3] for r in _sealed_rows(data_dir)} == {_key_id(_kek(data_dir))}
    assert _check_row(data_dir) == (_key_id(_kek(data_dir)),)
    # The files that hold a secret by design: owner-only, and each holds only its own secret.
    paths = DataDir(data_dir)
    allowed = {paths.key(r): {f"{r}.key"} for r in SERVICE_ROLES}
    for i, role in enumerate(SERVICE_ROLES):  # the dev chain's service keys are its accounts
        allowed[paths.key(role)].add(f"dev account {i}")
    allowed[paths.kek] = {"kek"}
    allowed[paths.chain / "chain.json"] = {"mnemonic"}
    for secret_file, names in allowed.items():
        assert _mode(secret_file) == 0o600, secret_file
        assert _hits(secret_file.read_bytes(), secrets) == names  # the scan finds what is there
    some_key = next(k for k in custodial)
    upper = b"..0X" + secrets[some_key][0][0].upper() + b".."  # 0x-hex in upper case
    assert _hits(upper, secrets) == {some_key}
    assert _mode(paths.keys) == 0o700 and _mode(paths.chain) == 0o700
    leaks = []
    files = [p for p in data_dir.rglob("*") if p.is_file()]
    assert paths.logs / "api.log" in files and paths.chain / "anvil.log" in files
    for file in files:
        extra = _hits(file.read_bytes(), secrets) - allowed.get(file, set())
        leaks += [f"{file.relative_to(data_dir)}: {name}" for name in sorted(extra)]
    for r in responses:
        body = r.content + "".join(f"{k}: {v}\n" for k, v in r.headers.items()).encode()
        where = f"{r.request.method} {r.request.url.path} -> {r.status_code}"
        leaks += [f"response {where}: {name}" for name in sorted(_hits(body, secrets))]
    leaks += [f"demo output: {name}" for name in sorted(_hits((out + err).encode(), secrets))]
    assert len(commands.seen) >= 3  # anvil, the API, the indexer
    for pid, cmdline in commands.seen.items():
        leaks += [f"command line of {pid}: {n}" for n in sorted(_hits(cmdline.encode(), secrets))]
        assert "--mnemonic" not in cmdline
    assert leaks == []
