"""The `heitje` command line (typer). Commands load their rooms lazily.

Exit codes: 0 success; 1 a check failed (audit found differences); 2 bad input or settings,
with one line on stderr; 3 a settlement file was written but not recorded on chain (the line
names the file and the `heitje anchor` command that retries).
"""

from __future__ import annotations

import dataclasses
import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, NoReturn

import typer

from heitje.datadir import DataDir
from heitje.errors import HeitjeError

if TYPE_CHECKING:
    from domain.context import Context
    from domain.schemas import HealthReport
    from domain.settlement import AnchorFailed
    from heitje.settings import Settings

app = typer.Typer(
    no_args_is_help=True,
    add_completion=False,
    help="Heitje: a municipality's civic reward coin (HEIT).",
    # plain help and errors (typer passes this to every group and command): rich and
    # markdown-it are not imported, which is about half of `heitje --help` (bench/cli_start.py)
    rich_markup_mode=None,
)
scenario_app = typer.Typer(no_args_is_help=True, help="Scenario files (programme years).")
chain_app = typer.Typer(no_args_is_help=True, help="The embedded anvil chain.")
api_app = typer.Typer(no_args_is_help=True, help="The HTTP service.")
indexer_app = typer.Typer(no_args_is_help=True, help="The SQL mirror of the chain.")
network_app = typer.Typer(
    no_args_is_help=True, help="The permissioned geth Clique network (docs/network.md)."
)
app.add_typer(scenario_app, name="scenario")
app.add_typer(chain_app, name="chain")
app.add_typer(api_app, name="api")
app.add_typer(indexer_app, name="indexer")
app.add_typer(network_app, name="network")
bank_app = typer.Typer(
    no_args_is_help=True, help="The bank's feedback: camt.053 statements, pain.002 reports."
)
app.add_typer(bank_app, name="bank")

DataDirOpt = Annotated[
    Path,
    typer.Option(
        "--data-dir", envvar="HEITJE_DATA_DIR", help="Data directory (docs/architecture.md)."
    ),
]
RpcUrl = Annotated[
    str, typer.Option("--rpc-url", envvar="HEITJE_RPC_URL", help="JSON-RPC endpoint of the chain.")
]
NetworkDir = Annotated[
    Path,
    typer.Option("--dir", envvar="HEITJE_NETWORK_DIR", help="Network directory (docs/network.md)."),
]
NodeIndex = Annotated[int | None, typer.Option("--node", help="Only this node (1, 2, ...).")]


def fail(message: str, code: int = 2) -> NoReturn:
    """Print one line to stderr and exit with `code`."""
    typer.echo(f"heitje: {' '.join(message.split())}", err=True)
    raise typer.Exit(code)


@contextmanager
def _reported(rpc_url: str | None = None) -> Iterator[None]:
    """Bad input, settings or surroundings end the command with one line and exit code 2:
    Heitje's own errors, a file that cannot be read or written, a chain that does not answer.
    Entered after a command's imports: the recursion limit a library raised goes back down
    (`heitje.jsonguard`), so deep recursion in C fails cleanly instead of overflowing."""
    from heitje.jsonguard import guard_recursion_limit

    guard_recursion_limit()
    try:
        yield
    except HeitjeError as e:
        fail(str(e))
    except OSError as e:  # also requests' errors: web3's HTTP provider raises them
        import requests

        if isinstance(e, requests.RequestException):
            fail(f"cannot reach the chain at {rpc_url}: {type(e).__name__}")
        fail(f"{e.filename}: {e.strerror or e}" if e.filename else str(e))


def _parse_time(text: str) -> datetime:
    try:
        t = datetime.fromisoformat(text)
    except ValueError:
        fail(f"{text!r} is not an ISO 8601 time")
    if t.tzinfo is None:
        fail(f"{text!r} needs a UTC offset, e.g. 2022-03-31T23:00:00+02:00")
    return t


@scenario_app.command("generate")
def scenario_generate(
    out: Annotated[Path, typer.Option(help="Where to write the scenario JSON.")] = Path(
        "scenarios/example-year.json"
    ),
    citizens: int = 24,
    shops: int = 8,
    tasks: int = 48,
    months: int = 9,
    seed: int = 2022,
    start: Annotated[str, typer.Option(help="First day, YYYY-MM-DD.")] = "2022-03-01",
    annual_cap: Annotated[str, typer.Option(help="Yearly cap per citizen, HEIT.")] = "1500.00",
) -> None:
    """Write a realistic programme year in the heitje-scenario/1 format (deterministic per seed)."""
    from scripts.replay.generate import generate_scenario

    try:
        data = generate_scenario(
            citizens=citizens,
            shops=shops,
            tasks=tasks,
            months=months,
            seed=seed,
            start=date.fromisoformat(start),
            annual_cap=annual_cap,
        )
    except (HeitjeError, ValueError) as e:
        fail(str(e))
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(data, indent=1, ensure_ascii=False) + "\n")
    except OSError as e:
        fail(f"cannot write {out}: {e.strerror or e}")
    typer.echo(f"wrote {out} ({len(data['events'])} events)", err=True)


