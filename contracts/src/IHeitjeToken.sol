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

    /// @notice One redemption: a shop handed HEIT back for euros (burned).
    struct Redemption {
        address shop;
        uint64 timestamp;
        uint256 amount;
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

    // ----- registry -----

    function registerAccount(address account, AccountKind kind) external;
    function accountKind(address account) external view returns (AccountKind);

    // ----- rewards -----

    function mintReward(address to, uint256 amount, bytes32 taskRef) external;
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
