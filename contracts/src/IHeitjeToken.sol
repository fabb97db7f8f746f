// SPDX-License-Identifier: EUPL-1.2
pragma solidity ^0.8.24;

/// @title IHeitjeToken
/// @notice The civic reward coin HEIT: permissioned ERC-20 with 2 decimals,
/// reward minting once per task, redemption by shops, and EIP-3009 signed
/// transfers so citizens and shops never need native coin.
interface IHeitjeToken {
    /// @notice Kind of a registered account. `None` means not registered.
    enum AccountKind {
        None,
        Citizen,
        Shop
    }

    /// @notice Why a registrar moved an account's balance to a new account.
    enum RecoveryReason {
        LostKey,
        ErasureRequest,
        KeyRotation
    }

    /// @notice One redemption: a shop handed HEIT back for euros (burned).
    struct Redemption {
        address shop;
        uint64 timestamp;
        uint256 amount;
    }

    /// @notice A reward period opened by the admin: from `start` until the next period starts,
    /// at most `budget` base units minted in all, at most `capPerCitizen` to one citizen.
    struct RewardPeriod {
        uint64 start;
        uint256 budget;
        uint256 capPerCitizen;
        uint256 minted;
    }

    /// @notice A settlement batch recorded on chain: which redemptions one payment file paid.
    /// @dev Recorded in one or more parts (`recordSettlementPart`): `fileHash` and `totalCents`
    /// are set by the first part, `redemptions`, `totalUnits`, `parts` and `lastId` grow with
    /// each part, `closed` is set by the last. `recordedAt` is the time of the first part.
    struct Settlement {
        bytes32 fileHash;
        uint64 recordedAt;
        uint32 redemptions;
        uint32 parts;
        uint64 lastId;
        bool closed;
        uint256 totalUnits;
        uint256 totalCents;
    }

    /// @notice Redemption ids `first` to `last`, both included.
    struct RedemptionRange {
        uint256 first;
        uint256 last;
    }

    // ----- errors -----

    /// @notice `taskRef` was rewarded before; a task is rewarded at most once, ever.
    error HeitjeTaskAlreadyRewarded(bytes32 taskRef);
    /// @notice The task reference is zero.
    error HeitjeInvalidTaskRef();
    /// @notice The amount is zero.
    error HeitjeZeroAmount();
    /// @notice `account` is not a registered citizen.
    error HeitjeNotCitizen(address account);
    /// @notice `account` is not a registered shop.
    error HeitjeNotShop(address account);
    /// @notice Only citizen -> shop and shop -> citizen move HEIT between holders.
    error HeitjeTransferNotAllowed(address from, address to);
    /// @notice The account still holds HEIT, so its kind cannot change.
    error HeitjeAccountHasBalance(address account, uint256 balance);
    /// @notice The zero address cannot be registered.
    error HeitjeInvalidAccount(address account);
    /// @notice EIP-3009: the authorization is not valid yet.
    /// @param validAfter The authorization is valid only after this time (unix seconds).
    error HeitjeAuthorizationNotYetValid(uint256 validAfter);
    /// @notice EIP-3009: the authorization has expired.
    /// @param validBefore The authorization was valid only before this time (unix seconds).
    error HeitjeAuthorizationExpired(uint256 validBefore);
    /// @notice EIP-3009: the nonce was used or canceled before.
    error HeitjeAuthorizationUsed(address authorizer, bytes32 nonce);
    /// @notice The signature is not the authorizer's.
    error HeitjeInvalidSignature(address authorizer);
    /// @notice EIP-3009 receiveWithAuthorization: only the payee may submit it.
    error HeitjeCallerNotPayee(address caller, address payee);
    /// @notice No reward period has started yet.
    error HeitjeNoActivePeriod();
    /// @notice A new period must start now or later, after the last one's start.
    error HeitjeInvalidPeriod(uint64 start);
    /// @notice The mint would take the period past its budget.
    /// @param periodId The period in force.
    /// @param remaining Base units the period may still mint.
    /// @param amount Base units asked for.
    error HeitjePeriodBudgetExceeded(uint256 periodId, uint256 remaining, uint256 amount);
    /// @notice The mint would take the citizen past the period's cap.
    /// @param citizen The citizen to be rewarded.
    /// @param periodId The period in force.
    /// @param earned Base units the citizen was rewarded in the period so far.
    /// @param amount Base units asked for.
    error HeitjeCitizenCapExceeded(address citizen, uint256 periodId, uint256 earned, uint256 amount);
    /// @notice Batch arrays differ in length or are empty.
    error HeitjeInvalidBatch();
    /// @notice No redemption has this id.
    error HeitjeUnknownRedemption(uint256 redemptionId);
    /// @notice The redemption was recorded in a settlement batch before.
    /// @param redemptionId The redemption.
    /// @param batchId The batch that recorded it.
    error HeitjeRedemptionAlreadySettled(uint256 redemptionId, bytes32 batchId);
    /// @notice The batch id is zero, or the batch was closed (its last part recorded) before.
    error HeitjeInvalidSettlementBatch(bytes32 batchId);
    /// @notice A later part of batch `batchId` names another payment file or euro total than its
    /// first part.
    error HeitjeSettlementMismatch(bytes32 batchId);
    /// @notice The range is empty (`first` > `last`) or does not start after the batch's previous
    /// range: a batch's ranges ascend and are disjoint, across its parts too.
    error HeitjeInvalidRedemptionRange(uint256 first, uint256 last);
    /// @notice Recovery needs two different registered accounts of the same kind, the new one
    /// holding nothing and rewarded nothing in the current period.
    error HeitjeInvalidRecovery(address from, address to);

