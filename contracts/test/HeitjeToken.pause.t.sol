// SPDX-License-Identifier: EUPL-1.2
pragma solidity ^0.8.24;

import {Pausable} from "@openzeppelin/contracts/utils/Pausable.sol";
import {HeitjeTokenBase} from "./utils/HeitjeTokenBase.sol";

/// @notice HeitjeToken unit and fuzz tests: pause and unpause.
contract HeitjeTokenPauseTest is HeitjeTokenBase {
    // =====================================================================
    // pause
    // =====================================================================

    function test_PauseAndUnpause() public {
        _mint(alice, 15 * HEIT, TASK);

        vm.expectEmit(address(token));
        emit Pausable.Paused(pauser);
        _pause();
        assertTrue(token.paused());

        vm.expectEmit(address(token));
        emit Pausable.Unpaused(pauser);
        vm.prank(pauser);
        token.unpause();
        assertFalse(token.paused());

        // Everything moves again.
        vm.prank(alice);
        assertTrue(token.transfer(bakery, 5 * HEIT));
        vm.prank(bakery);
        token.redeem(5 * HEIT);
        _mint(bob, 1, keccak256("task 2"));
        assertEq(token.totalSupply(), 10 * HEIT + 1);
    }

    function test_RevertWhen_PauseCallerNotPauser() public {
        vm.expectRevert(_unauthorized(admin, token.PAUSER_ROLE()));
        vm.prank(admin);
        token.pause();
    }

    function test_RevertWhen_UnpauseCallerNotPauser() public {
        _pause();
        vm.expectRevert(_unauthorized(minter, token.PAUSER_ROLE()));
        vm.prank(minter);
        token.unpause();
    }

    function test_RevertWhen_PauseWhilePaused() public {
        _pause();
        vm.expectRevert(Pausable.EnforcedPause.selector);
        vm.prank(pauser);
        token.pause();
    }

    function test_RevertWhen_UnpauseWhileNotPaused() public {
        vm.expectRevert(Pausable.ExpectedPause.selector);
        vm.prank(pauser);
        token.unpause();
    }
}
