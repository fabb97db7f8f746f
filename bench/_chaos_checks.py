"""The chaos benchmark's checks after recovery (`bench/chaos.py`): the chain, the model and the
mirror compared; each figure, what failed, and the details of each difference."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from _chaos_client import Task
from _chaos_storm import Storm
from _common import note
from hexbytes import HexBytes
from web3 import Web3
from web3.exceptions import TransactionNotFound

from heitje.datadir import DataDir
from heitje.money import format_heit
from node.contract import task_ref
from node.token import Token, connect
from scripts.audit import audit
from store import tasks as stored_tasks
from store.db import connect as connect_db

AUTHORIZATION_USED = bytes(Web3.keccak(text="AuthorizationUsed(address,bytes32)"))
TRANSFER = bytes(Web3.keccak(text="Transfer(address,address,uint256)"))
REWARD_MINTED = bytes(Web3.keccak(text="RewardMinted(address,uint256,bytes32)"))


@dataclass
class Findings:
    lines: list[tuple[str, str]] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    details: list[str] = field(default_factory=list)


def check(
    storm: Storm, anvil_url: str, stuck_intents: list[dict[str, Any]], mirror_ok: bool
) -> Findings:
    model, stack = storm.model, storm.stack
    f = Findings()
    w3 = connect(anvil_url)
    token = Token(w3, stack.manifest.token)
    start = stack.manifest.deploy_block

    def logs(topic: bytes) -> list[Any]:
        return list(
            w3.eth.get_logs(
                {
                    "address": token.address,
                    "fromBlock": start,
                    "toBlock": "latest",
                    "topics": [HexBytes(topic)],
                }
            )
        )

    def topic_address(value: bytes) -> str:
        return Web3.to_checksum_address(bytes(value)[-20:])

    # rewards: approved vs minted exactly once
    approved = [t for t in model.tasks if t.approved]
    refused = [t for t in model.tasks if not t.approved]
    db = connect_db(DataDir(stack.data_dir).service_db)
    refs: dict[bytes, Task] = {}
    try:
        for t in approved:
            row = stored_tasks.get(db, t.ref)
            if row is None:
                f.details.append(f"task {t.ref} was answered approved but is not in the service")
                continue
            refs[task_ref(f"{row['id']}:{t.ref}")] = t
    finally:
        db.close()
    minted: Counter[bytes] = Counter()
    minted_to: Counter[str] = Counter()
    for entry in logs(REWARD_MINTED):
        minted[bytes(entry["topics"][2])] += 1
        minted_to[topic_address(entry["topics"][1])] += int.from_bytes(bytes(entry["data"]), "big")
    lost = [t for r, t in refs.items() if not token.is_task_rewarded(r)]
    known = {t.ref for t in refs.values()}
    lost += [t for t in approved if t.ref not in known]
    doubled = sum(c - 1 for c in minted.values() if c > 1)
    doubled += sum(c for r, c in minted.items() if r not in refs)
    once = sum(1 for r in refs if minted[r] == 1)
    owed = sum(t.reward for t in approved)
    total_minted = int(token.total_minted())
    f.lines.append(
        (
            "rewards approved vs minted exactly once",
            f"{len(approved)} approved, {once} minted exactly once: "
            f"{len(lost)} lost, {doubled} doubled",
        )
    )
    note(
        f"rewards: owed {format_heit(owed)} HEIT, token.totalMinted {format_heit(total_minted)}"
        f" HEIT ({'equal' if owed == total_minted else 'DIFFERENT'}); "
        f"{len(refused)} tasks not approved"
    )
    for t in refused[:5]:
        f.details.append(f"task {t.ref} not approved: {t.refusal}")
    for t in lost[:5]:
        f.details.append(f"lost: task {t.ref} of {t.citizen} ({format_heit(t.reward)} HEIT)")
    if lost or doubled or owed != total_minted:
        f.failures.append(
            f"rewards: {len(lost)} lost, {doubled} doubled, owed {format_heit(owed)} vs "
            f"minted {format_heit(total_minted)}"
        )

    # payments answered confirmed vs on chain
    payments = model.payments
    final_confirmed = [p for p in payments if p.state == "confirmed"]
    answered = [p for p in payments if p.confirmed_hashes]
    attackers = set(storm.proxy.faults.front_runs)
    on_chain = 0
    by_attacker = 0
    for p in answered:
        ok = len(p.confirmed_hashes) == 1
        for h in p.confirmed_hashes:
            ok = ok and _used_on_chain(w3, token.address, h, model.addresses[p.payer])
            by_attacker += h in attackers
        on_chain += ok
        if not ok:
            f.details.append(
                f"payment {p.key} ({p.payer} -> {p.payee} {format_heit(p.units)}) answered "
                f"confirmed with {sorted(p.confirmed_hashes)}: not so on chain"
            )
    f.lines.append(
        (
            "payments answered confirmed vs on chain",
            f"{len(answered)} answered confirmed, {on_chain} on chain",
        )
    )
    if on_chain != len(answered):
        f.failures.append(f"payments: {len(answered) - on_chain} confirmed answers not on chain")

    # payments paid twice: every transfer between the users on chain against the model (a
    # transfer no confirmed payment accounts for is a second payment, or a payment answered
    # refused that moved money all the same), the authorizations used, and every balance
    names = {address: name for name, address in model.addresses.items()}
    moved: Counter[tuple[str, str, int]] = Counter()
    for e in logs(TRANSFER):
        payer, payee = topic_address(e["topics"][1]), topic_address(e["topics"][2])
        if payer in names and payee in names:
            moved[(names[payer], names[payee], int.from_bytes(bytes(e["data"]), "big"))] += 1
    paid: Counter[tuple[str, str, int]] = Counter(
        (p.payer, p.payee, p.units) for p in final_confirmed
    )
    answered_refused: Counter[tuple[str, str, int]] = Counter(
        (p.payer, p.payee, p.units) for p in payments if p.state == "refused"
    )
    # a payment never answered final (the recovery gave up on it) that moved money is not a
    # second payment: it is counted as unanswered (and its intent or payment as stuck below)
    unanswered: Counter[tuple[str, str, int]] = Counter(
        (p.payer, p.payee, p.units) for p in payments if p.state not in ("confirmed", "refused")
    )
    twice = 0
    paid_refused = 0
    paid_unanswered = 0
    for item, count in (moved - paid).items():
        for _ in range(count):
            if unanswered[item] > 0:
                unanswered[item] -= 1
                paid_unanswered += 1
                f.details.append(f"paid on chain, never answered final: {item}")
            elif answered_refused[item] > 0:
                answered_refused[item] -= 1
                paid_refused += 1
                f.details.append(f"paid on chain though answered refused: {item}")
            else:
                twice += 1
                f.details.append(f"paid on chain once more than answered: {item}")
    used: Counter[str] = Counter(topic_address(e["topics"][1]) for e in logs(AUTHORIZATION_USED))
    confirmed_by: Counter[str] = Counter(p.payer for p in final_confirmed)
    for name, address in model.addresses.items():
        if used[address] != confirmed_by[name]:
            f.details.append(
                f"{name}: {used[address]} authorizations used on chain, "
                f"{confirmed_by[name]} payments confirmed"
            )
    expected: Counter[str] = Counter()
    for t in approved:
        expected[t.citizen] += t.reward
    for p in final_confirmed:
        expected[p.payer] -= p.units
        expected[p.payee] += p.units
    differ = []
    for name, address in sorted(model.addresses.items()):
        balance = int(token.balance_of(address))
        if balance != expected[name]:
            differ.append(name)
            f.details.append(
                f"balance of {name}: chain {format_heit(balance)}, model "
                f"{format_heit(expected[name])} (minted to it {format_heit(minted_to[address])})"
            )
    f.lines.append(
        (
            "payments paid twice",
            f"{twice} (paid though answered refused: {paid_refused}; paid, never answered "
            f"final: {paid_unanswered}; balances: "
            f"{len(model.addresses) - len(differ)} of {len(model.addresses)} accounts equal to "
            "the model)",
        )
    )
    if twice or paid_refused or paid_unanswered or differ:
        f.failures.append(
            f"payments: {twice} paid twice, {paid_refused} paid though answered refused, "
            f"{paid_unanswered} paid but never answered final, {len(differ)} balances differ"
        )

    # stuck
    stuck_payments = [p for p in payments if not p.final]
    stuck = len(stuck_intents) + len(stuck_payments)
    f.lines.append(
        (
            "intents still stuck after recovery",
            f"{stuck} (outbox {len(stuck_intents)}, payments not final {len(stuck_payments)})",
        )
    )
    for i in stuck_intents[:5]:
        f.details.append(f"stuck intent: {i}")
    for p in stuck_payments[:5]:
        f.details.append(f"stuck payment {p.key}: {p.state}, answers {dict(p.answers)}")
    if stuck:
        f.failures.append(f"{stuck} stuck")

    # mirror
    try:
        report = audit(stack.data_dir, anvil_url)
        diffs = report.differences
        block: int | str = report.block
    except Exception as e:
        diffs, block = [f"audit failed: {e}"], "?"
    equal = mirror_ok and not diffs
    f.lines.append(
        (
            "mirror equal to chain",
            f"{'yes' if equal else 'NO'} (audit at block {block}: {len(diffs)} differences"
            f"{'' if mirror_ok else '; the mirror did not reach the head in time'})",
        )
    )
    f.details += [f"mirror: {d}" for d in diffs[:10]]
    if not equal:
        f.failures.append("mirror differs from chain")

    # context
    states = Counter(p.state for p in payments)
    refusals = Counter(p.refusal for p in payments if p.state == "refused")
    answers: Counter[str] = Counter()
    for p in payments:
        answers.update(p.answers)
    note(
        f"payments: {len(payments)} made, final: {dict(states)}; refusals: {dict(refusals)}; "
        f"{sum(1 for p in payments if sum(p.answers.values()) > 1)} needed more than one request"
    )
    note(f"payment answers: {dict(answers.most_common())}")
    won = sum(1 for h in attackers if _succeeded(w3, h))
    note(
        f"front-running: {len(attackers)} attacker transactions sent, {won} took the payment on "
        f"chain; {by_attacker} confirmed answers carry the attacker's transaction hash"
    )
    return f


def _succeeded(w3: Web3, tx_hash: str) -> bool:
    try:
        return int(w3.eth.get_transaction_receipt(tx_hash)["status"]) == 1  # type: ignore[arg-type]
    except TransactionNotFound:
        return False


def _used_on_chain(w3: Web3, token: str, tx_hash: str, payer: str) -> bool:
    """`tx_hash` succeeded in a block of the canonical chain and used an authorization of
    `payer` (`AuthorizationUsed`)."""
    try:
        receipt = w3.eth.get_transaction_receipt(tx_hash)  # type: ignore[arg-type]
    except TransactionNotFound:
        return False
    if int(receipt["status"]) != 1:
        return False
    block = w3.eth.get_block(receipt["blockNumber"])
    if bytes(block["hash"]) != bytes(receipt["blockHash"]):
        return False
    return any(
        Web3.to_checksum_address(entry["address"]) == token
        and bytes(entry["topics"][0]) == AUTHORIZATION_USED
        and Web3.to_checksum_address(bytes(entry["topics"][1])[-20:]) == payer
        for entry in receipt["logs"]
    )