    // ----- events -----

    /// @notice `account` was given `kind` (`None`: deregistered).
    event AccountRegistered(address indexed account, AccountKind kind);
    /// @notice `amount` base units were minted to citizen `to` for task `taskRef`.
    event RewardMinted(address indexed to, uint256 amount, bytes32 indexed taskRef);
    /// @notice Shop `shop` redeemed (burned) `amount` base units; `redemptionId` counts from 1.
    event Redeemed(uint256 indexed redemptionId, address indexed shop, uint256 amount);
    /// @notice EIP-3009: the authorization `nonce` of `authorizer` was used.
    event AuthorizationUsed(address indexed authorizer, bytes32 indexed nonce);
    /// @notice EIP-3009: the authorization `nonce` of `authorizer` was canceled.
    event AuthorizationCanceled(address indexed authorizer, bytes32 indexed nonce);
    /// @notice Reward period `periodId` (from 1) was opened.
    event RewardPeriodOpened(uint256 indexed periodId, uint64 start, uint256 budget, uint256 capPerCitizen);
    /// @notice Settlement batch `batchId` paid `redemptions` redemptions (`totalUnits` burned HEIT)
    /// with `totalCents` euro cents in the payment file whose sha256 is `fileHash`. Emitted once,
    /// by the part that closes the batch, with the batch's totals.
    event SettlementRecorded(
        bytes32 indexed batchId, uint256 redemptions, uint256 totalUnits, uint256 totalCents, bytes32 fileHash
    );
    /// @notice Part `part` (from 1) of settlement batch `batchId` recorded the redemption ids in
    /// `ranges`: `redemptions` ids of `totalUnits` burned base units in all.
    event SettlementPartRecorded(
        bytes32 indexed batchId, uint256 part, RedemptionRange[] ranges, uint256 redemptions, uint256 totalUnits
    );
    /// @notice The registrar moved `amount` from `from` to `to` and deregistered `from`.
    event AccountRecovered(address indexed from, address indexed to, uint256 amount, RecoveryReason reason);

    // ----- registry -----

    /// @notice Register `account` as a citizen or shop, or deregister it with `None`.
    /// @dev Requirements:
    /// - caller has REGISTRAR_ROLE;
    /// - `account` is not the zero address;
    /// - when the kind changes, `account` holds no HEIT.
    /// Emits `AccountRegistered`, also when the kind stays the same.
    function registerAccount(address account, AccountKind kind) external;

    /// @notice Register several accounts as the same kind in one transaction (one sign-up
    /// costs the registrar a share of one transaction, not one of its own).
    /// @dev Atomic: if any item would fail as `registerAccount` (the zero address, a kind
    /// change of an account holding HEIT), the whole batch reverts and nothing changes.
    /// Requirements: as `registerAccount` for every item; caller has REGISTRAR_ROLE; a
    /// non-empty `accounts` (else `HeitjeInvalidBatch`). Emits `AccountRegistered` per account,
    /// in order, also when its kind stays the same or it appears twice.
    /// @param accounts The accounts to register.
    /// @param kind The kind each of them gets (`None`: deregister them).
    function registerAccounts(address[] calldata accounts, AccountKind kind) external;

    /// @notice The kind of `account`: `None` when it is not registered.
    function accountKind(address account) external view returns (AccountKind);

    // ----- rewards -----

    /// @notice Mint `amount` base units to citizen `to` as the reward for task `taskRef`.
    /// @dev Requirements:
    /// - caller has MINTER_ROLE; not paused;
    /// - `to` is a registered citizen; `amount` > 0; `taskRef` != 0;
    /// - `taskRef` was never rewarded before (else `HeitjeTaskAlreadyRewarded`);
    /// - a reward period has started, and the mint keeps it within its budget and the
    ///   citizen within its cap per citizen.
    /// @param to The citizen rewarded.
    /// @param amount Base units (100 = 1 HEIT).
    /// @param taskRef The service's reference of the approved task; rewarded at most once.
    function mintReward(address to, uint256 amount, bytes32 taskRef) external;

