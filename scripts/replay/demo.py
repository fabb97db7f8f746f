"""Replay a programme year (heitje-scenario/1) through the real product.

Starts a fresh embedded chain (or uses `rpc_url`), deploys the token, starts the indexer and the
API as child processes, then plays every event as that user's own client would over HTTP:
coordinators publish and judge tasks, citizens claim, submit and pay, shops refund and redeem;
the finance officer settles (`domain.settlement.run_settlement`). Then it audits and returns the
report described in shared/scenarios/README.md (a JSON-ready dict).

The API runs in rehearsal mode: each request carries the event's time (`X-Heitje-Time`), so the
yearly cap counts the scenario's calendar years. Chain time stays real; settlement cuts off by
chain position (`through_block`): the head block reached when the last event at or before the
settle's `through` was replayed, or the block of the last redemption at or before `through` if
that is later (a block the network replaced may have moved it).

On an external chain (`rpc_url`, e.g. the geth Clique network of `heitje network`) the service
keys come from `keys_dir` (the network's `DIR/keys`, written by `heitje network init`) and are
copied into the data dir; only standard JSON-RPC is used. The indexer stays `confirmations`
blocks behind the head (default 2 there, 0 on the embedded anvil chain), so a block Clique
replaces (an out-of-turn block that lost to the in-turn one) never reaches the mirror; the
replay waits for the chain to grow that far past a settlement's cut-off, and before a citizen
or shop pays or redeems, for the last transaction that changed its balance to be that deep (the
API checks the balance against the head, which such a replaced block could briefly lack).
"""

from __future__ import annotations

import shutil
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from heitje.errors import ConfigError, HeitjeError, InvalidAmount
from heitje.money import format_eur, format_heit, parse_heit
from scripts.children import hold_api
from scripts.replay.scenario import Scenario, load_scenario

if TYPE_CHECKING:
    import httpx

    from indexer.mirror import Mirror
    from scripts.replay.client import Client
    from scripts.stack import Stack

REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_SCENARIO = REPO_ROOT / "scenarios" / "example-year.json"

NETWORK_CONFIRMATIONS = 2
"""The indexer's confirmation depth on an external chain: geth Clique replaces at most the newest
block or two (an out-of-turn block that lost to the in-turn one)."""


def programme_period(scenario: Scenario) -> tuple[int, int]:
    """The on-chain reward period a rehearsal opens: (budget, cap per citizen) in base units.

    The budget is the sum of every valid task reward (nothing more can be minted); the chain's
    cap per citizen is the yearly cap times the calendar years the events span, because chain
    time is real time during a replay while the API checks the yearly cap in scenario time.
    """
    budget = 0
    for task in scenario.tasks:
        try:
            budget += parse_heit(task.reward)
        except InvalidAmount:
            continue
    years = {ev.at.year for ev in scenario.events} or {0}
    cap = parse_heit(scenario.policy.annual_reward_cap) * len(years)
    return max(budget, 1), cap


def replay_throttles(scenario: Scenario) -> dict[str, str]:
    """Sign-up throttle settings for a replay: every citizen and shop of `scenario` signs up
    from this machine within the hour (both count), so both limits are raised to at least that
    many (and never below the service's defaults)."""
    n = str(max(len(scenario.citizens) + len(scenario.shops) + 1, 200))
    return {"HEITJE_SIGNUP_PER_ADDRESS_PER_HOUR": n, "HEITJE_SIGNUP_PER_HOUR": n}


def _client(api_url: str, responses: list[httpx.Response] | None) -> Client:
    """The replay's client of `api_url`, keeping every response in `responses` if given."""
    from scripts.replay.client import Client

    client = Client(api_url, timeout=120, keep=responses is not None)
    if responses is not None:
        client.responses = responses
    return client