@chain_app.command("start")
def chain_start(
    data_dir: DataDirOpt = Path("data"),
    port: Annotated[int, typer.Option(help="RPC port on 127.0.0.1.")] = 8545,
) -> None:
    """Run the embedded anvil chain (paris, private chain id) in the foreground until Ctrl-C;
    state persists in DIR/chain."""
    import time

    from node.anvil import Anvil

    try:
        with _reported(), Anvil(data_dir, port=port) as chain:
            typer.echo(f"chain running at {chain.rpc_url} (Ctrl-C stops)", err=True)
            while chain.process is not None and chain.process.poll() is None:
                time.sleep(0.5)
    except KeyboardInterrupt:
        pass


@app.command("deploy")
def deploy_cmd(
    data_dir: DataDirOpt = Path("data"),
    rpc_url: RpcUrl = "http://127.0.0.1:8545",
    dev_keys: Annotated[
        bool,
        typer.Option(help="Derive missing service keys from the embedded chain's dev mnemonic."),
    ] = True,
) -> None:
    """Deploy HeitjeToken with roles on separate keys (DIR/keys); write DIR/deployment.json and
    a key-encryption key DIR/keys/kek.key if missing. Prints the manifest as JSON."""
    from node.token import connect
    from scripts.deploy import deploy, ensure_dev_keys, ensure_kek

    with _reported(rpc_url):
        if dev_keys:
            ensure_dev_keys(data_dir)
        ensure_kek(data_dir)
        deploy(connect(rpc_url), data_dir)
        typer.echo(DataDir(data_dir).manifest.read_text().strip())


@api_app.command("serve")
def api_serve(
    data_dir: DataDirOpt = Path("data"),
    rpc_url: RpcUrl = "http://127.0.0.1:8545",
    host: str = "127.0.0.1",
    port: int = 8000,
) -> None:
    """Run the HTTP service (settings from HEITJE_* variables; see README)."""
    import os

    import uvicorn

    os.environ["HEITJE_DATA_DIR"] = str(data_dir)
    os.environ["HEITJE_RPC_URL"] = rpc_url
    with _reported(rpc_url):
        uvicorn.run("api.app:create_app", factory=True, host=host, port=port, log_level="warning")


@indexer_app.command("run")
def indexer_run(
    data_dir: DataDirOpt = Path("data"),
    rpc_url: RpcUrl = "http://127.0.0.1:8545",
    confirmations: Annotated[int, typer.Option(help="Blocks to wait before indexing.")] = 0,
    poll: Annotated[float, typer.Option(help="Seconds between polls.")] = 0.2,
    wait_for_chain: Annotated[
        float,
        typer.Option(help="Seconds to wait for a node that is not reachable at start (0: exit)."),
    ] = 0.0,
) -> None:
    """Follow the token's events into DIR/mirror.sqlite until Ctrl-C or SIGTERM."""
    from scripts.run_indexer import run_indexer

    with _reported(rpc_url):
        run_indexer(
            data_dir,
            rpc_url,
            confirmations=confirmations,
            poll=poll,
            wait_for_chain=wait_for_chain,
        )


