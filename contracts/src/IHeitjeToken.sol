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
    struct Settlement {
        bytes32 fileHash;
        uint64 recordedAt;
        uint32 redemptions;
        uint256 totalUnits;
        uint256 totalCents;
    }

    // ----- errors -----

    /// @dev `taskRef` was rewarded before; a task is rewarded at most once, ever.
    error HeitjeTaskAlreadyRewarded(bytes32 taskRef);
    /// @dev The task reference is zero.
    error HeitjeInvalidTaskRef();
    /// @dev The amount is zero.
    error HeitjeZeroAmount();
    /// @dev `account` is not a registered citizen.
    error HeitjeNotCitizen(address account);
    /// @dev `account` is not a registered shop.
    error HeitjeNotShop(address account);
    /// @dev Only citizen -> shop and shop -> citizen move HEIT between holders.
    error HeitjeTransferNotAllowed(address from, address to);
    /// @dev The account still holds HEIT, so its kind cannot change.
    error HeitjeAccountHasBalance(address account, uint256 balance);
    /// @dev The zero address cannot be registered.
    error HeitjeInvalidAccount(address account);
    /// @dev EIP-3009: the authorization is not valid yet.
    error HeitjeAuthorizationNotYetValid(uint256 validAfter);
    /// @dev EIP-3009: the authorization has expired.
    error HeitjeAuthorizationExpired(uint256 validBefore);
    /// @dev EIP-3009: the nonce was used or canceled before.
    error HeitjeAuthorizationUsed(address authorizer, bytes32 nonce);
    /// @dev The signature is not the authorizer's.
    error HeitjeInvalidSignature(address authorizer);
    /// @dev EIP-3009 receiveWithAuthorization: only the payee may submit it.
    error HeitjeCallerNotPayee(address caller, address payee);
    /// @dev No reward period has started yet.
    error HeitjeNoActivePeriod();
    /// @dev A new period must start now or later, after the last one's start.
    error HeitjeInvalidPeriod(uint64 start);
    /// @dev The mint would take the period past its budget.
    error HeitjePeriodBudgetExceeded(uint256 periodId, uint256 remaining, uint256 amount);
    /// @dev The mint would take the citizen past the period's cap.
    error HeitjeCitizenCapExceeded(address citizen, uint256 periodId, uint256 earned, uint256 amount);
    /// @dev Batch arrays differ in length or are empty.
    error HeitjeInvalidBatch();
    /// @dev No redemption has this id.
    error HeitjeUnknownRedemption(uint256 redemptionId);
    /// @dev The redemption was recorded in a settlement batch before.
    error HeitjeRedemptionAlreadySettled(uint256 redemptionId, bytes32 batchId);
    /// @dev A batch with this id was recorded before, or the id is zero.
    error HeitjeInvalidSettlementBatch(bytes32 batchId);
    /// @dev Recovery needs two different registered accounts of the same kind.
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
    /// with `totalCents` euro cents in the payment file whose sha256 is `fileHash`.
    event SettlementRecorded(
        bytes32 indexed batchId, uint256 redemptions, uint256 totalUnits, uint256 totalCents, bytes32 fileHash
    );
    /// @notice The registrar moved `amount` from `from` to `to` and deregistered `from`.
    event AccountRecovered(address indexed from, address indexed to, uint256 amount, RecoveryReason reason);

    // ----- registry -----

    function registerAccount(address account, AccountKind kind) external;
    function accountKind(address account) external view returns (AccountKind);

    // ----- rewards -----

    function mintReward(address to, uint256 amount, bytes32 taskRef) external;
    function mintRewards(address[] calldata to, uint256[] calldata amounts, bytes32[] calldata taskRefs) external;
    function isTaskRewarded(bytes32 taskRef) external view returns (bool);
    function totalMinted() external view returns (uint256);

    // ----- redemption -----

    function redeem(uint256 amount) external returns (uint256 redemptionId);
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
    function redemptionCount() external view returns (uint256);
    function redemption(uint256 redemptionId) external view returns (Redemption memory);
    function totalRedeemed() external view returns (uint256);

    // ----- reward periods -----

    function openRewardPeriod(uint64 start, uint256 budget, uint256 capPerCitizen) external returns (uint256 periodId);
    function currentPeriodId() external view returns (uint256);
    function rewardPeriod(uint256 periodId) external view returns (RewardPeriod memory);
    function remainingBudget() external view returns (uint256);
    function rewardsInCurrentPeriod(address citizen) external view returns (uint256);
    function rewardsInPeriod(uint256 periodId, address citizen) external view returns (uint256);

    // ----- settlement anchoring -----

    function recordSettlement(bytes32 batchId, uint256[] calldata redemptionIds, uint256 totalCents, bytes32 fileHash)
        external;
    function settlementOf(uint256 redemptionId) external view returns (bytes32 batchId);
    function settlement(bytes32 batchId) external view returns (Settlement memory);

    // ----- recovery -----

    function recoverAccount(address from, address to, RecoveryReason reason) external;

    // ----- EIP-3009 -----

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
    function cancelAuthorization(address authorizer, bytes32 nonce, uint8 v, bytes32 r, bytes32 s) external;
    function authorizationState(address authorizer, bytes32 nonce) external view returns (bool);

    // ----- pause -----

    function pause() external;
    function unpause() external;
}
