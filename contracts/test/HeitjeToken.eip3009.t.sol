// SPDX-License-Identifier: EUPL-1.2
pragma solidity ^0.8.24;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {Pausable} from "@openzeppelin/contracts/utils/Pausable.sol";
import {IHeitjeToken} from "../src/IHeitjeToken.sol";
import {HeitjeTokenBase} from "./utils/HeitjeTokenBase.sol";

/// @notice HeitjeToken unit and fuzz tests: EIP-3009 signed transfers (transferWithAuthorization,
/// receiveWithAuthorization, cancelAuthorization).
contract HeitjeTokenEip3009Test is HeitjeTokenBase {
    // =====================================================================
    // EIP-3009 transferWithAuthorization
    // =====================================================================

    function test_TransferWithAuthorization() public {
        _mint(alice, 15 * HEIT, TASK);
        bytes32 nonce = keccak256("payment 1");
        (uint8 v, bytes32 r, bytes32 s) = _alicePays(4 * HEIT, nonce);
        assertFalse(token.authorizationState(alice, nonce));

        vm.expectEmit(address(token));
        emit IHeitjeToken.AuthorizationUsed(alice, nonce);
        vm.expectEmit(address(token));
        emit IERC20.Transfer(alice, bakery, 4 * HEIT);
        vm.prank(relayer);
        token.transferWithAuthorization(alice, bakery, 4 * HEIT, 0, NOW + 1 hours, nonce, v, r, s);

        assertTrue(token.authorizationState(alice, nonce));
        assertEq(token.balanceOf(alice), 11 * HEIT);
        assertEq(token.balanceOf(bakery), 4 * HEIT);
    }

    function test_TransferWithAuthorizationShopRefundsCitizen() public {
        _fundBakery(10 * HEIT);
        bytes32 nonce = keccak256("refund 1");
        (uint8 v, bytes32 r, bytes32 s) =
            _signTransfer(bakeryKey, TRANSFER_TYPEHASH, bakery, bob, 2 * HEIT, NOW - 1, NOW + 1, nonce);

        vm.prank(relayer);
        token.transferWithAuthorization(bakery, bob, 2 * HEIT, NOW - 1, NOW + 1, nonce, v, r, s);
        assertEq(token.balanceOf(bob), 2 * HEIT);
        assertEq(token.balanceOf(bakery), 8 * HEIT);
    }

    function test_RevertWhen_TransferWithAuthorizationReplayed() public {
        _mint(alice, 15 * HEIT, TASK);
        bytes32 nonce = keccak256("payment 1");
        (uint8 v, bytes32 r, bytes32 s) = _alicePays(4 * HEIT, nonce);
        vm.prank(relayer);
        token.transferWithAuthorization(alice, bakery, 4 * HEIT, 0, NOW + 1 hours, nonce, v, r, s);

        vm.expectRevert(abi.encodeWithSelector(IHeitjeToken.HeitjeAuthorizationUsed.selector, alice, nonce));
        vm.prank(relayer);
        token.transferWithAuthorization(alice, bakery, 4 * HEIT, 0, NOW + 1 hours, nonce, v, r, s);
        assertEq(token.balanceOf(bakery), 4 * HEIT);
    }

    function test_RevertWhen_TransferWithAuthorizationExpired() public {
        _mint(alice, 15 * HEIT, TASK);
        bytes32 nonce = keccak256("payment 1");
        (uint8 v, bytes32 r, bytes32 s) = _alicePays(4 * HEIT, nonce);

        vm.warp(NOW + 1 hours); // validBefore is exclusive
        vm.expectRevert(abi.encodeWithSelector(IHeitjeToken.HeitjeAuthorizationExpired.selector, NOW + 1 hours));
        token.transferWithAuthorization(alice, bakery, 4 * HEIT, 0, NOW + 1 hours, nonce, v, r, s);

        // One second earlier it is still good.
        vm.warp(NOW + 1 hours - 1);
        token.transferWithAuthorization(alice, bakery, 4 * HEIT, 0, NOW + 1 hours, nonce, v, r, s);
        assertEq(token.balanceOf(bakery), 4 * HEIT);
    }

    function test_RevertWhen_TransferWithAuthorizationNotYetValid() public {
        _mint(alice, 15 * HEIT, TASK);
        bytes32 nonce = keccak256("payment 1");
        uint256 validAfter = NOW + 10 minutes;
        (uint8 v, bytes32 r, bytes32 s) =
            _signTransfer(aliceKey, TRANSFER_TYPEHASH, alice, bakery, 1, validAfter, validAfter + 1 hours, nonce);

        vm.expectRevert(abi.encodeWithSelector(IHeitjeToken.HeitjeAuthorizationNotYetValid.selector, validAfter));
        token.transferWithAuthorization(alice, bakery, 1, validAfter, validAfter + 1 hours, nonce, v, r, s);

        vm.warp(validAfter); // validAfter is exclusive
        vm.expectRevert(abi.encodeWithSelector(IHeitjeToken.HeitjeAuthorizationNotYetValid.selector, validAfter));
        token.transferWithAuthorization(alice, bakery, 1, validAfter, validAfter + 1 hours, nonce, v, r, s);

        vm.warp(validAfter + 1);
        token.transferWithAuthorization(alice, bakery, 1, validAfter, validAfter + 1 hours, nonce, v, r, s);
        assertEq(token.balanceOf(bakery), 1);
    }

    function test_RevertWhen_TransferWithAuthorizationWrongSigner() public {
        _mint(alice, 15 * HEIT, TASK);
        bytes32 nonce = keccak256("payment 1");
        (uint8 v, bytes32 r, bytes32 s) =
            _signTransfer(bobKey, TRANSFER_TYPEHASH, alice, bakery, 4 * HEIT, 0, NOW + 1 hours, nonce);

        vm.expectRevert(abi.encodeWithSelector(IHeitjeToken.HeitjeInvalidSignature.selector, alice));
        token.transferWithAuthorization(alice, bakery, 4 * HEIT, 0, NOW + 1 hours, nonce, v, r, s);
        assertFalse(token.authorizationState(alice, nonce));
    }

    function test_RevertWhen_TransferWithAuthorizationTampered() public {
        _mint(alice, 15 * HEIT, TASK);
        bytes32 nonce = keccak256("payment 1");
        (uint8 v, bytes32 r, bytes32 s) = _alicePays(4 * HEIT, nonce);

        // A larger value, another payee, or a longer validity: the signature no longer matches.
        vm.expectRevert(abi.encodeWithSelector(IHeitjeToken.HeitjeInvalidSignature.selector, alice));
        token.transferWithAuthorization(alice, bakery, 5 * HEIT, 0, NOW + 1 hours, nonce, v, r, s);
        vm.expectRevert(abi.encodeWithSelector(IHeitjeToken.HeitjeInvalidSignature.selector, alice));
        token.transferWithAuthorization(alice, florist, 4 * HEIT, 0, NOW + 1 hours, nonce, v, r, s);
        vm.expectRevert(abi.encodeWithSelector(IHeitjeToken.HeitjeInvalidSignature.selector, alice));
        token.transferWithAuthorization(alice, bakery, 4 * HEIT, 0, NOW + 2 hours, nonce, v, r, s);
    }

    function test_RevertWhen_TransferWithAuthorizationMalleableSignature() public {
        _mint(alice, 15 * HEIT, TASK);
        bytes32 nonce = keccak256("payment 1");
        (uint8 v, bytes32 r, bytes32 s) = _alicePays(4 * HEIT, nonce);
        // (r, n - s, v ^ 1) recovers the same address, but high-s signatures are refused.
        bytes32 highS = bytes32(SECP256K1_N - uint256(s));
        uint8 flippedV = v == 27 ? 28 : 27;

        vm.expectRevert(abi.encodeWithSelector(IHeitjeToken.HeitjeInvalidSignature.selector, alice));
        token.transferWithAuthorization(alice, bakery, 4 * HEIT, 0, NOW + 1 hours, nonce, flippedV, r, highS);
    }

    function test_RevertWhen_TransferWithAuthorizationSignedAsReceive() public {
        _mint(alice, 15 * HEIT, TASK);
        bytes32 nonce = keccak256("payment 1");
        (uint8 v, bytes32 r, bytes32 s) =
            _signTransfer(aliceKey, RECEIVE_TYPEHASH, alice, bakery, 4 * HEIT, 0, NOW + 1 hours, nonce);

        vm.expectRevert(abi.encodeWithSelector(IHeitjeToken.HeitjeInvalidSignature.selector, alice));
        token.transferWithAuthorization(alice, bakery, 4 * HEIT, 0, NOW + 1 hours, nonce, v, r, s);
    }

    function test_RevertWhen_TransferWithAuthorizationSignedForOtherChain() public {
        _mint(alice, 15 * HEIT, TASK);
        bytes32 nonce = keccak256("payment 1");
        (uint8 v, bytes32 r, bytes32 s) = _alicePays(4 * HEIT, nonce);

        vm.chainId(block.chainid + 1); // the domain separator follows the chain id
        vm.expectRevert(abi.encodeWithSelector(IHeitjeToken.HeitjeInvalidSignature.selector, alice));
        token.transferWithAuthorization(alice, bakery, 4 * HEIT, 0, NOW + 1 hours, nonce, v, r, s);
    }

    function test_RevertWhen_TransferWithAuthorizationCanceled() public {
        _mint(alice, 15 * HEIT, TASK);
        bytes32 nonce = keccak256("payment 1");
        (uint8 v, bytes32 r, bytes32 s) = _alicePays(4 * HEIT, nonce);
        (uint8 cv, bytes32 cr, bytes32 cs) = _signCancel(aliceKey, alice, nonce);
        token.cancelAuthorization(alice, nonce, cv, cr, cs);

        vm.expectRevert(abi.encodeWithSelector(IHeitjeToken.HeitjeAuthorizationUsed.selector, alice, nonce));
        token.transferWithAuthorization(alice, bakery, 4 * HEIT, 0, NOW + 1 hours, nonce, v, r, s);
        assertEq(token.balanceOf(alice), 15 * HEIT);
    }

    function test_RevertWhen_TransferWithAuthorizationCitizenToCitizen() public {
        _mint(alice, 15 * HEIT, TASK);
        bytes32 nonce = keccak256("gift");
        (uint8 v, bytes32 r, bytes32 s) =
            _signTransfer(aliceKey, TRANSFER_TYPEHASH, alice, bob, 1, 0, NOW + 1 hours, nonce);

        vm.expectRevert(abi.encodeWithSelector(IHeitjeToken.HeitjeTransferNotAllowed.selector, alice, bob));
        token.transferWithAuthorization(alice, bob, 1, 0, NOW + 1 hours, nonce, v, r, s);
        // The whole call reverted, so the nonce is still unused.
        assertFalse(token.authorizationState(alice, nonce));
    }

    function test_RevertWhen_TransferWithAuthorizationToUnregistered() public {
        _mint(alice, 15 * HEIT, TASK);
        bytes32 nonce = keccak256("payment 1");
        (uint8 v, bytes32 r, bytes32 s) =
            _signTransfer(aliceKey, TRANSFER_TYPEHASH, alice, outsider, 1, 0, NOW + 1 hours, nonce);

        vm.expectRevert(abi.encodeWithSelector(IHeitjeToken.HeitjeTransferNotAllowed.selector, alice, outsider));
        token.transferWithAuthorization(alice, outsider, 1, 0, NOW + 1 hours, nonce, v, r, s);
    }

    function test_RevertWhen_TransferWithAuthorizationFromUnregistered() public {
        bytes32 nonce = keccak256("payment 1");
        (uint8 v, bytes32 r, bytes32 s) =
            _signTransfer(outsiderKey, TRANSFER_TYPEHASH, outsider, bakery, 0, 0, NOW + 1 hours, nonce);

        vm.expectRevert(abi.encodeWithSelector(IHeitjeToken.HeitjeTransferNotAllowed.selector, outsider, bakery));
        token.transferWithAuthorization(outsider, bakery, 0, 0, NOW + 1 hours, nonce, v, r, s);
    }

    function test_RevertWhen_TransferWithAuthorizationExceedsBalance() public {
        _mint(alice, 15 * HEIT, TASK);
        bytes32 nonce = keccak256("payment 1");
        (uint8 v, bytes32 r, bytes32 s) = _alicePays(16 * HEIT, nonce);

        vm.expectRevert(_insufficient(alice, 15 * HEIT, 16 * HEIT));
        token.transferWithAuthorization(alice, bakery, 16 * HEIT, 0, NOW + 1 hours, nonce, v, r, s);
    }

    function test_RevertWhen_TransferWithAuthorizationPaused() public {
        _mint(alice, 15 * HEIT, TASK);
        bytes32 nonce = keccak256("payment 1");
        (uint8 v, bytes32 r, bytes32 s) = _alicePays(4 * HEIT, nonce);
        _pause();

        vm.expectRevert(Pausable.EnforcedPause.selector);
        token.transferWithAuthorization(alice, bakery, 4 * HEIT, 0, NOW + 1 hours, nonce, v, r, s);
        assertFalse(token.authorizationState(alice, nonce));
    }

    function testFuzz_TransferWithAuthorization(uint256 minted, uint256 value, bytes32 nonce) public {
        minted = bound(minted, 1, type(uint128).max);
        value = bound(value, 0, minted);
        _mint(alice, minted, TASK);
        (uint8 v, bytes32 r, bytes32 s) = _alicePays(value, nonce);

        vm.prank(relayer);
        token.transferWithAuthorization(alice, bakery, value, 0, NOW + 1 hours, nonce, v, r, s);
        assertEq(token.balanceOf(alice), minted - value);
        assertEq(token.balanceOf(bakery), value);
        assertTrue(token.authorizationState(alice, nonce));
    }

    // =====================================================================
    // EIP-3009 receiveWithAuthorization
    // =====================================================================

    function test_ReceiveWithAuthorization() public {
        _mint(alice, 15 * HEIT, TASK);
        bytes32 nonce = keccak256("qr payment");
        (uint8 v, bytes32 r, bytes32 s) =
            _signTransfer(aliceKey, RECEIVE_TYPEHASH, alice, bakery, 3 * HEIT, 0, NOW + 1 hours, nonce);

        vm.expectEmit(address(token));
        emit IHeitjeToken.AuthorizationUsed(alice, nonce);
        vm.expectEmit(address(token));
        emit IERC20.Transfer(alice, bakery, 3 * HEIT);
        vm.prank(bakery);
        token.receiveWithAuthorization(alice, bakery, 3 * HEIT, 0, NOW + 1 hours, nonce, v, r, s);

        assertEq(token.balanceOf(bakery), 3 * HEIT);
        assertTrue(token.authorizationState(alice, nonce));
    }

    function test_RevertWhen_ReceiveWithAuthorizationCallerNotPayee() public {
        _mint(alice, 15 * HEIT, TASK);
        bytes32 nonce = keccak256("qr payment");
        (uint8 v, bytes32 r, bytes32 s) =
            _signTransfer(aliceKey, RECEIVE_TYPEHASH, alice, bakery, 3 * HEIT, 0, NOW + 1 hours, nonce);

        vm.expectRevert(abi.encodeWithSelector(IHeitjeToken.HeitjeCallerNotPayee.selector, relayer, bakery));
        vm.prank(relayer);
        token.receiveWithAuthorization(alice, bakery, 3 * HEIT, 0, NOW + 1 hours, nonce, v, r, s);
    }

    function test_RevertWhen_ReceiveWithAuthorizationReplayed() public {
        _mint(alice, 15 * HEIT, TASK);
        bytes32 nonce = keccak256("qr payment");
        (uint8 v, bytes32 r, bytes32 s) =
            _signTransfer(aliceKey, RECEIVE_TYPEHASH, alice, bakery, 3 * HEIT, 0, NOW + 1 hours, nonce);
        vm.prank(bakery);
        token.receiveWithAuthorization(alice, bakery, 3 * HEIT, 0, NOW + 1 hours, nonce, v, r, s);

        vm.expectRevert(abi.encodeWithSelector(IHeitjeToken.HeitjeAuthorizationUsed.selector, alice, nonce));
        vm.prank(bakery);
        token.receiveWithAuthorization(alice, bakery, 3 * HEIT, 0, NOW + 1 hours, nonce, v, r, s);
    }

    function test_RevertWhen_ReceiveWithAuthorizationSignedAsTransfer() public {
        _mint(alice, 15 * HEIT, TASK);
        bytes32 nonce = keccak256("qr payment");
        (uint8 v, bytes32 r, bytes32 s) = _alicePays(3 * HEIT, nonce);

        vm.expectRevert(abi.encodeWithSelector(IHeitjeToken.HeitjeInvalidSignature.selector, alice));
        vm.prank(bakery);
        token.receiveWithAuthorization(alice, bakery, 3 * HEIT, 0, NOW + 1 hours, nonce, v, r, s);
    }

    // =====================================================================
    // EIP-3009 cancelAuthorization
    // =====================================================================

    function test_CancelAuthorization() public {
        bytes32 nonce = keccak256("payment 1");
        (uint8 v, bytes32 r, bytes32 s) = _signCancel(aliceKey, alice, nonce);

        vm.expectEmit(address(token));
        emit IHeitjeToken.AuthorizationCanceled(alice, nonce);
        vm.prank(relayer);
        token.cancelAuthorization(alice, nonce, v, r, s);
        assertTrue(token.authorizationState(alice, nonce));
    }

    function test_CancelAuthorizationWhilePaused() public {
        _pause();
        bytes32 nonce = keccak256("payment 1");
        (uint8 v, bytes32 r, bytes32 s) = _signCancel(aliceKey, alice, nonce);
        token.cancelAuthorization(alice, nonce, v, r, s);
        assertTrue(token.authorizationState(alice, nonce));
    }

    function test_RevertWhen_CancelAuthorizationTwice() public {
        bytes32 nonce = keccak256("payment 1");
        (uint8 v, bytes32 r, bytes32 s) = _signCancel(aliceKey, alice, nonce);
        token.cancelAuthorization(alice, nonce, v, r, s);

        vm.expectRevert(abi.encodeWithSelector(IHeitjeToken.HeitjeAuthorizationUsed.selector, alice, nonce));
        token.cancelAuthorization(alice, nonce, v, r, s);
    }

    function test_RevertWhen_CancelAuthorizationAfterUse() public {
        _mint(alice, 15 * HEIT, TASK);
        bytes32 nonce = keccak256("payment 1");
        (uint8 v, bytes32 r, bytes32 s) = _alicePays(4 * HEIT, nonce);
        token.transferWithAuthorization(alice, bakery, 4 * HEIT, 0, NOW + 1 hours, nonce, v, r, s);

        (uint8 cv, bytes32 cr, bytes32 cs) = _signCancel(aliceKey, alice, nonce);
        vm.expectRevert(abi.encodeWithSelector(IHeitjeToken.HeitjeAuthorizationUsed.selector, alice, nonce));
        token.cancelAuthorization(alice, nonce, cv, cr, cs);
    }

    function test_RevertWhen_CancelAuthorizationWrongSigner() public {
        bytes32 nonce = keccak256("payment 1");
        (uint8 v, bytes32 r, bytes32 s) = _signCancel(bobKey, alice, nonce);

        vm.expectRevert(abi.encodeWithSelector(IHeitjeToken.HeitjeInvalidSignature.selector, alice));
        token.cancelAuthorization(alice, nonce, v, r, s);
        assertFalse(token.authorizationState(alice, nonce));
    }
}