@app.command("settle")
def settle_cmd(
    data_dir: DataDirOpt = Path("data"),
    through: Annotated[
        str | None,
        typer.Option(help="Pay redemptions with a block time at or before this ISO 8601 time."),
    ] = None,
    through_block: Annotated[
        int | None, typer.Option(help="Pay redemptions in blocks up to this number.")
    ] = None,
    municipality_name: Annotated[
        str, typer.Option(envvar="HEITJE_MUNICIPALITY_NAME", help="Debtor name.")
    ] = "",
    municipality_iban: Annotated[
        str, typer.Option(envvar="HEITJE_MUNICIPALITY_IBAN", help="Debtor IBAN.")
    ] = "",
    municipality_bic: Annotated[
        str, typer.Option(envvar="HEITJE_MUNICIPALITY_BIC", help="Debtor BIC (else from IBAN).")
    ] = "",
    eur_per_heitje: Annotated[
        str, typer.Option(envvar="HEITJE_EUR_PER_HEITJE", help="Euros per HEIT.")
    ] = "1.00",
    rpc_url: RpcUrl = "http://127.0.0.1:8545",
    anchor: Annotated[
        bool,
        typer.Option(help="Record each batch on chain (settler key, recordSettlementPart)."),
    ] = True,
    pain_version: Annotated[
        str,
        typer.Option(
            envvar="HEITJE_SEPA_PAIN_VERSION",
            help="pain.001 version the bank takes: 09 (2019, structured addresses) or 03.",
        ),
    ] = "09",
    municipality_street: Annotated[
        str, typer.Option(envvar="HEITJE_MUNICIPALITY_STREET", help="Debtor street.")
    ] = "",
    municipality_house_number: Annotated[
        str, typer.Option(envvar="HEITJE_MUNICIPALITY_HOUSE_NUMBER", help="Debtor house number.")
    ] = "",
    municipality_postcode: Annotated[
        str, typer.Option(envvar="HEITJE_MUNICIPALITY_POSTCODE", help="Debtor postcode.")
    ] = "",
    municipality_town: Annotated[
        str, typer.Option(envvar="HEITJE_MUNICIPALITY_TOWN", help="Debtor town.")
    ] = "",
    municipality_country: Annotated[
        str, typer.Option(envvar="HEITJE_MUNICIPALITY_COUNTRY", help="Debtor country (NL).")
    ] = "NL",
) -> None:
    """Pay shops for redeemed HEIT: one ISO 20022 pain.001 file (pain.001.001.09 by default,
    with the structured addresses of the municipality and the shops; --pain-version 03 for a
    bank that needs pain.001.001.03; one credit transfer per shop, debtor the municipality,
    executed on a TARGET2 business day: today, or the next one) plus a CSV summary in
    DIR/settlements, and record the batch on chain (batch id, redemption id ranges, total
    cents, file sha256), in as many transactions as the block gas limit needs. Redemptions
    already settled are never paid again; batches not yet recorded on chain (or recorded in
    part) are recorded. Prints the batch as JSON, or nothing when nothing is due.

    A shop whose payee cannot go into the file (no payee, bad IBAN or BIC, a name SEPA cannot
    carry) is held: its redemptions stay due, listed under `held` (and one line on stderr per
    shop), everyone else is paid. With anchoring, the manifest, the settler key and the chain
    (reachable, chain id, contract code) are checked before anything is written: exit 2 with
    one line naming the RPC URL. A batch written but not recorded on chain: the JSON on stdout,
    one line naming the file and the `heitje anchor` command that retries, exit 3."""
    from domain.settlement import AnchorFailed, run_settlement
    from domain.settlement.sepa import pain_message, postal_address

    if through is None and through_block is None:
        fail("give --through TIME or --through-block N")
    through_time = _parse_time(through) if through else None
    if not municipality_iban or not municipality_name:
        fail("set --municipality-name and --municipality-iban (or HEITJE_MUNICIPALITY_*)")
    with _reported(rpc_url if anchor else None):
        pain_message(pain_version)  # exit 2 for another version, before anything is read
        address = postal_address(
            municipality_street,
            municipality_house_number,
            municipality_postcode,
            municipality_town,
            municipality_country,
        )
        try:
            result = run_settlement(
                data_dir,
                through=through_time,
                through_block=through_block,
                name=municipality_name,
                iban=municipality_iban,
                bic=municipality_bic or None,
                eur_per_heitje=eur_per_heitje,
                now=datetime.now(UTC),
                rpc_url=rpc_url if anchor else None,
                pain_version=pain_version,
                address=address,
            )
        except AnchorFailed as e:
            if e.result is not None:
                typer.echo(json.dumps(e.result, indent=1))
            _anchor_failed(e, data_dir)
    if result is not None:
        typer.echo(json.dumps(result, indent=1))
        for held in result.get("held", []):
            typer.echo(
                f"heitje: held {held['shop_id'] or held['shop']}: {held['heit']} HEIT "
                f"(redemptions {', '.join(map(str, held['redemption_ids']))}) not paid: "
                f"{held['code']}: {' '.join(str(held['reason']).split())}",
                err=True,
            )


def _anchor_failed(e: AnchorFailed, data_dir: Path) -> NoReturn:
    """Exit 3: batches written but not recorded on chain; one line naming the files and the
    command that retries the anchoring."""
    import shlex

    retry = shlex.join(["heitje", "anchor", "--data-dir", str(data_dir), "--rpc-url", e.rpc_url])
    files = ", ".join(str(data_dir / f) for f in e.files)
    fail(
        f"{files} written but not recorded on the chain at {e.rpc_url} ({e.reason}); "
        f"retry the anchoring with: {retry}",
        code=3,
    )


@app.command("anchor")
def anchor_cmd(
    data_dir: DataDirOpt = Path("data"), rpc_url: RpcUrl = "http://127.0.0.1:8545"
) -> None:
    """Record on chain (settler key, recordSettlementPart) every settlement batch of the ledger
    the chain has not closed yet, going on after the parts it has: what `heitje settle` does
    after writing a batch, and the retry when that failed. Prints {"anchored": [batch ids]}.
    Exit 2 (one line naming the RPC URL) when the manifest, settler key or chain is not fit, 3
    when the chain refuses a record."""
    from domain.settlement import AnchorFailed, anchor_settlements

    with _reported(rpc_url):
        try:
            anchored = anchor_settlements(data_dir, rpc_url)
        except AnchorFailed as e:
            _anchor_failed(e, data_dir)
    typer.echo(json.dumps({"anchored": anchored}, indent=1))


@bank_app.command("import")
def bank_import_cmd(
    file: Annotated[Path, typer.Argument(help="A camt.053 statement or pain.002 status report.")],
    data_dir: DataDirOpt = Path("data"),
) -> None:
    """Read the bank's camt.053 statement (or pain.002 status report) in: match each booking by
    end-to-end id to a shop payment of a settlement batch, mark those redemptions paid on the
    booking date, and list what does not match. Importing the same file again changes nothing.
    Prints the import as JSON (`paid`, `unmatched`); exit 2 for a file that cannot be read."""
    from domain.settlement.bank import MAX_BANK_FILE_BYTES, Accounts, import_bank_file
    from heitje.settings import Settings
    from store import db

    with _reported():
        if file.stat().st_size > MAX_BANK_FILE_BYTES:
            fail(f"{file}: larger than {MAX_BANK_FILE_BYTES} bytes")
        data = file.read_bytes()
        service_db = DataDir(data_dir).service_db
        db.init_db(service_db)
        conn = db.connect(service_db)
        try:
            result = import_bank_file(
                conn,
                data,
                file.name,
                imported_by="cli",
                now=datetime.now(UTC),
                keep_in=DataDir(data_dir).bank,
                accounts=Accounts(
                    Settings(data_dir=data_dir, dispatcher=False).municipality_iban,
                    DataDir(data_dir).settlements,
                ),
            )
        finally:
            conn.close()
    out = {
        "file": file.name,
        "kind": result.kind,
        "message": result.message,
        "message_id": result.message_id,
        "already_imported": result.already_imported,
        "paid": list(result.paid),
        "paid_redemptions": result.paid_redemptions,
        "lines": len(result.lines),
        "unmatched": [dataclasses.asdict(line) for line in result.unmatched],
    }
    typer.echo(json.dumps(out, indent=1))


