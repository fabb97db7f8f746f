// SPDX-License-Identifier: EUPL-1.2
pragma solidity ^0.8.24;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {ERC20Permit} from "@openzeppelin/contracts/token/ERC20/extensions/ERC20Permit.sol";
import {IHeitjeToken} from "../src/IHeitjeToken.sol";
import {HeitjeTokenBase} from "./utils/HeitjeTokenBase.sol";

/// @notice HeitjeToken unit and fuzz tests: EIP-2612 permit.
contract HeitjeTokenPermitTest is HeitjeTokenBase {
    // =====================================================================
    // EIP-2612 permit
    // =====================================================================

    function test_Permit() public {
        _mint(alice, 15 * HEIT, TASK);
        uint256 deadline = NOW + 1 hours;
        assertEq(token.nonces(alice), 0);
        (uint8 v, bytes32 r, bytes32 s) = _signPermit(aliceKey, alice, bakery, 5 * HEIT, 0, deadline);

        vm.expectEmit(address(token));
        emit IERC20.Approval(alice, bakery, 5 * HEIT);
        vm.prank(relayer);
        token.permit(alice, bakery, 5 * HEIT, deadline, v, r, s);
        assertEq(token.allowance(alice, bakery), 5 * HEIT);
        assertEq(token.nonces(alice), 1);

        // The spender pulls within the transfer policy: citizen -> shop.
        vm.prank(bakery);
        assertTrue(token.transferFrom(alice, bakery, 5 * HEIT));
        assertEq(token.balanceOf(alice), 10 * HEIT);
        assertEq(token.balanceOf(bakery), 5 * HEIT);
        assertEq(token.allowance(alice, bakery), 0);
    }

    function test_PermitShopWalletRefundsThroughSpender() public {
        _fundBakery(10 * HEIT);
        uint256 deadline = NOW + 1 hours;
        (uint8 v, bytes32 r, bytes32 s) = _signPermit(bakeryKey, bakery, relayer, 3 * HEIT, 0, deadline);
        token.permit(bakery, relayer, 3 * HEIT, deadline, v, r, s);

        // shop -> citizen is within the policy too.
        vm.prank(relayer);
        assertTrue(token.transferFrom(bakery, bob, 3 * HEIT));
        assertEq(token.balanceOf(bob), 3 * HEIT);
        assertEq(token.balanceOf(bakery), 7 * HEIT);
    }

    function test_RevertWhen_PermitTransferFromOutsidePolicy() public {
        _mint(alice, 15 * HEIT, TASK);
        uint256 deadline = NOW + 1 hours;
        (uint8 v, bytes32 r, bytes32 s) = _signPermit(aliceKey, alice, relayer, 5 * HEIT, 0, deadline);
        token.permit(alice, relayer, 5 * HEIT, deadline, v, r, s);

        // An allowance is no way around the policy: not to a citizen, not to an outsider.
        vm.expectRevert(abi.encodeWithSelector(IHeitjeToken.HeitjeTransferNotAllowed.selector, alice, bob));
        vm.prank(relayer);
        // forge-lint: disable-next-line(erc20-unchecked-transfer)
        token.transferFrom(alice, bob, 5 * HEIT);
        vm.expectRevert(abi.encodeWithSelector(IHeitjeToken.HeitjeTransferNotAllowed.selector, alice, outsider));
        vm.prank(relayer);
        // forge-lint: disable-next-line(erc20-unchecked-transfer)
        token.transferFrom(alice, outsider, 5 * HEIT);

        assertEq(token.balanceOf(alice), 15 * HEIT);
        assertEq(token.allowance(alice, relayer), 5 * HEIT);
    }

    function test_RevertWhen_PermitExpired() public {
        uint256 deadline = NOW + 1 hours;
        (uint8 v, bytes32 r, bytes32 s) = _signPermit(aliceKey, alice, bakery, 5 * HEIT, 0, deadline);

        vm.warp(deadline + 1); // the deadline itself is still good
        vm.expectRevert(abi.encodeWithSelector(ERC20Permit.ERC2612ExpiredSignature.selector, deadline));
        token.permit(alice, bakery, 5 * HEIT, deadline, v, r, s);
        assertEq(token.allowance(alice, bakery), 0);
        assertEq(token.nonces(alice), 0);

        vm.warp(deadline);
        token.permit(alice, bakery, 5 * HEIT, deadline, v, r, s);
        assertEq(token.allowance(alice, bakery), 5 * HEIT);
    }

    function test_RevertWhen_PermitReplayed() public {
        _mint(alice, 15 * HEIT, TASK);
        uint256 deadline = NOW + 1 hours;
        (uint8 v, bytes32 r, bytes32 s) = _signPermit(aliceKey, alice, bakery, 5 * HEIT, 0, deadline);
        token.permit(alice, bakery, 5 * HEIT, deadline, v, r, s);
        vm.prank(bakery);
        assertTrue(token.transferFrom(alice, bakery, 5 * HEIT));

        // Replayed, the signature is checked against nonce 1 and recovers some other address.
        bytes32 digestNow = keccak256(
            abi.encodePacked(
                "\x19\x01",
                _domainSeparator(),
                keccak256(abi.encode(PERMIT_TYPEHASH, alice, bakery, 5 * HEIT, 1, deadline))
            )
        );
        address recovered = ecrecover(digestNow, v, r, s);
        vm.expectRevert(abi.encodeWithSelector(ERC20Permit.ERC2612InvalidSigner.selector, recovered, alice));
        token.permit(alice, bakery, 5 * HEIT, deadline, v, r, s);
        assertEq(token.allowance(alice, bakery), 0);
        assertEq(token.nonces(alice), 1);
    }

    function test_RevertWhen_PermitWrongSigner() public {
        uint256 deadline = NOW + 1 hours;
        (uint8 v, bytes32 r, bytes32 s) = _signPermit(bobKey, alice, bakery, 5 * HEIT, 0, deadline);
        vm.expectRevert(abi.encodeWithSelector(ERC20Permit.ERC2612InvalidSigner.selector, bob, alice));
        token.permit(alice, bakery, 5 * HEIT, deadline, v, r, s);
    }
}
