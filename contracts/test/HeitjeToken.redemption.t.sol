// SPDX-License-Identifier: EUPL-1.2
pragma solidity ^0.8.24;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {Pausable} from "@openzeppelin/contracts/utils/Pausable.sol";
import {IHeitjeToken} from "../src/IHeitjeToken.sol";
import {HeitjeTokenBase} from "./utils/HeitjeTokenBase.sol";

/// @notice HeitjeToken unit and fuzz tests: redemption by shops, direct and signed (redeemWithAuthorization).
contract HeitjeTokenRedemptionTest is HeitjeTokenBase {
    // =====================================================================
    // redemption
    // =====================================================================

    function test_Redeem() public {
        _fundBakery(20 * HEIT);

        vm.expectEmit(address(token));
        emit IERC20.Transfer(bakery, address(0), 12 * HEIT);
        vm.expectEmit(address(token));
        emit IHeitjeToken.Redeemed(1, bakery, 12 * HEIT);
        vm.prank(bakery);
        uint256 id = token.redeem(12 * HEIT);

        assertEq(id, 1);
        assertEq(token.balanceOf(bakery), 8 * HEIT);
        assertEq(token.totalSupply(), 38 * HEIT);
        assertEq(token.totalMinted(), 50 * HEIT);
        assertEq(token.totalRedeemed(), 12 * HEIT);
        assertEq(token.redemptionCount(), 1);

        IHeitjeToken.Redemption memory r = token.redemption(1);
        assertEq(r.shop, bakery);
        assertEq(r.timestamp, NOW);
        assertEq(r.amount, 12 * HEIT);
    }

    function test_RedemptionIdsAreSequential() public {
        _mint(alice, 50 * HEIT, TASK);
        vm.startPrank(alice);
        assertTrue(token.transfer(bakery, 30 * HEIT));
        assertTrue(token.transfer(florist, 20 * HEIT));
        vm.stopPrank();

        vm.prank(bakery);
        assertEq(token.redeem(10 * HEIT), 1);
        vm.warp(NOW + 1 days);
        vm.prank(florist);
        assertEq(token.redeem(20 * HEIT), 2);
        vm.warp(NOW + 2 days);
        vm.prank(bakery);
        assertEq(token.redeem(20 * HEIT), 3);

        assertEq(token.redemptionCount(), 3);
        assertEq(token.totalRedeemed(), 50 * HEIT);
        assertEq(token.totalSupply(), 0);

        IHeitjeToken.Redemption memory second = token.redemption(2);
        assertEq(second.shop, florist);
        assertEq(second.timestamp, NOW + 1 days);
        assertEq(second.amount, 20 * HEIT);
        IHeitjeToken.Redemption memory third = token.redemption(3);
        assertEq(third.shop, bakery);
        assertEq(third.timestamp, NOW + 2 days);
        assertEq(third.amount, 20 * HEIT);
    }

    function test_RevertWhen_RedemptionIdDoesNotExist() public {
        _fundBakery(20 * HEIT);
        vm.prank(bakery);
        token.redeem(1);

        // Past the end: array out-of-bounds panic.
        vm.expectRevert(abi.encodeWithSignature("Panic(uint256)", 0x32));
        token.redemption(2);
        // Id 0 (ids count from 1): arithmetic underflow panic.
        vm.expectRevert(abi.encodeWithSignature("Panic(uint256)", 0x11));
        token.redemption(0);
    }

    function test_RevertWhen_RedeemZeroAmount() public {
        vm.expectRevert(IHeitjeToken.HeitjeZeroAmount.selector);
        vm.prank(bakery);
        token.redeem(0);
    }

    function test_RevertWhen_RedeemCallerNotShop() public {
        _mint(alice, 15 * HEIT, TASK);
        vm.expectRevert(abi.encodeWithSelector(IHeitjeToken.HeitjeNotShop.selector, alice));
        vm.prank(alice);
        token.redeem(1);

        vm.expectRevert(abi.encodeWithSelector(IHeitjeToken.HeitjeNotShop.selector, outsider));
        vm.prank(outsider);
        token.redeem(1);
    }

    function test_RevertWhen_RedeemExceedsBalance() public {
        _fundBakery(20 * HEIT);
        vm.expectRevert(_insufficient(bakery, 20 * HEIT, 20 * HEIT + 1));
        vm.prank(bakery);
        token.redeem(20 * HEIT + 1);
    }

    function test_RevertWhen_RedeemPaused() public {
        _fundBakery(20 * HEIT);
        _pause();
        vm.expectRevert(Pausable.EnforcedPause.selector);
        vm.prank(bakery);
        token.redeem(1);
        assertEq(token.redemptionCount(), 0);
    }

    function testFuzz_Redeem(uint256 minted, uint256 paid, uint256 redeemed) public {
        minted = bound(minted, 1, type(uint128).max);
        paid = bound(paid, 1, minted);
        redeemed = bound(redeemed, 1, paid);

        _mint(alice, minted, TASK);
        vm.prank(alice);
        assertTrue(token.transfer(bakery, paid));
        vm.prank(bakery);
        uint256 id = token.redeem(redeemed);

        assertEq(id, 1);
        assertEq(token.balanceOf(bakery), paid - redeemed);
        assertEq(token.totalSupply(), minted - redeemed);
        assertEq(token.totalSupply(), token.totalMinted() - token.totalRedeemed());
        assertEq(token.totalRedeemed(), redeemed);
        assertEq(token.redemption(id).amount, redeemed);
    }

    // =====================================================================
    // redeemWithAuthorization
    // =====================================================================

    function test_RedeemWithAuthorization() public {
        _fundBakery(20 * HEIT);
        bytes32 nonce = keccak256("redeem 1");
        (uint8 v, bytes32 r, bytes32 s) = _signRedeem(bakeryKey, bakery, 7 * HEIT, 0, NOW + 1 hours, nonce);

        vm.expectEmit(address(token));
        emit IHeitjeToken.AuthorizationUsed(bakery, nonce);
        vm.expectEmit(address(token));
        emit IERC20.Transfer(bakery, address(0), 7 * HEIT);
        vm.expectEmit(address(token));
        emit IHeitjeToken.Redeemed(1, bakery, 7 * HEIT);
        vm.prank(relayer);
        uint256 id = token.redeemWithAuthorization(bakery, 7 * HEIT, 0, NOW + 1 hours, nonce, v, r, s);

        assertEq(id, 1);
        assertEq(token.balanceOf(bakery), 13 * HEIT);
        assertEq(token.totalRedeemed(), 7 * HEIT);
        assertTrue(token.authorizationState(bakery, nonce));
        IHeitjeToken.Redemption memory red = token.redemption(1);
        assertEq(red.shop, bakery);
        assertEq(red.timestamp, NOW);
        assertEq(red.amount, 7 * HEIT);
    }

    function test_RevertWhen_RedeemWithAuthorizationReplayed() public {
        _fundBakery(20 * HEIT);
        bytes32 nonce = keccak256("redeem 1");
        (uint8 v, bytes32 r, bytes32 s) = _signRedeem(bakeryKey, bakery, 7 * HEIT, 0, NOW + 1 hours, nonce);
        token.redeemWithAuthorization(bakery, 7 * HEIT, 0, NOW + 1 hours, nonce, v, r, s);

        vm.expectRevert(abi.encodeWithSelector(IHeitjeToken.HeitjeAuthorizationUsed.selector, bakery, nonce));
        token.redeemWithAuthorization(bakery, 7 * HEIT, 0, NOW + 1 hours, nonce, v, r, s);
        assertEq(token.redemptionCount(), 1);
    }

    function test_RevertWhen_RedeemWithAuthorizationExpired() public {
        _fundBakery(20 * HEIT);
        bytes32 nonce = keccak256("redeem 1");
        (uint8 v, bytes32 r, bytes32 s) = _signRedeem(bakeryKey, bakery, 7 * HEIT, 0, NOW + 1 hours, nonce);

        vm.warp(NOW + 1 hours);
        vm.expectRevert(abi.encodeWithSelector(IHeitjeToken.HeitjeAuthorizationExpired.selector, NOW + 1 hours));
        token.redeemWithAuthorization(bakery, 7 * HEIT, 0, NOW + 1 hours, nonce, v, r, s);
    }

    function test_RevertWhen_RedeemWithAuthorizationNotYetValid() public {
        _fundBakery(20 * HEIT);
        bytes32 nonce = keccak256("redeem 1");
        (uint8 v, bytes32 r, bytes32 s) = _signRedeem(bakeryKey, bakery, 7 * HEIT, NOW, NOW + 1 hours, nonce);

        vm.expectRevert(abi.encodeWithSelector(IHeitjeToken.HeitjeAuthorizationNotYetValid.selector, NOW));
        token.redeemWithAuthorization(bakery, 7 * HEIT, NOW, NOW + 1 hours, nonce, v, r, s);
    }

    function test_RevertWhen_RedeemWithAuthorizationWrongSigner() public {
        _fundBakery(20 * HEIT);
        bytes32 nonce = keccak256("redeem 1");
        (uint8 v, bytes32 r, bytes32 s) = _signRedeem(floristKey, bakery, 7 * HEIT, 0, NOW + 1 hours, nonce);

        vm.expectRevert(abi.encodeWithSelector(IHeitjeToken.HeitjeInvalidSignature.selector, bakery));
        token.redeemWithAuthorization(bakery, 7 * HEIT, 0, NOW + 1 hours, nonce, v, r, s);
    }

    function test_RevertWhen_RedeemWithAuthorizationCanceled() public {
        _fundBakery(20 * HEIT);
        bytes32 nonce = keccak256("redeem 1");
        (uint8 v, bytes32 r, bytes32 s) = _signRedeem(bakeryKey, bakery, 7 * HEIT, 0, NOW + 1 hours, nonce);
        (uint8 cv, bytes32 cr, bytes32 cs) = _signCancel(bakeryKey, bakery, nonce);
        token.cancelAuthorization(bakery, nonce, cv, cr, cs);

        vm.expectRevert(abi.encodeWithSelector(IHeitjeToken.HeitjeAuthorizationUsed.selector, bakery, nonce));
        token.redeemWithAuthorization(bakery, 7 * HEIT, 0, NOW + 1 hours, nonce, v, r, s);
    }

    function test_RevertWhen_RedeemWithAuthorizationNotShop() public {
        _mint(alice, 15 * HEIT, TASK);
        bytes32 nonce = keccak256("redeem 1");
        (uint8 v, bytes32 r, bytes32 s) = _signRedeem(aliceKey, alice, 7 * HEIT, 0, NOW + 1 hours, nonce);

        vm.expectRevert(abi.encodeWithSelector(IHeitjeToken.HeitjeNotShop.selector, alice));
        token.redeemWithAuthorization(alice, 7 * HEIT, 0, NOW + 1 hours, nonce, v, r, s);
    }

    function test_RevertWhen_RedeemWithAuthorizationZeroAmount() public {
        bytes32 nonce = keccak256("redeem 1");
        (uint8 v, bytes32 r, bytes32 s) = _signRedeem(bakeryKey, bakery, 0, 0, NOW + 1 hours, nonce);

        vm.expectRevert(IHeitjeToken.HeitjeZeroAmount.selector);
        token.redeemWithAuthorization(bakery, 0, 0, NOW + 1 hours, nonce, v, r, s);
    }

    function test_RevertWhen_RedeemWithAuthorizationPaused() public {
        _fundBakery(20 * HEIT);
        bytes32 nonce = keccak256("redeem 1");
        (uint8 v, bytes32 r, bytes32 s) = _signRedeem(bakeryKey, bakery, 7 * HEIT, 0, NOW + 1 hours, nonce);
        _pause();

        vm.expectRevert(Pausable.EnforcedPause.selector);
        token.redeemWithAuthorization(bakery, 7 * HEIT, 0, NOW + 1 hours, nonce, v, r, s);
    }
}