@app.command("audit")
def audit_cmd(
    data_dir: DataDirOpt = Path("data"), rpc_url: RpcUrl = "http://127.0.0.1:8545"
) -> None:
    """Reconcile chain, SQL mirror and settlement files: total supply, every holder's balance,
    every redemption, every settled amount. Exit 0 when they agree, else 1 with the differences.
    """
    from scripts.audit import audit

    with _reported(rpc_url):
        report = audit(data_dir, rpc_url)
    typer.echo(json.dumps(report.summary(), indent=1))
    if report.differences:
        for d in report.differences:
            typer.echo(f"difference: {d}", err=True)
        raise typer.Exit(1)


@app.command("evidence")
def evidence_cmd(
    first: Annotated[datetime, typer.Option("--from", formats=["%Y-%m-%d"], help="First day.")],
    last: Annotated[datetime, typer.Option("--to", formats=["%Y-%m-%d"], help="Last day.")],
    out: Annotated[Path, typer.Option("--out", help="The ZIP file to write.")],
    data_dir: DataDirOpt = Path("data"),
    rpc_url: RpcUrl = "http://127.0.0.1:8545",
    no_verify: Annotated[
        bool, typer.Option("--no-verify", help="Leave out `heitje verify` (it compiles).")
    ] = False,
) -> None:
    """Write the evidence pack of the days --from through --to (Europe/Amsterdam) as a ZIP:
    CSVs, payment files, the audit report, the verify result, the deployment manifest and
    SHA256SUMS (docs/evidence.md). Prints the figures as JSON."""
    from domain import evidence, workbench
    from scripts.audit import audit
    from scripts.verify import verify

    with _reported(rpc_url):
        p = workbench.period(first.date(), last.date(), datetime.now(UTC))
        report = audit(data_dir, rpc_url).summary()
        checked: dict[str, object]
        if no_verify:
            checked = {"available": False, "why": "left out (--no-verify)"}
        else:
            try:
                checked = dataclasses.asdict(verify(data_dir, rpc_url))
            except HeitjeError as e:
                checked = {"available": False, "why": f"{e.code}: {e.message}"}
        with workbench.open_sources(data_dir, rpc_url) as src:
            pack = evidence.build(
                src, p, out, audit=report, verify=checked, made_at=datetime.now(UTC)
            )
    typer.echo(json.dumps({"out": str(out), "files": len(pack.files) + 1}, indent=1))


@app.command("status")
def status_cmd(
    data_dir: DataDirOpt = Path("data"),
    rpc_url: RpcUrl = "http://127.0.0.1:8545",
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
) -> None:
    """The service's health, as GET /health reports it: the chain and its head, the indexer's
    lag, the outbox backlog, each service key's native balance (bounds: HEITJE_* settings,
    README). One line per check; exit 0 when all are within bounds, 1 when one is not."""
    _status(data_dir, rpc_url, as_json)


def _status(data_dir: Path, rpc_url: str, as_json: bool) -> None:
    """`heitje status`, also run by `main` without typer's parsing (`_status_argv`)."""
    paths = DataDir(data_dir)
    if not paths.manifest.is_file():
        fail(f"{paths.manifest} not found: not a deployed data directory (`heitje deploy`)")
    if not paths.service_db.is_file():
        fail(f"{paths.service_db} not found: the service has not run here (`heitje api serve`)")
    # no web3, no pydantic-settings: status is to answer within 0.3 s (bench/cli_start.py)
    from pydantic import ValidationError

    from domain.health import HealthSettings, local_health

    try:
        settings = HealthSettings.from_env(data_dir, rpc_url)
    except ValidationError as e:
        fail(f"bad setting: {e.errors()[0]['loc'][0]}: {e.errors()[0]['msg']}")
    with _reported(rpc_url):
        report = local_health(settings, timeout=10)
    if as_json:
        typer.echo(json.dumps(report.model_dump(mode="json"), indent=1))
    else:
        for line in _status_lines(report):
            typer.echo(line)
    if not report.ok:
        raise typer.Exit(1)


