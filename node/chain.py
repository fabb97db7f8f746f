"""The service's link to the chain: the token, and one signer per service role it uses.

The registrar registers custodial accounts, the minter mints rewards, the relayer submits
EIP-3009 authorizations signed by custodial keys (it pays gas; people never do).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from web3 import Web3

from heitje.settings import Settings
from node.keys import service_key
from node.manifest import Manifest
from node.signer import Signer
from node.token import Token, connect

log = logging.getLogger(__name__)


@dataclass
class ChainService:
    """Web3 connection, token binding and role signers built from settings."""

    w3: Web3
    manifest: Manifest
    token: Token
    registrar: Signer
    minter: Signer
    relayer: Signer

    @classmethod
    def from_settings(cls, settings: Settings) -> ChainService:
        """Connect to `rpc_url`, load the manifest and the role keys (transaction managers that
        count a transaction at `settings.confirmations` blocks deep). Journaled transactions
        are not looked at here: `recover` (or the dispatcher's rounds) does that, so a start
        never waits on hundreds of open transactions."""
        w3 = connect(settings.rpc_url)
        manifest = Manifest.load(settings.manifest_path)
        token = Token(w3, manifest.token)

        def signer(role: str) -> Signer:
            key = service_key(settings.keys_dir, role)
            return Signer(
                w3,
                key,
                settings.nonce_journal,
                confirmations=settings.confirmations,
                expire_after=settings.tx_expire_after,
            )

        return cls(w3, manifest, token, signer("registrar"), signer("minter"), signer("relayer"))

    def recover(self) -> None:
        """Follow every journaled open transaction of every key once (`Signer.recover`): what
        a crash left signed or sent is broadcast again or found final. A key the node cannot
        reach now is left to the next round (logged)."""
        for s in self.signers():
            try:
                s.recover()
            except Exception:
                log.exception("recovering the open transactions of %s failed", s.address)

    def signers(self) -> tuple[Signer, ...]:
        """The transaction managers of the service's keys."""
        return (self.registrar, self.minter, self.relayer)