    /// @notice Mint several rewards in one transaction (throughput): `amounts[i]` to `to[i]`
    /// for `taskRefs[i]`.
    /// @dev Atomic: if any item would fail as `mintReward` (including a task reference that
    /// was rewarded before or appears twice in the batch: `HeitjeTaskAlreadyRewarded`), the
    /// whole batch reverts and nothing is minted. Requirements: as `mintReward` for every
    /// item; equal, non-zero array lengths (else `HeitjeInvalidBatch`).
    function mintRewards(address[] calldata to, uint256[] calldata amounts, bytes32[] calldata taskRefs) external;

    /// @notice True when task `taskRef` was rewarded (by `mintReward` or `mintRewards`).
    function isTaskRewarded(bytes32 taskRef) external view returns (bool);

    /// @notice Base units minted as rewards since deployment, over all periods.
    /// @dev Total supply = `totalMinted` - `totalRedeemed`.
    function totalMinted() external view returns (uint256);

    // ----- redemption -----

    /// @notice Hand `amount` base units back for euros: they are burned and a
    /// redemption id is issued for settlement.
    /// @dev Requirements: caller is a registered shop holding `amount`; `amount` > 0; not paused;
    /// all redemptions together stay below 2^128 base units (else OpenZeppelin SafeCast's
    /// `SafeCastOverflowedUintDowncast`).
    /// @return redemptionId The new redemption's id (ids count from 1).
    function redeem(uint256 amount) external returns (uint256 redemptionId);

    /// @notice `redeem` on behalf of `shop`, with the shop's EIP-712 signature of
    /// RedeemWithAuthorization(shop, amount, validAfter, validBefore, nonce).
    /// @dev Requirements: as `redeem`, plus a valid, unused, current authorization.
    /// @param shop The redeeming shop, which signed.
    /// @param amount Base units to burn.
    /// @param validAfter Valid only after this time (unix seconds).
    /// @param validBefore Valid only before this time (unix seconds).
    /// @param nonce A unique 32-byte nonce chosen by the shop (shared with EIP-3009 nonces).
    /// @return redemptionId The new redemption's id (ids count from 1).
    function redeemWithAuthorization(
        address shop,
        uint256 amount,
        uint256 validAfter,
        uint256 validBefore,
        bytes32 nonce,
        uint8 v,
        bytes32 r,
        bytes32 s
    ) external returns (uint256 redemptionId);

    /// @notice The number of redemptions so far, which is also the id of the latest.
    function redemptionCount() external view returns (uint256);

    /// @notice The redemption with id `redemptionId` (ids count from 1).
    /// @dev Reverts with a Solidity panic for an id that does not exist (0: 0x11, past the end: 0x32).
    function redemption(uint256 redemptionId) external view returns (Redemption memory);

    /// @notice Base units redeemed (burned) by shops since deployment.
    function totalRedeemed() external view returns (uint256);

    // ----- reward periods -----

    /// @notice Open reward period from `start` (unix seconds; 0 means now) until the next
    /// period starts, with `budget` base units in all and at most `capPerCitizen` to one
    /// citizen. Returns its id (from 1).
    /// @dev Requirements: caller has DEFAULT_ADMIN_ROLE; `start` >= now and later than the
    /// previous period's start (else `HeitjeInvalidPeriod`).
    /// @return periodId The new period's id (ids count from 1).
    function openRewardPeriod(uint64 start, uint256 budget, uint256 capPerCitizen) external returns (uint256 periodId);

    /// @notice The id of the period in force now (the latest that has started); 0 if none.
    function currentPeriodId() external view returns (uint256);

    /// @notice Period `periodId` (from 1). Reverts with a panic for an unknown id.
    function rewardPeriod(uint256 periodId) external view returns (RewardPeriod memory);

    /// @notice Base units the current period may still mint (0 without a period).
    function remainingBudget() external view returns (uint256);

    /// @notice Base units `citizen` was rewarded in the current period.
    function rewardsInCurrentPeriod(address citizen) external view returns (uint256);

    /// @notice Base units `citizen` was rewarded in period `periodId`.
    function rewardsInPeriod(uint256 periodId, address citizen) external view returns (uint256);

    // ----- settlement anchoring -----