def _status_lines(report: HealthReport) -> list[str]:
    """`heitje status` for people: one line per check, OK / FAIL / `--` (not checked)."""

    def mark(ok: bool | None) -> str:
        return {True: "OK  ", False: "FAIL", None: "--  "}[ok]

    def ether(wei: str | None) -> str:
        return "?" if wei is None else f"{int(wei) / 10**18:.4f}"

    c, i, d = report.chain, report.indexer, report.dispatcher
    lines = [
        f"{mark(c.ok)}  {'chain':<15}"
        + (
            f"block {c.head}, {c.head_age_seconds} s old (chain id {c.chain_id})"
            if c.reachable
            else "not reachable"
        ),
        f"{mark(i.ok)}  {'indexer':<15}"
        + ("no mirror yet" if i.checkpoint is None else f"block {i.checkpoint}")
        + (
            f", {i.lag_blocks} blocks ({i.lag_seconds} s) behind (max {i.max_lag_blocks}, "
            f"{i.confirmations} confirmations)"
            if i.lag_blocks is not None
            else ""
        ),
        f"{mark(d.ok)}  {'dispatcher':<15}{d.open_intents} open intents"
        + (
            f", oldest {d.oldest_age_seconds} s (max {d.max_age_seconds:g} s)"
            if d.oldest_age_seconds is not None
            else ""
        ),
    ]
    for k in report.keys:
        figure = (
            "no key file here"
            if k.address is None
            else f"{k.address} balance {ether(k.balance_wei)} (min {ether(k.min_balance_wei)})"
        )
        lines.append(f"{mark(k.ok)}  {'key ' + k.role:<15}{figure}")
    lines.append(
        "status: ok"
        if report.ok
        else "status: FAIL (" + ", ".join(r.code for r in report.reasons) + ")"
    )
    lines.extend(f"  {r.code}: {r.message}" for r in report.reasons)
    return lines


period_app = typer.Typer(no_args_is_help=True, help="Reward periods on chain (budget, cap).")
app.add_typer(period_app, name="period")


@period_app.command("open")
def period_open(
    data_dir: DataDirOpt = Path("data"),
    rpc_url: RpcUrl = "http://127.0.0.1:8545",
    budget: Annotated[str, typer.Option(help="Budget of the period, HEIT.")] = "",
    cap: Annotated[str, typer.Option(help="Cap per citizen in the period, HEIT.")] = "1500.00",
    start: Annotated[
        str | None, typer.Option(help="ISO 8601 start (default: now); after the last start.")
    ] = None,
) -> None:
    """Open a reward period with the admin key (`openRewardPeriod`): from START until the next
    period, at most BUDGET HEIT minted in all and CAP HEIT to one citizen. Prints its id."""
    from domain.periods import open_reward_period
    from heitje.datadir import DataDir
    from heitje.money import parse_heit
    from node.manifest import Manifest
    from node.token import Token, connect

    start_at = int(_parse_time(start).timestamp()) if start else 0
    with _reported():
        paths = DataDir(data_dir)
        w3 = connect(rpc_url)
        period_id = open_reward_period(
            w3,
            Token(w3, Manifest.load(paths.manifest).token),
            paths.keys,
            paths.nonce_journal,
            budget=parse_heit(budget),
            cap_per_citizen=parse_heit(cap),
            start=start_at,
        )
    typer.echo(json.dumps({"period_id": period_id}))


staff_app = typer.Typer(no_args_is_help=True, help="Staff accounts (admins, on this machine).")
app.add_typer(staff_app, name="staff")


def _staff_disabled(data_dir: Path, username: str, disabled: bool) -> None:
    from pydantic import ValidationError

    from domain.context import Services
    from domain.sessions import set_staff_disabled
    from heitje.settings import Settings
    from store.db import init_db

    paths = DataDir(data_dir)
    if not paths.service_db.is_file():
        fail(f"{paths.service_db} not found: the service has not run here (`heitje api serve`)")
    try:
        settings = Settings(data_dir=data_dir, dispatcher=False)
    except ValidationError as e:
        fail(f"bad setting: {e.errors()[0]['loc'][0]}: {e.errors()[0]['msg']}")
    with _reported():
        init_db(paths.service_db)
        ctx = Services(settings).context(datetime.now(UTC))
        try:
            set_staff_disabled(ctx, username, disabled)
        finally:
            ctx.close()
    typer.echo(json.dumps({"username": username, "disabled": disabled}))


@staff_app.command("disable")
def staff_disable(
    username: Annotated[str, typer.Argument(help="The staff account (any case).")],
    data_dir: DataDirOpt = Path("data"),
) -> None:
    """Disable a staff account (coordinator, finance, auditor, admin) in the data directory's
    service database: it cannot log in and its sessions end at once (as POST
    /staff/{username}/disable). Prints {"username", "disabled": true}; exit 2 (one line) for
    an unknown account, a citizen or shop, or the last enabled admin (`last_admin`)."""
    _staff_disabled(data_dir, username, True)


@staff_app.command("enable")
def staff_enable(
    username: Annotated[str, typer.Argument(help="The staff account (any case).")],
    data_dir: DataDirOpt = Path("data"),
) -> None:
    """Enable a disabled staff account again (as POST /staff/{username}/enable). Prints
    {"username", "disabled": false}; exit 2 (one line) for an unknown account or a citizen or
    shop."""
    _staff_disabled(data_dir, username, False)


@staff_app.command("reset-second-factor")
def staff_reset_second_factor(
    username: Annotated[str, typer.Argument(help="The staff account (any case).")],
    reason: Annotated[str, typer.Option(help="Why (goes in the staff log).")],
    data_dir: DataDirOpt = Path("data"),
) -> None:
    """Remove a staff member's second factor (a lost phone): their authenticator secret and
    recovery codes are deleted and their sessions end; at their next log-in they set up a new
    one. Recorded in the staff log (`staff.second_factor_reset`, actor `command line`). Prints
    {"username", "had_second_factor"}; exit 2 (one line) for an unknown account, a citizen or
    shop, or an empty reason."""
    from pydantic import ValidationError

    from domain.context import Services
    from domain.second_factor import reset_second_factor
    from heitje.settings import Settings
    from store.db import init_db

    paths = DataDir(data_dir)
    if not paths.service_db.is_file():
        fail(f"{paths.service_db} not found: the service has not run here (`heitje api serve`)")
    try:
        settings = Settings(data_dir=data_dir, dispatcher=False)
    except ValidationError as e:
        fail(f"bad setting: {e.errors()[0]['loc'][0]}: {e.errors()[0]['msg']}")
    with _reported():
        init_db(paths.service_db)
        ctx = Services(settings).context(datetime.now(UTC))
        try:
            had = reset_second_factor(ctx, None, username, reason)
        finally:
            ctx.close()
    typer.echo(json.dumps({"username": username, "had_second_factor": had}))


