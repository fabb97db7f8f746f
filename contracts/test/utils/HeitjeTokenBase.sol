// SPDX-License-Identifier: EUPL-1.2
pragma solidity ^0.8.24;

import {IERC20Errors} from "@openzeppelin/contracts/interfaces/draft-IERC6093.sol";
import {IAccessControl} from "@openzeppelin/contracts/access/IAccessControl.sol";
import {HeitjeToken} from "../../src/HeitjeToken.sol";
import {IHeitjeToken} from "../../src/IHeitjeToken.sol";
import {Test} from "./Test.sol";

/// @notice Shared set-up and helpers of the HeitjeToken unit and fuzz tests
/// (`contracts/test/HeitjeToken.*.t.sol`, one file per feature): a token with separate role
/// holders, reward period 1 in force from `NOW` with no practical budget or cap, citizens
/// alice and bob, shops bakery and florist, and an unregistered outsider.
abstract contract HeitjeTokenBase is Test {
    // The EIP-712 strings, spelled out here so the test does not trust the contract's constants.
    bytes32 internal constant DOMAIN_TYPEHASH =
        keccak256("EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)");
    bytes32 internal constant TRANSFER_TYPEHASH = keccak256(
        "TransferWithAuthorization(address from,address to,uint256 value,uint256 validAfter,uint256 validBefore,bytes32 nonce)"
    );
    bytes32 internal constant RECEIVE_TYPEHASH = keccak256(
        "ReceiveWithAuthorization(address from,address to,uint256 value,uint256 validAfter,uint256 validBefore,bytes32 nonce)"
    );
    bytes32 internal constant CANCEL_TYPEHASH = keccak256("CancelAuthorization(address authorizer,bytes32 nonce)");
    bytes32 internal constant REDEEM_TYPEHASH = keccak256(
        "RedeemWithAuthorization(address shop,uint256 amount,uint256 validAfter,uint256 validBefore,bytes32 nonce)"
    );
    bytes32 internal constant PERMIT_TYPEHASH =
        keccak256("Permit(address owner,address spender,uint256 value,uint256 nonce,uint256 deadline)");
    /// @dev secp256k1 group order, for the high-s (malleable) signature test.
    uint256 internal constant SECP256K1_N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141;

    uint256 internal constant NOW = 1_700_000_000;
    uint256 internal constant HEIT = 100; // base units per HEIT (2 decimals)
    bytes32 internal constant TASK = keccak256("task: paint waste bin 17");
    uint48 internal constant ADMIN_DELAY = 2 days;
    /// @dev The period opened in setUp: budget and cap so large that only the period tests meet them.
    uint256 internal constant LARGE = type(uint256).max;

    HeitjeToken internal token;

    address internal admin;
    address internal minter;
    address internal registrar;
    address internal pauser;
    address internal settler;
    address internal relayer;
    address internal stranger;

    address internal alice; // citizen
    uint256 internal aliceKey;
    address internal bob; // citizen
    uint256 internal bobKey;
    address internal bakery; // shop
    uint256 internal bakeryKey;
    address internal florist; // shop
    uint256 internal floristKey;
    address internal outsider; // not registered
    uint256 internal outsiderKey;

    function setUp() public {
        vm.warp(NOW);
        admin = makeAddr("admin");
        minter = makeAddr("minter");
        registrar = makeAddr("registrar");
        pauser = makeAddr("pauser");
        settler = makeAddr("settler");
        relayer = makeAddr("relayer");
        stranger = makeAddr("stranger");
        (alice, aliceKey) = makeAddrAndKey("alice");
        (bob, bobKey) = makeAddrAndKey("bob");
        (bakery, bakeryKey) = makeAddrAndKey("bakery");
        (florist, floristKey) = makeAddrAndKey("florist");
        (outsider, outsiderKey) = makeAddrAndKey("outsider");

        token = new HeitjeToken(ADMIN_DELAY, admin, minter, registrar, pauser, settler);
        vm.prank(admin);
        token.openRewardPeriod(uint64(NOW), LARGE, LARGE); // period 1, in force from now

        vm.startPrank(registrar);
        token.registerAccount(alice, IHeitjeToken.AccountKind.Citizen);
        token.registerAccount(bob, IHeitjeToken.AccountKind.Citizen);
        token.registerAccount(bakery, IHeitjeToken.AccountKind.Shop);
        token.registerAccount(florist, IHeitjeToken.AccountKind.Shop);
        vm.stopPrank();
    }

    // =====================================================================
    // helpers
    // =====================================================================

    function _mint(address to, uint256 amount, bytes32 taskRef) internal {
        vm.prank(minter);
        token.mintReward(to, amount, taskRef);
    }

    /// @dev alice earns 50 HEIT and pays `amount` of it to the bakery.
    function _fundBakery(uint256 amount) internal {
        _mint(alice, 50 * HEIT, TASK);
        vm.prank(alice);
        assertTrue(token.transfer(bakery, amount));
    }

    /// @dev `from` calls transfer(to, amount). For calls expected to revert, whose
    /// return value cannot be read; successful transfers assert the returned true.
    function _transferAs(address from, address to, uint256 amount) internal {
        vm.prank(from);
        // forge-lint: disable-next-line(erc20-unchecked-transfer)
        token.transfer(to, amount);
    }

    function _domainSeparator() internal view returns (bytes32) {
        return
            keccak256(abi.encode(DOMAIN_TYPEHASH, keccak256("Heitje"), keccak256("1"), block.chainid, address(token)));
    }

    function _sign(uint256 key, bytes32 structHash) internal view returns (uint8 v, bytes32 r, bytes32 s) {
        return vm.sign(key, keccak256(abi.encodePacked("\x19\x01", _domainSeparator(), structHash)));
    }

    function _signTransfer(
        uint256 key,
        bytes32 typehash,
        address from,
        address to,
        uint256 value,
        uint256 validAfter,
        uint256 validBefore,
        bytes32 nonce
    ) internal view returns (uint8, bytes32, bytes32) {
        return _sign(key, keccak256(abi.encode(typehash, from, to, value, validAfter, validBefore, nonce)));
    }

    function _signRedeem(
        uint256 key,
        address shop,
        uint256 amount,
        uint256 validAfter,
        uint256 validBefore,
        bytes32 nonce
    ) internal view returns (uint8, bytes32, bytes32) {
        return _sign(key, keccak256(abi.encode(REDEEM_TYPEHASH, shop, amount, validAfter, validBefore, nonce)));
    }

    function _signCancel(uint256 key, address authorizer, bytes32 nonce)
        internal
        view
        returns (uint8, bytes32, bytes32)
    {
        return _sign(key, keccak256(abi.encode(CANCEL_TYPEHASH, authorizer, nonce)));
    }

    /// @dev alice signs a payment of `value` to the bakery, valid for the next hour.
    function _alicePays(uint256 value, bytes32 nonce) internal view returns (uint8, bytes32, bytes32) {
        return _signTransfer(aliceKey, TRANSFER_TYPEHASH, alice, bakery, value, 0, NOW + 1 hours, nonce);
    }

    function _unauthorized(address account, bytes32 role) internal pure returns (bytes memory) {
        return abi.encodeWithSelector(IAccessControl.AccessControlUnauthorizedAccount.selector, account, role);
    }

    function _insufficient(address sender, uint256 balance, uint256 needed) internal pure returns (bytes memory) {
        return abi.encodeWithSelector(IERC20Errors.ERC20InsufficientBalance.selector, sender, balance, needed);
    }

    function _pause() internal {
        vm.prank(pauser);
        token.pause();
    }

    function _openPeriod(uint64 start, uint256 budget, uint256 cap) internal returns (uint256 periodId) {
        vm.prank(admin);
        return token.openRewardPeriod(start, budget, cap);
    }

    /// @dev Opens a period one second from now with `budget` and `cap`, and moves time to its start.
    function _startPeriod(uint256 budget, uint256 cap) internal returns (uint256 periodId) {
        uint64 start = uint64(block.timestamp + 1);
        periodId = _openPeriod(start, budget, cap);
        vm.warp(start);
    }

    /// @dev A second token with the same roles, alice registered, and no reward period yet.
    function _tokenWithoutPeriod() internal returns (HeitjeToken fresh) {
        fresh = new HeitjeToken(ADMIN_DELAY, admin, minter, registrar, pauser, settler);
        vm.prank(registrar);
        fresh.registerAccount(alice, IHeitjeToken.AccountKind.Citizen);
    }

    function _mintBatch(address[] memory to, uint256[] memory amounts, bytes32[] memory taskRefs) internal {
        vm.prank(minter);
        token.mintRewards(to, amounts, taskRefs);
    }

    /// @dev Nothing was minted at all: supply, totals, the period's counters and alice's and bob's rewards are zero.
    function _assertNothingMinted() internal view {
        assertEq(token.totalSupply(), 0);
        assertEq(token.totalMinted(), 0);
        assertEq(token.balanceOf(alice), 0);
        assertEq(token.balanceOf(bob), 0);
        uint256 periodId = token.currentPeriodId();
        assertEq(token.rewardPeriod(periodId).minted, 0);
        assertEq(token.rewardsInCurrentPeriod(alice), 0);
        assertEq(token.rewardsInCurrentPeriod(bob), 0);
    }

    /// @dev Three redemptions: id 1 (bakery, 5 HEIT), id 2 (florist, 7 HEIT), id 3 (bakery, 11 HEIT).
    function _threeRedemptions() internal {
        _mint(alice, 50 * HEIT, TASK);
        vm.startPrank(alice);
        assertTrue(token.transfer(bakery, 30 * HEIT));
        assertTrue(token.transfer(florist, 20 * HEIT));
        vm.stopPrank();
        vm.prank(bakery);
        assertEq(token.redeem(5 * HEIT), 1);
        vm.prank(florist);
        assertEq(token.redeem(7 * HEIT), 2);
        vm.prank(bakery);
        assertEq(token.redeem(11 * HEIT), 3);
    }

    /// @dev Record batch `batchId` in one part that closes it.
    function _settle(
        bytes32 batchId,
        IHeitjeToken.RedemptionRange[] memory ranges,
        uint256 totalCents,
        bytes32 fileHash
    ) internal {
        _settlePart(batchId, ranges, totalCents, fileHash, true);
    }

    function _settlePart(
        bytes32 batchId,
        IHeitjeToken.RedemptionRange[] memory ranges,
        uint256 totalCents,
        bytes32 fileHash,
        bool last
    ) internal {
        vm.prank(settler);
        token.recordSettlementPart(batchId, ranges, totalCents, fileHash, last);
    }

    /// @dev One range `first`..`last`.
    function _ranges(uint256 first, uint256 last) internal pure returns (IHeitjeToken.RedemptionRange[] memory list) {
        list = new IHeitjeToken.RedemptionRange[](1);
        list[0] = IHeitjeToken.RedemptionRange(first, last);
    }

    /// @dev Two ranges `a0`..`a1` and `b0`..`b1`.
    function _ranges(uint256 a0, uint256 a1, uint256 b0, uint256 b1)
        internal
        pure
        returns (IHeitjeToken.RedemptionRange[] memory list)
    {
        list = new IHeitjeToken.RedemptionRange[](2);
        list[0] = IHeitjeToken.RedemptionRange(a0, a1);
        list[1] = IHeitjeToken.RedemptionRange(b0, b1);
    }

    function _register(address account, IHeitjeToken.AccountKind kind) internal {
        vm.prank(registrar);
        token.registerAccount(account, kind);
    }

    function _recover(address from, address to, IHeitjeToken.RecoveryReason reason) internal {
        vm.prank(registrar);
        token.recoverAccount(from, to, reason);
    }

    /// @dev EIP-2612: `key` signs Permit(owner, spender, value, nonce, deadline) in the token's domain.
    function _signPermit(uint256 key, address owner, address spender, uint256 value, uint256 nonce, uint256 deadline)
        internal
        view
        returns (uint8, bytes32, bytes32)
    {
        return _sign(key, keccak256(abi.encode(PERMIT_TYPEHASH, owner, spender, value, nonce, deadline)));
    }

    function _addrs(address a) internal pure returns (address[] memory list) {
        list = new address[](1);
        list[0] = a;
    }

    function _addrs(address a, address b) internal pure returns (address[] memory list) {
        list = new address[](2);
        (list[0], list[1]) = (a, b);
    }

    function _addrs(address a, address b, address c) internal pure returns (address[] memory list) {
        list = new address[](3);
        (list[0], list[1], list[2]) = (a, b, c);
    }

    function _uints(uint256 a) internal pure returns (uint256[] memory list) {
        list = new uint256[](1);
        list[0] = a;
    }

    function _uints(uint256 a, uint256 b) internal pure returns (uint256[] memory list) {
        list = new uint256[](2);
        (list[0], list[1]) = (a, b);
    }

    function _uints(uint256 a, uint256 b, uint256 c) internal pure returns (uint256[] memory list) {
        list = new uint256[](3);
        (list[0], list[1], list[2]) = (a, b, c);
    }

    function _refs(bytes32 a) internal pure returns (bytes32[] memory list) {
        list = new bytes32[](1);
        list[0] = a;
    }

    function _refs(bytes32 a, bytes32 b) internal pure returns (bytes32[] memory list) {
        list = new bytes32[](2);
        (list[0], list[1]) = (a, b);
    }

    function _refs(bytes32 a, bytes32 b, bytes32 c) internal pure returns (bytes32[] memory list) {
        list = new bytes32[](3);
        (list[0], list[1], list[2]) = (a, b, c);
    }
}