    /// @notice Record part of settlement batch `batchId`: payment file `fileHash` (sha256) paid
    /// the redemption ids in `ranges` with `totalCents` euro cents for the whole batch; `last`
    /// closes the batch. A batch of any size is recorded in as many parts as the block gas limit
    /// needs (one `SettlementPartRecorded` each; the closing part also emits `SettlementRecorded`).
    /// @dev The batch's burned units are summed on chain from each redemption's running total
    /// (`range` total = redeemedThrough(last) - redeemedThrough(first - 1)); settled ids are kept
    /// as a bitmap (one storage word per 256 ids) and each range's start with its batch, so the
    /// cost is about one storage write per 256 ids plus one per range, not one per id.
    /// Requirements: caller has SETTLER_ROLE; not paused; `batchId` non-zero and not closed
    /// (else `HeitjeInvalidSettlementBatch`); a later part names the first part's `fileHash` and
    /// `totalCents` (else `HeitjeSettlementMismatch`); at least one range (else
    /// `HeitjeInvalidBatch`); each range non-empty and starting after the batch's previous range,
    /// in this or an earlier part (else `HeitjeInvalidRedemptionRange`); every id exists (else
    /// `HeitjeUnknownRedemption`, naming the first unknown id) and was never recorded before, in
    /// this or another batch (else `HeitjeRedemptionAlreadySettled`, naming the first such id).
    /// @param batchId The batch (the ledger's batch id as bytes32).
    /// @param ranges Ascending, disjoint id ranges, each after the batch's previous one.
    /// @param totalCents Euro cents the batch's file pays in all (the same in every part).
    /// @param fileHash sha256 of the batch's payment file (the same in every part).
    /// @param last True for the batch's last part: it closes the batch.
    function recordSettlementPart(
        bytes32 batchId,
        RedemptionRange[] calldata ranges,
        uint256 totalCents,
        bytes32 fileHash,
        bool last
    ) external;

    /// @notice The batch that settled `redemptionId`, or zero.
    /// @dev Reads the bitmap, then looks back from the id to the start of its recorded range
    /// (one storage read per 256 ids of that range).
    /// @return batchId The id of the settlement batch; zero when not settled (or unknown).
    function settlementOf(uint256 redemptionId) external view returns (bytes32 batchId);

    /// @notice Base units redeemed by redemptions 1 to `redemptionId` together (0 for id 0).
    /// @dev A settlement range's burned units are redeemedThrough(last) - redeemedThrough(first - 1).
    /// Reverts with a Solidity panic (0x32) for an id past the end.
    function redeemedThrough(uint256 redemptionId) external view returns (uint256);

    /// @notice The record of settlement batch `batchId` (all zero if unknown).
    function settlement(bytes32 batchId) external view returns (Settlement memory);

    // ----- recovery -----

    /// @notice Move the whole balance of registered account `from` to the new registered
    /// account `to` of the same kind (new: no balance, no rewards this period), then
    /// deregister `from` (lost key, erasure request, key
    /// rotation). The citizen's rewards in the current period move along, so the cap holds.
    /// @dev Requirements: caller has REGISTRAR_ROLE; not paused; `from` != `to`, both registered
    /// with the same kind, `to` holding nothing and rewarded nothing in the current period
    /// (else `HeitjeInvalidRecovery`).
    function recoverAccount(address from, address to, RecoveryReason reason) external;

    // ----- EIP-3009 -----

    /// @notice EIP-3009: move `value` from `from` to `to` with `from`'s signature;
    /// anyone (the service's relayer) may submit it.
    /// @dev Requirements: a valid, unused, current authorization; the transfer policy holds.
    /// @param from The payer, who signed.
    /// @param to The payee.
    /// @param value Base units to move.
    /// @param validAfter Valid only after this time (unix seconds).
    /// @param validBefore Valid only before this time (unix seconds).
    /// @param nonce A unique 32-byte nonce chosen by `from`.
    function transferWithAuthorization(
        address from,
        address to,
        uint256 value,
        uint256 validAfter,
        uint256 validBefore,
        bytes32 nonce,
        uint8 v,
        bytes32 r,
        bytes32 s
    ) external;

    /// @notice EIP-3009: as `transferWithAuthorization`, but only the payee `to` may submit it.
    /// @dev Signed as ReceiveWithAuthorization, so a transfer authorization cannot be used
    /// here, nor the other way round.
    function receiveWithAuthorization(
        address from,
        address to,
        uint256 value,
        uint256 validAfter,
        uint256 validBefore,
        bytes32 nonce,
        uint8 v,
        bytes32 r,
        bytes32 s
    ) external;

    /// @notice EIP-3009: cancel an unused authorization `nonce` of `authorizer`.
    function cancelAuthorization(address authorizer, bytes32 nonce, uint8 v, bytes32 r, bytes32 s) external;

    /// @notice EIP-3009: true when `nonce` of `authorizer` was used or canceled.
    function authorizationState(address authorizer, bytes32 nonce) external view returns (bool);

    // ----- pause -----

    /// @notice Stop every mint, transfer, redemption, recovery and settlement record. Caller has
    /// PAUSER_ROLE.
    function pause() external;

    /// @notice Resume. Caller has PAUSER_ROLE.
    function unpause() external;
}