shops_app = typer.Typer(
    no_args_is_help=True, help="Shop applications: approve or reject new shops (admins)."
)
app.add_typer(shops_app, name="shops")


def _shops_context(data_dir: Path) -> Context:
    """A domain context on the data directory's service database (no chain, no dispatcher:
    a running API's dispatcher sends the registrations an approval queues)."""
    from pydantic import ValidationError

    from domain.context import Services
    from heitje.settings import Settings
    from store.db import init_db

    paths = DataDir(data_dir)
    if not paths.service_db.is_file():
        fail(f"{paths.service_db} not found: the service has not run here (`heitje api serve`)")
    try:
        settings = Settings(data_dir=data_dir, dispatcher=False)
    except ValidationError as e:
        fail(f"bad setting: {e.errors()[0]['loc'][0]}: {e.errors()[0]['msg']}")
    with _reported():
        init_db(paths.service_db)
    return Services(settings).context(datetime.now(UTC))


@shops_app.command("pending")
def shops_pending(
    data_dir: DataDirOpt = Path("data"),
    status: Annotated[str, typer.Option(help="pending, approved, rejected or all.")] = "pending",
) -> None:
    """List shop applications (as GET /admin/shops): a JSON array of {username, name,
    category, iban, bic, address, status, created_at, reviewed_by, reviewed_at}, oldest
    first. Exit 2 (one line) for an unknown status."""
    from domain.accounts import shop_applications

    ctx = _shops_context(data_dir)
    try:
        with _reported():
            shops = shop_applications(ctx, None if status == "all" else status)
    finally:
        ctx.close()
    typer.echo(json.dumps([s.model_dump() for s in shops], indent=1))


def _review(data_dir: Path, username: str, approve: bool) -> None:
    from domain.accounts import review_shop

    ctx = _shops_context(data_dir)
    try:
        with _reported():
            shop = review_shop(ctx, None, username, approve=approve)
    finally:
        ctx.close()
    typer.echo(json.dumps(shop.model_dump(), indent=1))


@shops_app.command("approve")
def shops_approve(
    username: Annotated[str, typer.Argument(help="The pending shop (any case).")],
    data_dir: DataDirOpt = Path("data"),
) -> None:
    """Approve a pending shop (as POST /admin/shops/{username}/approve): its wallet's
    registration on chain is queued, and the running service's dispatcher sends it; then it is
    listed and payable. Prints the shop as JSON; exit 2 (one line) for an unknown shop or one
    that is not pending."""
    _review(data_dir, username, True)


@shops_app.command("reject")
def shops_reject(
    username: Annotated[str, typer.Argument(help="The pending shop (any case).")],
    data_dir: DataDirOpt = Path("data"),
) -> None:
    """Reject a pending shop (as POST /admin/shops/{username}/reject): never registered, listed
    or payable. Prints the shop as JSON; exit 2 (one line) for an unknown shop or one that is
    not pending."""
    _review(data_dir, username, False)


@app.command("verify")
def verify_cmd(
    data_dir: DataDirOpt = Path("data"), rpc_url: RpcUrl = "http://127.0.0.1:8545"
) -> None:
    """Check that the token on chain is built from this repository's sources: rebuild with the
    compiler and settings in DIR/deployment.json (py-solc-x through tools/solc) and compare the
    runtime bytecode, ignoring the metadata hash and immutables. Exit 0 on a match, 1 with the
    difference otherwise."""
    from scripts.verify import verify

    with _reported():
        result = verify(data_dir, rpc_url)
    typer.echo(
        json.dumps(
            {
                "match": result.match,
                "address": result.address,
                "compiler": result.compiler,
                "detail": result.detail,
            },
            indent=1,
        )
    )
    if not result.match:
        typer.echo(f"heitje: {result.detail}", err=True)
        raise typer.Exit(1)