def run_demo(
    scenario_path: Path,
    *,
    data_dir: Path | None = None,
    rpc_url: str | None = None,
    keys_dir: Path | None = None,
    confirmations: int | None = None,
    responses: list[httpx.Response] | None = None,
) -> dict[str, Any]:
    """Replay `scenario_path` end to end and return the report (see module docstring).

    `data_dir` must be new or empty (a temporary one, removed afterwards, if None). Without
    `rpc_url` an embedded anvil chain is started with dev keys; with it, `keys_dir` (required)
    holds the chain's funded service keys, copied to `data_dir/keys`. `confirmations` is the
    indexer's depth (default 0 on anvil, `NETWORK_CONFIRMATIONS` with `rpc_url`). Every HTTP
    response of the replay is appended, read, to `responses` when given (for checks over all).
    Raises `HeitjeError` subclasses: `invalid_scenario`, `chain_start_failed`,
    `service_start_failed`, `replay_timeout`, `data_dir_not_empty`, `invalid_input`,
    `missing_key`, `keys_not_funded`.
    """
    scenario = load_scenario(scenario_path)
    if confirmations is None:
        confirmations = 0 if rpc_url is None else NETWORK_CONFIRMATIONS
    if confirmations < 0:
        raise ConfigError("--confirmations must not be negative", code="invalid_input")
    temporary = data_dir is None
    data_dir = Path(tempfile.mkdtemp(prefix="heitje-demo-")) if data_dir is None else data_dir
    if data_dir.exists() and any(data_dir.iterdir()):
        raise HeitjeError(
            f"{data_dir} is not empty: give a new directory", code="data_dir_not_empty"
        )
    created = not data_dir.exists()
    data_dir.mkdir(parents=True, exist_ok=True)
    data_dir = data_dir.resolve()
    started = time.monotonic()
    # The API's child imports its code while this process imports the rest of its own (web3,
    # settlement, audit: about a second each, on both cores).
    api = hold_api(data_dir)
    stack: Stack | None = None
    try:
        from indexer.mirror import Mirror
        from scripts.audit import audit
        from scripts.replay.replayer import Replayer, mirror_block, progress, wait_until
        from scripts.stack import start_stack

        budget, cap_per_citizen = programme_period(scenario)
        m, policy = scenario.municipality, scenario.policy
        stack = start_stack(
            data_dir,
            rpc_url=rpc_url,
            keys_dir=keys_dir,
            confirmations=confirmations,
            budget=budget,
            cap_per_citizen=cap_per_citizen,
            env={
                "HEITJE_ANNUAL_REWARD_CAP": policy.annual_reward_cap,
                "HEITJE_SEPARATION_OF_DUTIES": str(policy.separation_of_duties).lower(),
                "HEITJE_FOUR_EYES_THRESHOLD": policy.four_eyes_threshold or "",
                "HEITJE_MONTHLY_REWARD_CAP": policy.monthly_reward_cap or "",
                "HEITJE_MAX_REWARD_PER_HOUR": policy.max_reward_per_hour or "",
                # Staff of a replay log in through the API with their password alone (the
                # second factor is for people at the staff pages; it decides no event).
                "HEITJE_STAFF_SECOND_FACTOR": "false",
                # Every client of a replay runs on this machine: the sign-up throttle is raised
                # to fit the file's sign-ups (it decides no scenario event).
                **replay_throttles(scenario),
                "HEITJE_EUR_PER_HEITJE": m.eur_per_heitje,
                "HEITJE_MUNICIPALITY_NAME": m.name,
                "HEITJE_MUNICIPALITY_IBAN": m.iban,
                "HEITJE_MUNICIPALITY_BIC": m.bic or "",
            },
            api=api,
        )
        rpc_url, token, paths = stack.rpc_url, stack.token, stack.paths
        progress(f"chain {rpc_url}, token {token.address} (block {stack.manifest.deploy_block})")
        progress(f"API on {stack.api_url} (docs at /docs)")
        admin_password = stack.admin_password
        mirrors: list[Mirror] = []  # opened once the indexer made it, after the sign-ups

        def mirrored() -> int:
            if not mirrors:
                wait_until(lambda: paths.mirror_db.exists(), "the indexer")
                mirrors.append(Mirror(paths.mirror_db))
            return mirror_block(mirrors[0])

        replay = Replayer(
            scenario, _client(stack.api_url, responses), token, data_dir, mirrored, confirmations
        )
        replay.setup(admin_password)
        mirrored()
        total = len(scenario.events)
        events_started = time.monotonic()
        progress(
            f"set-up took {events_started - started:.1f}s; replaying {total} events of "
            f"{scenario.name or scenario_path.name} (indexer {confirmations} blocks behind)"
        )
        step = max(1, total // 20)

        def on_event(i: int) -> None:
            if (i + 1) % step == 0 or i + 1 == total:
                progress(f"  {i + 1}/{total} events")

        replay.play(on_event)
        progress(f"events took {time.monotonic() - events_started:.1f}s")
        replay.wait_for_mirror(replay.head())
        report = audit(data_dir, rpc_url)
        accounts = {u: format_heit(token.balance_of(a)) for u, a in replay.addresses.items()}
        ledger_total = report.settled_cents
        out: dict[str, Any] = {
            "accounts": accounts,
            "minted": format_heit(token.total_minted()),
            "redeemed": format_heit(token.total_redeemed()),
            "total_supply": format_heit(token.total_supply()),
            "settled_eur": format_eur(ledger_total),
            "rejected": replay.rejected,
            "rejected_registrations": replay.rejected_registrations,
            "settlement_files": replay.settlement_files,
            "reconciled": not report.differences,
        }
        if report.differences:
            out["differences"] = report.differences
        progress(f"done in {time.monotonic() - started:.1f}s; reconciled: {out['reconciled']}")
        return out
    except ConfigError:
        if stack is None:  # refused before it started (keys, options): left as it was found
            api.child.stop()
            _empty(data_dir, remove=created)
        raise
    finally:
        if stack is not None:
            stack.stop()
        api.child.stop()  # no-op once the stack stopped it (or failed to start)
        if temporary:
            shutil.rmtree(data_dir, ignore_errors=True)


def _empty(data_dir: Path, *, remove: bool) -> None:
    """Remove what a refused replay wrote into `data_dir` (empty when it began: the API's
    log), and the directory itself when the replay made it (`remove`)."""
    if remove:
        shutil.rmtree(data_dir, ignore_errors=True)
        return
    for entry in data_dir.iterdir():
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry, ignore_errors=True)
        else:
            entry.unlink(missing_ok=True)
