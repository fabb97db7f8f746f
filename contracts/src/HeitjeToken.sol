// SPDX-License-Identifier: EUPL-1.2
pragma solidity ^0.8.24;

import {ERC20} from "@openzeppelin/contracts/token/ERC20/ERC20.sol";
import {ERC20Permit} from "@openzeppelin/contracts/token/ERC20/extensions/ERC20Permit.sol";
import {
    AccessControlDefaultAdminRules
} from "@openzeppelin/contracts/access/extensions/AccessControlDefaultAdminRules.sol";
import {Pausable} from "@openzeppelin/contracts/utils/Pausable.sol";
import {ECDSA} from "@openzeppelin/contracts/utils/cryptography/ECDSA.sol";
import {Math} from "@openzeppelin/contracts/utils/math/Math.sol";
import {SafeCast} from "@openzeppelin/contracts/utils/math/SafeCast.sol";
import {IHeitjeToken} from "./IHeitjeToken.sol";

/// @title HeitjeToken
/// @notice HEIT, the civic reward coin of a municipality: 1 HEIT = EUR 1,
/// 2 decimals. Citizens earn it for approved public-space tasks, pay shops
/// with it, shops refund citizens and redeem HEIT for euros.
/// @dev Every balance change goes through `_update`, where pause, registry
/// and transfer policy are enforced. EIP-3009 and the signed redemption share
/// the EIP-712 domain ("Heitje", "1"). Not upgradeable.
contract HeitjeToken is IHeitjeToken, ERC20, ERC20Permit, AccessControlDefaultAdminRules, Pausable {
    /// @notice May mint rewards.
    bytes32 public constant MINTER_ROLE = keccak256("MINTER_ROLE");
    /// @notice Keeps the registry of citizens and shops.
    bytes32 public constant REGISTRAR_ROLE = keccak256("REGISTRAR_ROLE");
    /// @notice May pause and unpause.
    bytes32 public constant PAUSER_ROLE = keccak256("PAUSER_ROLE");
    /// @notice Records settlement batches (which redemptions a payment file paid).
    bytes32 public constant SETTLER_ROLE = keccak256("SETTLER_ROLE");

    /// @notice EIP-3009 type hash.
    bytes32 public constant TRANSFER_WITH_AUTHORIZATION_TYPEHASH = keccak256(
        "TransferWithAuthorization(address from,address to,uint256 value,uint256 validAfter,uint256 validBefore,bytes32 nonce)"
    );
    /// @notice EIP-3009 type hash.
    bytes32 public constant RECEIVE_WITH_AUTHORIZATION_TYPEHASH = keccak256(
        "ReceiveWithAuthorization(address from,address to,uint256 value,uint256 validAfter,uint256 validBefore,bytes32 nonce)"
    );
    /// @notice EIP-3009 type hash.
    bytes32 public constant CANCEL_AUTHORIZATION_TYPEHASH =
        keccak256("CancelAuthorization(address authorizer,bytes32 nonce)");
    /// @notice Signed redemption, shaped like EIP-3009.
    bytes32 public constant REDEEM_WITH_AUTHORIZATION_TYPEHASH = keccak256(
        "RedeemWithAuthorization(address shop,uint256 amount,uint256 validAfter,uint256 validBefore,bytes32 nonce)"
    );

    mapping(address account => AccountKind) private _kinds;
    mapping(bytes32 taskRef => bool) private _rewarded;
    mapping(address authorizer => mapping(bytes32 nonce => bool)) private _authorizations;
    StoredRedemption[] private _redemptions;
    uint256 private _totalMinted;
    uint256 private _totalRedeemed;
    RewardPeriod[] private _periods;
    mapping(uint256 periodId => mapping(address citizen => uint256)) private _periodRewards;
    mapping(bytes32 batchId => Settlement) private _settlements;
    /// @dev Settled redemption ids: bit `id % 256` of word `id / 256`.
    mapping(uint256 word => uint256 bits) private _settledBits;
    /// @dev The first id of every recorded settlement range, as a bitmap like `_settledBits`.
    mapping(uint256 word => uint256 bits) private _rangeStarts;
    /// @dev The batch of the recorded range that starts at `firstId`.
    mapping(uint256 firstId => bytes32 batchId) private _rangeBatch;

    /// @dev A redemption as stored: two slots, as `Redemption` took, with the running total of
    /// every redemption up to and including this one beside the amount.
    struct StoredRedemption {
        address shop;
        uint64 timestamp;
        uint128 amount;
        uint128 redeemedThrough;
    }

    /// @param adminDelay Seconds a new admin must wait before accepting the role (two-step
    /// handover, AccessControlDefaultAdminRules).
    /// @param admin Holds DEFAULT_ADMIN_ROLE (grants and revokes the other roles, opens periods).
    /// @param minter Holds MINTER_ROLE.
    /// @param registrar Holds REGISTRAR_ROLE.
    /// @param pauser Holds PAUSER_ROLE.
    /// @param settler Holds SETTLER_ROLE.
    constructor(uint48 adminDelay, address admin, address minter, address registrar, address pauser, address settler)
        ERC20("Heitje", "HEIT")
        ERC20Permit("Heitje")
        AccessControlDefaultAdminRules(adminDelay, admin)
    {
        _grantRole(MINTER_ROLE, minter);
        _grantRole(REGISTRAR_ROLE, registrar);
        _grantRole(PAUSER_ROLE, pauser);
        _grantRole(SETTLER_ROLE, settler);
    }

    /// @notice HEIT has 2 decimals: 100 base units = 1 HEIT = EUR 1.
    function decimals() public pure override returns (uint8) {
        return 2;
    }

    // ----- registry -----

    /// @inheritdoc IHeitjeToken
    function registerAccount(address account, AccountKind kind) external onlyRole(REGISTRAR_ROLE) {
        _registerAccount(account, kind);
    }

    /// @inheritdoc IHeitjeToken
    function registerAccounts(address[] calldata accounts, AccountKind kind) external onlyRole(REGISTRAR_ROLE) {
        uint256 n = accounts.length;
        if (n == 0) revert HeitjeInvalidBatch();
        for (uint256 i = 0; i < n; ++i) {
            _registerAccount(accounts[i], kind);
        }
    }

    /// @inheritdoc IHeitjeToken
    function accountKind(address account) external view returns (AccountKind) {
        return _kinds[account];
    }

    // ----- rewards -----

    /// @inheritdoc IHeitjeToken
    function mintReward(address to, uint256 amount, bytes32 taskRef) external onlyRole(MINTER_ROLE) {
        uint256 periodId = _activePeriodId();
        _mintReward(periodId, to, amount, taskRef);
    }

    /// @inheritdoc IHeitjeToken
    function mintRewards(address[] calldata to, uint256[] calldata amounts, bytes32[] calldata taskRefs)
        external
        onlyRole(MINTER_ROLE)
    {
        uint256 n = to.length;
        if (n == 0 || amounts.length != n || taskRefs.length != n) revert HeitjeInvalidBatch();
        uint256 periodId = _activePeriodId();
        for (uint256 i = 0; i < n; ++i) {
            _mintReward(periodId, to[i], amounts[i], taskRefs[i]);
        }
    }

    /// @inheritdoc IHeitjeToken
    function isTaskRewarded(bytes32 taskRef) external view returns (bool) {
        return _rewarded[taskRef];
    }

    /// @inheritdoc IHeitjeToken
    function totalMinted() external view returns (uint256) {
        return _totalMinted;
    }

    // ----- reward periods -----

    /// @inheritdoc IHeitjeToken
    function openRewardPeriod(uint64 start, uint256 budget, uint256 capPerCitizen)
        external
        onlyRole(DEFAULT_ADMIN_ROLE)
        returns (uint256 periodId)
    {
        if (start == 0) start = uint64(block.timestamp);
        uint256 n = _periods.length;
        if (start < block.timestamp || (n > 0 && start <= _periods[n - 1].start)) {
            revert HeitjeInvalidPeriod(start);
        }
        _periods.push(RewardPeriod({start: start, budget: budget, capPerCitizen: capPerCitizen, minted: 0}));
        periodId = n + 1;
        emit RewardPeriodOpened(periodId, start, budget, capPerCitizen);
    }

    /// @inheritdoc IHeitjeToken
    function currentPeriodId() public view returns (uint256) {
        for (uint256 i = _periods.length; i > 0; --i) {
            if (_periods[i - 1].start <= block.timestamp) return i;
        }
        return 0;
    }

    /// @inheritdoc IHeitjeToken
    function rewardPeriod(uint256 periodId) external view returns (RewardPeriod memory) {
        return _periods[periodId - 1];
    }

    /// @inheritdoc IHeitjeToken
    function remainingBudget() external view returns (uint256) {
        uint256 id = currentPeriodId();
        // slither-disable-next-line incorrect-equality (0 is the "no period" sentinel, not a balance)
        if (id == 0) return 0;
        RewardPeriod storage p = _periods[id - 1];
        return p.budget - p.minted;
    }

    /// @inheritdoc IHeitjeToken
    function rewardsInCurrentPeriod(address citizen) external view returns (uint256) {
        return _periodRewards[currentPeriodId()][citizen];
    }

    /// @inheritdoc IHeitjeToken
    function rewardsInPeriod(uint256 periodId, address citizen) external view returns (uint256) {
        return _periodRewards[periodId][citizen];
    }

    // ----- redemption -----

    /// @inheritdoc IHeitjeToken
    function redeem(uint256 amount) external returns (uint256 redemptionId) {
        return _redeem(msg.sender, amount);
    }

    /// @inheritdoc IHeitjeToken
    function redeemWithAuthorization(
        address shop,
        uint256 amount,
        uint256 validAfter,
        uint256 validBefore,
        bytes32 nonce,
        uint8 v,
        bytes32 r,
        bytes32 s
    ) external returns (uint256 redemptionId) {
        bytes32 structHash = keccak256(
            abi.encode(REDEEM_WITH_AUTHORIZATION_TYPEHASH, shop, amount, validAfter, validBefore, nonce)
        );
        _useAuthorization(shop, structHash, validAfter, validBefore, nonce, v, r, s);
        return _redeem(shop, amount);
    }

    /// @inheritdoc IHeitjeToken
    function redemptionCount() external view returns (uint256) {
        return _redemptions.length;
    }

    /// @inheritdoc IHeitjeToken
    function redemption(uint256 redemptionId) external view returns (Redemption memory) {
        StoredRedemption storage r = _redemptions[redemptionId - 1];
        return Redemption({shop: r.shop, timestamp: r.timestamp, amount: r.amount});
    }

    /// @inheritdoc IHeitjeToken
    function redeemedThrough(uint256 redemptionId) public view returns (uint256) {
        return redemptionId == 0 ? 0 : _redemptions[redemptionId - 1].redeemedThrough;
    }

    /// @inheritdoc IHeitjeToken
    function totalRedeemed() external view returns (uint256) {
        return _totalRedeemed;
    }

    // ----- settlement anchoring -----

    /// @inheritdoc IHeitjeToken
    function recordSettlementPart(
        bytes32 batchId,
        RedemptionRange[] calldata ranges,
        uint256 totalCents,
        bytes32 fileHash,
        bool last
    ) external onlyRole(SETTLER_ROLE) whenNotPaused {
        if (batchId == bytes32(0)) revert HeitjeInvalidSettlementBatch(batchId);
        Settlement storage s = _settlements[batchId];
        if (s.recordedAt == 0) {
            s.fileHash = fileHash;
            s.totalCents = totalCents;
            s.recordedAt = uint64(block.timestamp);
        } else {
            if (s.closed) revert HeitjeInvalidSettlementBatch(batchId);
            if (s.fileHash != fileHash || s.totalCents != totalCents) revert HeitjeSettlementMismatch(batchId);
        }
        if (ranges.length == 0) revert HeitjeInvalidBatch();
        (uint256 ids, uint256 units, uint256 previous) = _recordRanges(batchId, ranges, s.lastId);
        uint32 parts = s.parts + 1;
        s.redemptions = SafeCast.toUint32(s.redemptions + ids);
        s.parts = parts;
        s.lastId = SafeCast.toUint64(previous);
        s.totalUnits += units;
        emit SettlementPartRecorded(batchId, parts, ranges, ids, units);
        if (last) {
            s.closed = true;
            emit SettlementRecorded(batchId, s.redemptions, s.totalUnits, totalCents, fileHash);
        }
    }

    /// @inheritdoc IHeitjeToken
    function settlementOf(uint256 redemptionId) public view returns (bytes32 batchId) {
        uint256 word = redemptionId >> 8;
        uint256 bit = redemptionId & 255;
        if (redemptionId == 0 || (_settledBits[word] >> bit) & 1 == 0) return bytes32(0);
        // The nearest range start at or below the id is its range's: ranges are disjoint and
        // contiguous, and a settled id lies in one.
        uint256 starts = _rangeStarts[word] & (type(uint256).max >> (255 - bit));
        while (starts == 0) {
            --word;
            starts = _rangeStarts[word];
        }
        return _rangeBatch[(word << 8) | Math.log2(starts)];
    }

    /// @inheritdoc IHeitjeToken
    function settlement(bytes32 batchId) external view returns (Settlement memory) {
        return _settlements[batchId];
    }

    // ----- recovery -----

    /// @inheritdoc IHeitjeToken
    function recoverAccount(address from, address to, RecoveryReason reason)
        external
        onlyRole(REGISTRAR_ROLE)
        whenNotPaused
    {
        AccountKind kind = _kinds[from];
        uint256 periodId = currentPeriodId();
        if (
            from == to || kind == AccountKind.None || _kinds[to] != kind || balanceOf(to) != 0
                || _periodRewards[periodId][to] != 0
        ) revert HeitjeInvalidRecovery(from, to);
        uint256 amount = balanceOf(from);
        if (amount != 0) ERC20._update(from, to, amount); // bypasses the policy, not the pause
        uint256 earned = _periodRewards[periodId][from];
        if (earned != 0) {
            _periodRewards[periodId][from] = 0;
            _periodRewards[periodId][to] += earned;
        }
        _kinds[from] = AccountKind.None;
        emit AccountRegistered(from, AccountKind.None);
        emit AccountRecovered(from, to, amount, reason);
    }

    // ----- EIP-3009 -----

    /// @inheritdoc IHeitjeToken
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
    ) external {
        bytes32 structHash = keccak256(
            abi.encode(TRANSFER_WITH_AUTHORIZATION_TYPEHASH, from, to, value, validAfter, validBefore, nonce)
        );
        _useAuthorization(from, structHash, validAfter, validBefore, nonce, v, r, s);
        _transfer(from, to, value);
    }

    /// @inheritdoc IHeitjeToken
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
    ) external {
        if (msg.sender != to) revert HeitjeCallerNotPayee(msg.sender, to);
        bytes32 structHash =
            keccak256(abi.encode(RECEIVE_WITH_AUTHORIZATION_TYPEHASH, from, to, value, validAfter, validBefore, nonce));
        _useAuthorization(from, structHash, validAfter, validBefore, nonce, v, r, s);
        _transfer(from, to, value);
    }

    /// @inheritdoc IHeitjeToken
    function cancelAuthorization(address authorizer, bytes32 nonce, uint8 v, bytes32 r, bytes32 s) external {
        if (_authorizations[authorizer][nonce]) revert HeitjeAuthorizationUsed(authorizer, nonce);
        bytes32 digest = _hashTypedDataV4(keccak256(abi.encode(CANCEL_AUTHORIZATION_TYPEHASH, authorizer, nonce)));
        if (!_isSignedBy(authorizer, digest, v, r, s)) {
            revert HeitjeInvalidSignature(authorizer);
        }
        _authorizations[authorizer][nonce] = true;
        emit AuthorizationCanceled(authorizer, nonce);
    }

    /// @inheritdoc IHeitjeToken
    function authorizationState(address authorizer, bytes32 nonce) external view returns (bool) {
        return _authorizations[authorizer][nonce];
    }

    // ----- pause -----

    /// @inheritdoc IHeitjeToken
    function pause() external onlyRole(PAUSER_ROLE) {
        _pause();
    }

    /// @inheritdoc IHeitjeToken
    function unpause() external onlyRole(PAUSER_ROLE) {
        _unpause();
    }

    // ----- internals -----

    function _registerAccount(address account, AccountKind kind) private {
        if (account == address(0)) revert HeitjeInvalidAccount(account);
        if (_kinds[account] != kind) {
            uint256 balance = balanceOf(account);
            if (balance != 0) revert HeitjeAccountHasBalance(account, balance);
            _kinds[account] = kind;
        }
        emit AccountRegistered(account, kind);
    }

    function _activePeriodId() private view returns (uint256 periodId) {
        periodId = currentPeriodId();
        // slither-disable-next-line incorrect-equality (0 is the "no period" sentinel, not a balance)
        if (periodId == 0) revert HeitjeNoActivePeriod();
    }

    function _mintReward(uint256 periodId, address to, uint256 amount, bytes32 taskRef) private {
        if (taskRef == bytes32(0)) revert HeitjeInvalidTaskRef();
        if (_rewarded[taskRef]) revert HeitjeTaskAlreadyRewarded(taskRef);
        if (amount == 0) revert HeitjeZeroAmount();
        if (_kinds[to] != AccountKind.Citizen) revert HeitjeNotCitizen(to);
        RewardPeriod storage p = _periods[periodId - 1];
        if (amount > p.budget - p.minted) revert HeitjePeriodBudgetExceeded(periodId, p.budget - p.minted, amount);
        uint256 earned = _periodRewards[periodId][to];
        if (earned + amount > p.capPerCitizen) revert HeitjeCitizenCapExceeded(to, periodId, earned, amount);
        _rewarded[taskRef] = true;
        p.minted += amount;
        _periodRewards[periodId][to] = earned + amount;
        _totalMinted += amount;
        _mint(to, amount);
        emit RewardMinted(to, amount, taskRef);
    }

    function _redeem(address shop, uint256 amount) private returns (uint256 redemptionId) {
        if (amount == 0) revert HeitjeZeroAmount();
        if (_kinds[shop] != AccountKind.Shop) revert HeitjeNotShop(shop);
        _burn(shop, amount);
        uint256 total = _totalRedeemed + amount;
        _totalRedeemed = total;
        _redemptions.push(
            StoredRedemption({
                shop: shop,
                timestamp: uint64(block.timestamp),
                amount: uint128(amount), // amount <= total, checked below
                redeemedThrough: SafeCast.toUint128(total)
            })
        );
        redemptionId = _redemptions.length;
        emit Redeemed(redemptionId, shop, amount);
    }

    /// @dev Record `ranges` for `batchId` (each after `previous`, the batch's last id so far):
    /// the number of ids, their burned units and the new last id.
    function _recordRanges(bytes32 batchId, RedemptionRange[] calldata ranges, uint256 previous)
        private
        returns (uint256 ids, uint256 units, uint256 lastId)
    {
        uint256 count = _redemptions.length;
        uint256 n = ranges.length;
        for (uint256 i = 0; i < n; ++i) {
            uint256 first = ranges[i].first;
            lastId = ranges[i].last;
            if (first == 0) revert HeitjeUnknownRedemption(0);
            if (first > lastId || first <= previous) revert HeitjeInvalidRedemptionRange(first, lastId);
            if (lastId > count) revert HeitjeUnknownRedemption(first > count ? first : count + 1);
            _markSettled(batchId, first, lastId);
            units += _redemptions[lastId - 1].redeemedThrough - redeemedThrough(first - 1);
            ids += lastId - first + 1;
            previous = lastId;
        }
    }

    /// @dev Mark ids `first`..`last` settled by `batchId`, word by word; reverts naming the first
    /// id recorded before.
    function _markSettled(bytes32 batchId, uint256 first, uint256 last) private {
        uint256 lastWord = last >> 8;
        for (uint256 word = first >> 8; word <= lastWord; ++word) {
            uint256 lo = word == first >> 8 ? first & 255 : 0;
            uint256 hi = word == lastWord ? last & 255 : 255;
            uint256 mask = (type(uint256).max >> (255 - hi)) & (type(uint256).max << lo);
            uint256 bits = _settledBits[word];
            uint256 clash = bits & mask;
            if (clash != 0) {
                uint256 id = (word << 8) | Math.log2(clash & (~clash + 1));
                revert HeitjeRedemptionAlreadySettled(id, settlementOf(id));
            }
            _settledBits[word] = bits | mask;
        }
        _rangeBatch[first] = batchId;
        _rangeStarts[first >> 8] |= 1 << (first & 255);
    }

    function _useAuthorization(
        address authorizer,
        bytes32 structHash,
        uint256 validAfter,
        uint256 validBefore,
        bytes32 nonce,
        uint8 v,
        bytes32 r,
        bytes32 s
    ) private {
        if (block.timestamp <= validAfter) revert HeitjeAuthorizationNotYetValid(validAfter);
        if (block.timestamp >= validBefore) revert HeitjeAuthorizationExpired(validBefore);
        if (_authorizations[authorizer][nonce]) revert HeitjeAuthorizationUsed(authorizer, nonce);
        bytes32 digest = _hashTypedDataV4(structHash);
        if (!_isSignedBy(authorizer, digest, v, r, s)) {
            revert HeitjeInvalidSignature(authorizer);
        }
        _authorizations[authorizer][nonce] = true;
        emit AuthorizationUsed(authorizer, nonce);
    }

    /// @dev True when (v, r, s) is `signer`'s ECDSA signature of `digest`
    /// (EOA keys only: custodial and shop wallets). Malleable or malformed
    /// signatures count as invalid.
    function _isSignedBy(address signer, bytes32 digest, uint8 v, bytes32 r, bytes32 s) private pure returns (bool) {
        // slither-disable-next-line unused-return (the third value only details an error we reject)
        (address recovered, ECDSA.RecoverError err,) = ECDSA.tryRecover(digest, v, r, s);
        return err == ECDSA.RecoverError.NoError && recovered == signer && signer != address(0);
    }

    /// @dev The one hook for every balance change: pause, registry and policy.
    /// Mint: only to citizens. Burn: only from shops. Transfer: citizen -> shop
    /// or shop -> citizen.
    function _update(address from, address to, uint256 value) internal override whenNotPaused {
        if (from == address(0)) {
            if (_kinds[to] != AccountKind.Citizen) revert HeitjeNotCitizen(to);
        } else if (to == address(0)) {
            if (_kinds[from] != AccountKind.Shop) revert HeitjeNotShop(from);
        } else {
            AccountKind kf = _kinds[from];
            AccountKind kt = _kinds[to];
            bool allowed = (kf == AccountKind.Citizen && kt == AccountKind.Shop)
                || (kf == AccountKind.Shop && kt == AccountKind.Citizen);
            if (!allowed) revert HeitjeTransferNotAllowed(from, to);
        }
        super._update(from, to, value);
    }
}