@app.command("demo")
def demo_cmd(
    scenario: Annotated[
        Path | None, typer.Option(help="Scenario JSON (default: the project's example year).")
    ] = None,
    data_dir: Annotated[
        Path | None, typer.Option(help="Data directory (default: a new temporary one).")
    ] = None,
    rpc_url: Annotated[
        str | None,
        typer.Option(help="Use this chain (e.g. a `heitje network` node) instead of anvil."),
    ] = None,
    keys_dir: Annotated[
        Path | None,
        typer.Option(
            help="With --rpc-url: the chain's funded service keys (<role>.key), copied into the "
            "data dir. Default: the keys of the network in $HEITJE_NETWORK_DIR "
            "(default data/network), i.e. DIR/keys from `heitje network init`."
        ),
    ] = None,
    confirmations: Annotated[
        int | None,
        typer.Option(
            help="Blocks the indexer stays behind the head (default 0 on anvil, 2 with --rpc-url)."
        ),
    ] = None,
) -> None:
    """Replay a programme year through chain, API, indexer and settlement; print the report
    (JSON, stdout; progress on stderr). Exit 1 when the audit does not reconcile."""
    import os

    from scripts.replay.demo import DEFAULT_SCENARIO, run_demo

    if rpc_url is not None and keys_dir is None:
        keys_dir = Path(os.environ.get("HEITJE_NETWORK_DIR") or "data/network") / "keys"
    with _reported(rpc_url):
        report = run_demo(
            scenario or DEFAULT_SCENARIO,
            data_dir=data_dir,
            rpc_url=rpc_url,
            keys_dir=keys_dir,
            confirmations=confirmations,
        )
    typer.echo(json.dumps(report, indent=1))
    if not report.get("reconciled"):
        raise typer.Exit(1)


@network_app.command("init")
def network_init(
    directory: NetworkDir = Path("data/network"),
    validators: Annotated[int, typer.Option(help="Number of Clique signers (at least 1).")] = 3,
    chain_id: Annotated[int, typer.Option(help="Private chain id.")] = 46_401,
    period: Annotated[
        int,
        typer.Option(help="Seconds between blocks; 0 seals only when transactions are pending."),
    ] = 1,
) -> None:
    """Create a network in DIR: per validator an encrypted signer key (geth keystore, password
    file 0600), p2p key, loopback ports and static peers; a Clique genesis with the signers and
    the prefunded service accounts, whose keys go to DIR/keys. Refuses a DIR that holds one.
    Prints DIR/network.json."""
    from node.network import init_network

    with _reported():
        net = init_network(directory, validators, chain_id=chain_id, period=period)
        typer.echo((net.directory / "network.json").read_text().strip())


@network_app.command("add-node")
def network_add_node(directory: NetworkDir = Path("data/network")) -> None:
    """Add one validator to DIR (keys, ports, config; peered with every node). Start it with
    `heitje network up --node I`, then vote it in with `heitje network propose --add ADDRESS`.
    Prints the new node as JSON."""
    from node.network import add_node, node_summary

    with _reported():
        typer.echo(json.dumps(node_summary(add_node(directory)), indent=1))


@network_app.command("up")
def network_up(
    directory: NetworkDir = Path("data/network"),
    node: NodeIndex = None,
    timeout: Annotated[float, typer.Option(help="Seconds to wait for peers and a block.")] = 60,
) -> None:
    """Start every validator (or one) in the background on 127.0.0.1, sealing and peered; waits
    until a block is sealed. Logs in DIR/node-I/geth.log."""
    from node.network import up

    with _reported():
        started = up(directory, node, timeout=timeout)
    for n in started:
        typer.echo(f"{n.name} running at {n.rpc_url}", err=True)
    if not started:
        typer.echo("already running", err=True)


@network_app.command("down")
def network_down(
    directory: NetworkDir = Path("data/network"),
    node: NodeIndex = None,
    grace: Annotated[float, typer.Option(help="Seconds before SIGTERM turns into SIGKILL.")] = 30,
) -> None:
    """Stop every running validator (or one) cleanly: SIGTERM, then SIGKILL after the grace."""
    from node.network import down

    with _reported():
        stopped = down(directory, node, grace=grace)
    for n in stopped:
        typer.echo(f"{n.name} stopped", err=True)


