// SPDX-License-Identifier: EUPL-1.2
pragma solidity ^0.8.24;

import {ERC20} from "@openzeppelin/contracts/token/ERC20/ERC20.sol";
import {AccessControl} from "@openzeppelin/contracts/access/AccessControl.sol";
import {Pausable} from "@openzeppelin/contracts/utils/Pausable.sol";
import {EIP712} from "@openzeppelin/contracts/utils/cryptography/EIP712.sol";
import {ECDSA} from "@openzeppelin/contracts/utils/cryptography/ECDSA.sol";
import {IHeitjeToken} from "./IHeitjeToken.sol";

/// @title HeitjeToken (v1)
/// @notice HEIT, the civic reward coin of a municipality: 1 HEIT = EUR 1,
/// 2 decimals. Citizens earn it for approved public-space tasks, pay shops
/// with it, shops refund citizens and redeem HEIT for euros.
/// @dev Every balance change goes through `_update`, where pause, registry
/// and transfer policy are enforced. EIP-3009 and the signed redemption share
/// the EIP-712 domain ("Heitje", "1"). Not upgradeable.
contract HeitjeToken is IHeitjeToken, ERC20, AccessControl, Pausable, EIP712 {
    /// @notice May mint rewards.
    bytes32 public constant MINTER_ROLE = keccak256("MINTER_ROLE");
    /// @notice Keeps the registry of citizens and shops.
    bytes32 public constant REGISTRAR_ROLE = keccak256("REGISTRAR_ROLE");
    /// @notice May pause and unpause.
    bytes32 public constant PAUSER_ROLE = keccak256("PAUSER_ROLE");

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
    Redemption[] private _redemptions;
    uint256 private _totalMinted;
    uint256 private _totalRedeemed;

    /// @param admin Holds DEFAULT_ADMIN_ROLE (grants and revokes the other roles).
    /// @param minter Holds MINTER_ROLE.
    /// @param registrar Holds REGISTRAR_ROLE.
    /// @param pauser Holds PAUSER_ROLE.
    constructor(address admin, address minter, address registrar, address pauser)
        ERC20("Heitje", "HEIT")
        EIP712("Heitje", "1")
    {
        _grantRole(DEFAULT_ADMIN_ROLE, admin);
        _grantRole(MINTER_ROLE, minter);
        _grantRole(REGISTRAR_ROLE, registrar);
        _grantRole(PAUSER_ROLE, pauser);
    }

    /// @notice HEIT has 2 decimals: 100 base units = 1 HEIT = EUR 1.
    function decimals() public pure override returns (uint8) {
        return 2;
    }

    // ----- registry -----

    /// @notice Register `account` as a citizen or shop, or deregister it with `None`.
    /// @dev Requirements:
    /// - caller has REGISTRAR_ROLE;
    /// - `account` is not the zero address;
    /// - when the kind changes, `account` holds no HEIT.
    function registerAccount(address account, AccountKind kind) external onlyRole(REGISTRAR_ROLE) {
        if (account == address(0)) revert HeitjeInvalidAccount(account);
        if (_kinds[account] != kind) {
            uint256 balance = balanceOf(account);
            if (balance != 0) revert HeitjeAccountHasBalance(account, balance);
            _kinds[account] = kind;
        }
        emit AccountRegistered(account, kind);
    }

    /// @inheritdoc IHeitjeToken
    function accountKind(address account) external view returns (AccountKind) {
        return _kinds[account];
    }

    // ----- rewards -----

    /// @notice Mint `amount` base units to citizen `to` as the reward for task `taskRef`.
    /// @dev Requirements:
    /// - caller has MINTER_ROLE; not paused;
    /// - `to` is a registered citizen; `amount` > 0; `taskRef` != 0;
    /// - `taskRef` was never rewarded before (else `HeitjeTaskAlreadyRewarded`).
    function mintReward(address to, uint256 amount, bytes32 taskRef) external onlyRole(MINTER_ROLE) {
        if (taskRef == bytes32(0)) revert HeitjeInvalidTaskRef();
        if (_rewarded[taskRef]) revert HeitjeTaskAlreadyRewarded(taskRef);
        if (amount == 0) revert HeitjeZeroAmount();
        if (_kinds[to] != AccountKind.Citizen) revert HeitjeNotCitizen(to);
        _rewarded[taskRef] = true;
        _totalMinted += amount;
        _mint(to, amount);
        emit RewardMinted(to, amount, taskRef);
    }

    /// @inheritdoc IHeitjeToken
    function isTaskRewarded(bytes32 taskRef) external view returns (bool) {
        return _rewarded[taskRef];
    }

    /// @inheritdoc IHeitjeToken
    function totalMinted() external view returns (uint256) {
        return _totalMinted;
    }

    // ----- redemption -----

    /// @notice Hand `amount` base units back for euros: they are burned and a
    /// redemption id is issued for settlement.
    /// @dev Requirements: caller is a registered shop holding `amount`; `amount` > 0; not paused.
    function redeem(uint256 amount) external returns (uint256 redemptionId) {
        return _redeem(msg.sender, amount);
    }

    /// @notice `redeem` on behalf of `shop`, with the shop's EIP-712 signature of
    /// RedeemWithAuthorization(shop, amount, validAfter, validBefore, nonce).
    /// @dev Requirements: as `redeem`, plus a valid, unused, current authorization.
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

    /// @notice The redemption with id `redemptionId` (ids count from 1).
    /// @dev Reverts with a Solidity panic for an id that does not exist (0: 0x11, past the end: 0x32).
    function redemption(uint256 redemptionId) external view returns (Redemption memory) {
        return _redemptions[redemptionId - 1];
    }

    /// @inheritdoc IHeitjeToken
    function totalRedeemed() external view returns (uint256) {
        return _totalRedeemed;
    }

    // ----- EIP-3009 -----

    /// @notice EIP-3009: move `value` from `from` to `to` with `from`'s signature;
    /// anyone (the service's relayer) may submit it.
    /// @dev Requirements: a valid, unused, current authorization; the transfer policy holds.
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

    /// @notice EIP-3009: as `transferWithAuthorization`, but only the payee `to` may submit it.
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

    /// @notice EIP-3009: cancel an unused authorization `nonce` of `authorizer`.
    function cancelAuthorization(address authorizer, bytes32 nonce, uint8 v, bytes32 r, bytes32 s) external {
        if (_authorizations[authorizer][nonce]) revert HeitjeAuthorizationUsed(authorizer, nonce);
        bytes32 digest = _hashTypedDataV4(keccak256(abi.encode(CANCEL_AUTHORIZATION_TYPEHASH, authorizer, nonce)));
        if (!_isSignedBy(authorizer, digest, v, r, s)) {
            revert HeitjeInvalidSignature(authorizer);
        }
        _authorizations[authorizer][nonce] = true;
        emit AuthorizationCanceled(authorizer, nonce);
    }

    /// @notice EIP-3009: true when `nonce` of `authorizer` was used or canceled.
    function authorizationState(address authorizer, bytes32 nonce) external view returns (bool) {
        return _authorizations[authorizer][nonce];
    }

    /// @notice The EIP-712 domain separator (for clients that sign).
    function DOMAIN_SEPARATOR() external view returns (bytes32) {
        return _domainSeparatorV4();
    }

    // ----- pause -----

    /// @notice Stop every mint, transfer and redemption. Caller has PAUSER_ROLE.
    function pause() external onlyRole(PAUSER_ROLE) {
        _pause();
    }

    /// @notice Resume. Caller has PAUSER_ROLE.
    function unpause() external onlyRole(PAUSER_ROLE) {
        _unpause();
    }

    // ----- internals -----

    function _redeem(address shop, uint256 amount) private returns (uint256 redemptionId) {
        if (amount == 0) revert HeitjeZeroAmount();
        if (_kinds[shop] != AccountKind.Shop) revert HeitjeNotShop(shop);
        _burn(shop, amount);
        _totalRedeemed += amount;
        _redemptions.push(Redemption({shop: shop, timestamp: uint64(block.timestamp), amount: amount}));
        redemptionId = _redemptions.length;
        emit Redeemed(redemptionId, shop, amount);
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
