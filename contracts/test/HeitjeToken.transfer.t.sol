// SPDX-License-Identifier: EUPL-1.2
pragma solidity ^0.8.24;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {IERC20Errors} from "@openzeppelin/contracts/interfaces/draft-IERC6093.sol";
import {Pausable} from "@openzeppelin/contracts/utils/Pausable.sol";
import {IHeitjeToken} from "../src/IHeitjeToken.sol";
import {HeitjeTokenBase} from "./utils/HeitjeTokenBase.sol";

/// @notice HeitjeToken unit and fuzz tests: the transfer policy (citizen -> shop, shop -> citizen).
contract HeitjeTokenTransferTest is HeitjeTokenBase {
    // =====================================================================
    // transfer policy
    // =====================================================================

    function test_TransferCitizenToShop() public {
        _mint(alice, 15 * HEIT, TASK);

        vm.expectEmit(address(token));
        emit IERC20.Transfer(alice, bakery, 4 * HEIT);
        vm.prank(alice);
        assertTrue(token.transfer(bakery, 4 * HEIT));

        assertEq(token.balanceOf(alice), 11 * HEIT);
        assertEq(token.balanceOf(bakery), 4 * HEIT);
        assertEq(token.totalSupply(), 15 * HEIT);
    }

    function test_TransferShopToCitizen() public {
        _fundBakery(10 * HEIT);

        vm.expectEmit(address(token));
        emit IERC20.Transfer(bakery, bob, 3 * HEIT);
        vm.prank(bakery);
        assertTrue(token.transfer(bob, 3 * HEIT));

        assertEq(token.balanceOf(bakery), 7 * HEIT);
        assertEq(token.balanceOf(bob), 3 * HEIT);
    }

    function test_TransferFromWithAllowance() public {
        _mint(alice, 15 * HEIT, TASK);
        vm.prank(alice);
        token.approve(bakery, 5 * HEIT);

        vm.prank(bakery);
        assertTrue(token.transferFrom(alice, bakery, 5 * HEIT));
        assertEq(token.balanceOf(bakery), 5 * HEIT);
        assertEq(token.allowance(alice, bakery), 0);
    }

    function test_RevertWhen_TransferCitizenToCitizen() public {
        _mint(alice, 15 * HEIT, TASK);
        vm.expectRevert(abi.encodeWithSelector(IHeitjeToken.HeitjeTransferNotAllowed.selector, alice, bob));
        _transferAs(alice, bob, 1);
    }

    function test_RevertWhen_TransferShopToShop() public {
        _fundBakery(10 * HEIT);
        vm.expectRevert(abi.encodeWithSelector(IHeitjeToken.HeitjeTransferNotAllowed.selector, bakery, florist));
        _transferAs(bakery, florist, 1);
    }

    function test_RevertWhen_TransferToSelf() public {
        _fundBakery(10 * HEIT);
        vm.expectRevert(abi.encodeWithSelector(IHeitjeToken.HeitjeTransferNotAllowed.selector, bakery, bakery));
        _transferAs(bakery, bakery, 1);
    }

    function test_RevertWhen_TransferToUnregistered() public {
        _mint(alice, 15 * HEIT, TASK);
        vm.expectRevert(abi.encodeWithSelector(IHeitjeToken.HeitjeTransferNotAllowed.selector, alice, outsider));
        _transferAs(alice, outsider, 1);
    }

    function test_RevertWhen_TransferFromUnregistered() public {
        // An unregistered account never holds HEIT; even a zero transfer is refused.
        vm.expectRevert(abi.encodeWithSelector(IHeitjeToken.HeitjeTransferNotAllowed.selector, outsider, bakery));
        _transferAs(outsider, bakery, 0);
    }

    function test_RevertWhen_TransferFromDeregistered() public {
        _mint(alice, 15 * HEIT, TASK);
        vm.prank(alice);
        assertTrue(token.transfer(bakery, 15 * HEIT));
        vm.prank(registrar);
        token.registerAccount(alice, IHeitjeToken.AccountKind.None);

        vm.expectRevert(abi.encodeWithSelector(IHeitjeToken.HeitjeTransferNotAllowed.selector, bakery, alice));
        _transferAs(bakery, alice, 1);
    }

    function test_RevertWhen_TransferToZeroAddress() public {
        _mint(alice, 15 * HEIT, TASK);
        vm.expectRevert(abi.encodeWithSelector(IERC20Errors.ERC20InvalidReceiver.selector, address(0)));
        _transferAs(alice, address(0), 1);
    }

    function test_RevertWhen_TransferExceedsBalance() public {
        _mint(alice, 15 * HEIT, TASK);
        vm.expectRevert(_insufficient(alice, 15 * HEIT, 15 * HEIT + 1));
        _transferAs(alice, bakery, 15 * HEIT + 1);
    }

    function test_RevertWhen_TransferFromExceedsAllowance() public {
        _mint(alice, 15 * HEIT, TASK);
        vm.prank(alice);
        token.approve(bakery, 5 * HEIT);

        vm.expectRevert(
            abi.encodeWithSelector(IERC20Errors.ERC20InsufficientAllowance.selector, bakery, 5 * HEIT, 5 * HEIT + 1)
        );
        vm.prank(bakery);
        // forge-lint: disable-next-line(erc20-unchecked-transfer)
        token.transferFrom(alice, bakery, 5 * HEIT + 1);
    }

    function test_RevertWhen_TransferPaused() public {
        _mint(alice, 15 * HEIT, TASK);
        _pause();
        vm.expectRevert(Pausable.EnforcedPause.selector);
        _transferAs(alice, bakery, 1);
    }

    function testFuzz_PayAndRefund(uint256 minted, uint256 paid, uint256 refunded) public {
        minted = bound(minted, 1, type(uint128).max);
        paid = bound(paid, 0, minted);
        refunded = bound(refunded, 0, paid);

        _mint(alice, minted, TASK);
        vm.prank(alice);
        assertTrue(token.transfer(bakery, paid));
        vm.prank(bakery);
        assertTrue(token.transfer(bob, refunded));

        assertEq(token.balanceOf(alice), minted - paid);
        assertEq(token.balanceOf(bakery), paid - refunded);
        assertEq(token.balanceOf(bob), refunded);
        assertEq(token.totalSupply(), minted);
        assertEq(token.balanceOf(alice) + token.balanceOf(bakery) + token.balanceOf(bob), minted);
    }

    function testFuzz_RevertWhen_PayMoreThanBalance(uint256 minted, uint256 paid) public {
        minted = bound(minted, 1, type(uint128).max);
        paid = bound(paid, minted + 1, type(uint256).max);

        _mint(alice, minted, TASK);
        vm.expectRevert(_insufficient(alice, minted, paid));
        _transferAs(alice, bakery, paid);
    }
}