@network_app.command("status")
def network_status(
    directory: NetworkDir = Path("data/network"),
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Per node: RPC URL, running or not, head block number and hash, peers, signer or not;
    and the current signer set."""
    from node.network import status

    with _reported():
        report = status(directory)
    if as_json:
        typer.echo(json.dumps(report, indent=1))
        return
    typer.echo(f"chain {report['chain_id']}, signers: {', '.join(report['signers'] or ['?'])}")
    for n in report["nodes"]:
        role = {True: "signer", False: "not a signer", None: "signer?"}[n["signer"]]
        if not n["running"]:
            typer.echo(f"{n['name']}  {n['rpc_url']}  stopped  {role}")
            continue
        typer.echo(
            f"{n['name']}  {n['rpc_url']}  block {n['block']} {n['hash']}  "
            f"peers {n['peers']}  {role}"
        )


@network_app.command("propose")
def network_propose(
    directory: NetworkDir = Path("data/network"),
    add: Annotated[str | None, typer.Option("--add", help="Address to vote in.")] = None,
    remove: Annotated[str | None, typer.Option("--remove", help="Signer to vote out.")] = None,
    wait: Annotated[
        float, typer.Option(help="Seconds to wait for the majority (0: cast and return).")
    ] = 60,
) -> None:
    """Cast the Clique vote to add or remove a signer from every running signer; with --wait,
    wait until the signer set changed and clear the votes. Prints the outcome as JSON."""
    from node.network import propose

    if (add is None) == (remove is None):
        fail("give exactly one of --add ADDRESS or --remove ADDRESS")
    with _reported():
        result = propose(directory, add or remove or "", authorize=add is not None, wait=wait)
    typer.echo(json.dumps(result, indent=1))


kek_app = typer.Typer(
    no_args_is_help=True,
    help="The key-encryption key of custodial keys: make, check, rotate (docs/operations.md).",
)
app.add_typer(kek_app, name="kek")


def _kek_settings(data_dir: Path) -> Settings:
    """Settings for DIR (the current KEK: HEITJE_KEK, HEITJE_KEK_FILE or DIR/keys/kek.key)."""
    from pydantic import ValidationError

    from heitje.settings import Settings

    try:
        return Settings(data_dir=data_dir)
    except ValidationError as e:
        fail(f"bad setting: {e.errors()[0]['loc'][0]}: {e.errors()[0]['msg']}")


@kek_app.command("new")
def kek_new(
    path: Annotated[Path, typer.Argument(help="Where to write the new key (must not exist).")],
) -> None:
    """Write a new key-encryption key to PATH: base64 of 32 random bytes, mode 0600. Prints its
    key id (16 hex digits; the key itself is never printed). Refuses an existing PATH."""
    from domain.keyring import kek_id
    from heitje.settings import read_kek_file
    from scripts.deploy import new_kek_file

    with _reported():
        try:
            new_kek_file(path)
        except FileExistsError:
            fail(f"{path} exists: give a new file")
        typer.echo(kek_id(read_kek_file(path)))


@kek_app.command("check")
def kek_check(data_dir: DataDirOpt = Path("data")) -> None:
    """Check the current key-encryption key as the service does at start: key files readable by
    the owner only, the KEK opens DIR/service.sqlite's check value (stored at first start) and
    every custodial key is sealed under it. Prints the key id; exit 2 with one line if not."""
    from domain.keyring import check_at_start

    settings = _kek_settings(data_dir)
    if not settings.service_db.is_file():
        fail(f"{settings.service_db} not found: the service has not run here")
    with _reported():
        typer.echo(check_at_start(settings))


@kek_app.command("rotate")
def kek_rotate(
    new_kek_file: Annotated[
        Path,
        typer.Option(
            "--new-kek-file", help="The new key-encryption key (`heitje kek new PATH` makes one)."
        ),
    ],
    data_dir: DataDirOpt = Path("data"),
) -> None:
    """Re-encrypt every custodial key of DIR under the new key-encryption key, then switch the
    database's check value to it. The current KEK comes from HEITJE_KEK, HEITJE_KEK_FILE or
    DIR/keys/kek.key. Stop the service first (the command holds its lock). Each key is
    re-encrypted in its own transaction: if the run is interrupted, run it again with the same
    two keys and it finishes. Prints {old_key_id, new_key_id, resealed, already_resealed,
    already_switched} as JSON; afterwards the service must start with the new KEK (install it
    as DIR/keys/kek.key or HEITJE_KEK_FILE). Exit 2 with one line on any refusal."""
    from domain.keyring import rotate_kek
    from heitje.settings import read_kek_file

    settings = _kek_settings(data_dir)
    with _reported():
        new = read_kek_file(new_kek_file)
        old = settings.key_encryption_key()
        done = rotate_kek(data_dir, old, new)
    typer.echo(json.dumps(dataclasses.asdict(done), indent=1))
    typer.echo(
        f"heitje: every custodial key is now sealed under key id {done.new_key_id}: start the "
        f"service with the KEK in {new_kek_file} (DIR/keys/kek.key or HEITJE_KEK_FILE)",
        err=True,
    )


def main() -> None:
    """Entry point of the `heitje` script. SIGTERM exits like Ctrl-C: child processes (chain,
    API, indexer) are stopped on the way out."""
    import signal

    def terminate(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, terminate)
    try:
        status = _status_argv(sys.argv[1:])
        if status is None:
            app()
        else:  # no typer parsing: it builds every command first and imports pydantic for it
            try:
                _status(*status)
            except typer.Exit as e:
                sys.exit(e.exit_code)
            except BrokenPipeError:  # `heitje status | head`: exit 1 quietly, as typer does
                import os

                os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
                sys.exit(1)
    except KeyboardInterrupt:
        sys.exit(130)


_STATUS_OPTIONS = {"--data-dir": "HEITJE_DATA_DIR", "--rpc-url": "HEITJE_RPC_URL"}


def _status_argv(argv: list[str]) -> tuple[Path, str, bool] | None:
    """`heitje status` arguments read as `status_cmd` declares them (`--data-dir DIR`,
    `--rpc-url URL`, also as `--opt=value`, the last one counting; their HEITJE_* variables
    and defaults; `--json`): (data_dir, rpc_url, as_json), or None for any other command line
    (`--help`, an unknown or incomplete option: typer answers those)."""
    if argv[:1] != ["status"]:
        return None
    import os

    values = {name: os.environ.get(env) or None for name, env in _STATUS_OPTIONS.items()}
    defaults = {"--data-dir": "data", "--rpc-url": "http://127.0.0.1:8545"}
    as_json = False
    rest = argv[1:]
    while rest:
        arg = rest.pop(0)
        name, eq, value = arg.partition("=")
        if arg == "--json":
            as_json = True
        elif name in _STATUS_OPTIONS and eq:
            values[name] = value
        elif arg in _STATUS_OPTIONS and rest and not rest[0].startswith("-"):
            values[arg] = rest.pop(0)
        else:
            return None
    data_dir, rpc_url = (defaults[k] if values[k] is None else values[k] for k in defaults)
    return Path(str(data_dir)), str(rpc_url), as_json


if __name__ == "__main__":  # `python -m scripts.cli`, as `scripts.stack.HEITJE_COMMAND` runs it
    main()
