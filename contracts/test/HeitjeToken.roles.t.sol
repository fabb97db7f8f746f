// SPDX-License-Identifier: EUPL-1.2
pragma solidity ^0.8.24;

import {
    IAccessControlDefaultAdminRules
} from "@openzeppelin/contracts/access/extensions/IAccessControlDefaultAdminRules.sol";
import {HeitjeToken} from "../src/HeitjeToken.sol";
import {HeitjeTokenBase} from "./utils/HeitjeTokenBase.sol";

/// @notice HeitjeToken unit and fuzz tests: metadata and roles, and the admin rules (two-step handover with a delay).
contract HeitjeTokenRolesTest is HeitjeTokenBase {
    // =====================================================================
    // metadata and roles
    // =====================================================================

    function test_Metadata() public view {
        assertEq(token.name(), "Heitje");
        assertEq(token.symbol(), "HEIT");
        assertEq(token.decimals(), 2);
        assertEq(token.totalSupply(), 0);
        assertEq(token.totalMinted(), 0);
        assertEq(token.totalRedeemed(), 0);
        assertEq(token.redemptionCount(), 0);
    }

    function test_ConstructorGrantsSeparateRoles() public view {
        assertTrue(token.hasRole(token.DEFAULT_ADMIN_ROLE(), admin));
        assertTrue(token.hasRole(token.MINTER_ROLE(), minter));
        assertTrue(token.hasRole(token.REGISTRAR_ROLE(), registrar));
        assertTrue(token.hasRole(token.PAUSER_ROLE(), pauser));
        assertTrue(token.hasRole(token.SETTLER_ROLE(), settler));
        assertFalse(token.hasRole(token.MINTER_ROLE(), admin));
        assertFalse(token.hasRole(token.REGISTRAR_ROLE(), minter));
        assertFalse(token.hasRole(token.PAUSER_ROLE(), registrar));
        assertFalse(token.hasRole(token.SETTLER_ROLE(), minter));
        assertFalse(token.hasRole(token.SETTLER_ROLE(), admin));
        assertFalse(token.hasRole(token.DEFAULT_ADMIN_ROLE(), settler));
        assertEq(token.MINTER_ROLE(), keccak256("MINTER_ROLE"));
        assertEq(token.REGISTRAR_ROLE(), keccak256("REGISTRAR_ROLE"));
        assertEq(token.PAUSER_ROLE(), keccak256("PAUSER_ROLE"));
        assertEq(token.SETTLER_ROLE(), keccak256("SETTLER_ROLE"));
    }

    function test_DomainSeparatorAndTypehashes() public view {
        assertEq(token.DOMAIN_SEPARATOR(), _domainSeparator());
        (, string memory name, string memory version, uint256 chainId, address verifyingContract,,) =
            token.eip712Domain();
        assertEq(name, "Heitje");
        assertEq(version, "1");
        assertEq(chainId, block.chainid);
        assertEq(verifyingContract, address(token));
        assertEq(token.TRANSFER_WITH_AUTHORIZATION_TYPEHASH(), TRANSFER_TYPEHASH);
        assertEq(token.RECEIVE_WITH_AUTHORIZATION_TYPEHASH(), RECEIVE_TYPEHASH);
        assertEq(token.CANCEL_AUTHORIZATION_TYPEHASH(), CANCEL_TYPEHASH);
        assertEq(token.REDEEM_WITH_AUTHORIZATION_TYPEHASH(), REDEEM_TYPEHASH);
    }

    function test_AdminGrantsMinterRole() public {
        bytes32 role = token.MINTER_ROLE();
        vm.prank(admin);
        token.grantRole(role, stranger);
        assertTrue(token.hasRole(role, stranger));

        vm.prank(stranger);
        token.mintReward(alice, 1, TASK);
        assertEq(token.balanceOf(alice), 1);
    }

    function test_RevertWhen_GrantRoleCallerNotAdmin() public {
        bytes32 role = token.MINTER_ROLE();
        vm.expectRevert(_unauthorized(minter, token.DEFAULT_ADMIN_ROLE()));
        vm.prank(minter);
        token.grantRole(role, stranger);
    }

    // =====================================================================
    // admin rules (two-step handover with a delay)
    // =====================================================================

    function test_DefaultAdminRules() public view {
        assertEq(token.defaultAdmin(), admin);
        assertEq(token.owner(), admin);
        assertEq(token.defaultAdminDelay(), ADMIN_DELAY);
        (address pending, uint48 schedule) = token.pendingDefaultAdmin();
        assertEq(pending, address(0));
        assertEq(schedule, 0);
    }

    function test_RevertWhen_GrantDefaultAdminRole() public {
        bytes32 adminRole = token.DEFAULT_ADMIN_ROLE();
        vm.expectRevert(IAccessControlDefaultAdminRules.AccessControlEnforcedDefaultAdminRules.selector);
        vm.prank(admin);
        token.grantRole(adminRole, stranger);
        assertFalse(token.hasRole(adminRole, stranger));
    }

    function test_RevertWhen_RevokeDefaultAdminRole() public {
        bytes32 adminRole = token.DEFAULT_ADMIN_ROLE();
        vm.expectRevert(IAccessControlDefaultAdminRules.AccessControlEnforcedDefaultAdminRules.selector);
        vm.prank(admin);
        token.revokeRole(adminRole, admin);
        assertTrue(token.hasRole(adminRole, admin));
    }

    function test_DefaultAdminTransferAfterDelay() public {
        address newAdmin = makeAddr("new admin");
        bytes32 adminRole = token.DEFAULT_ADMIN_ROLE();
        bytes32 minterRole = token.MINTER_ROLE();
        uint48 schedule = uint48(NOW) + ADMIN_DELAY;

        vm.expectEmit(address(token));
        emit IAccessControlDefaultAdminRules.DefaultAdminTransferScheduled(newAdmin, schedule);
        vm.prank(admin);
        token.beginDefaultAdminTransfer(newAdmin);
        (address pending, uint48 pendingSchedule) = token.pendingDefaultAdmin();
        assertEq(pending, newAdmin);
        assertEq(pendingSchedule, schedule);

        // Not before the delay has passed: the schedule itself is still too early.
        vm.expectRevert(
            abi.encodeWithSelector(
                IAccessControlDefaultAdminRules.AccessControlEnforcedDefaultAdminDelay.selector, schedule
            )
        );
        vm.prank(newAdmin);
        token.acceptDefaultAdminTransfer();
        vm.warp(schedule);
        vm.expectRevert(
            abi.encodeWithSelector(
                IAccessControlDefaultAdminRules.AccessControlEnforcedDefaultAdminDelay.selector, schedule
            )
        );
        vm.prank(newAdmin);
        token.acceptDefaultAdminTransfer();
        assertTrue(token.hasRole(adminRole, admin));

        vm.warp(uint256(schedule) + 1);
        vm.prank(newAdmin);
        token.acceptDefaultAdminTransfer();

        assertEq(token.defaultAdmin(), newAdmin);
        assertTrue(token.hasRole(adminRole, newAdmin));
        assertFalse(token.hasRole(adminRole, admin));
        (pending, pendingSchedule) = token.pendingDefaultAdmin();
        assertEq(pending, address(0));
        assertEq(pendingSchedule, 0);

        // The old admin lost every admin power; the new one has them; the other roles stay where they were.
        vm.expectRevert(_unauthorized(admin, adminRole));
        vm.prank(admin);
        token.grantRole(minterRole, stranger);
        vm.expectRevert(_unauthorized(admin, adminRole));
        vm.prank(admin);
        token.openRewardPeriod(uint64(block.timestamp + 1 days), 1, 1);

        vm.prank(newAdmin);
        token.grantRole(minterRole, stranger);
        assertTrue(token.hasRole(minterRole, stranger));
        vm.prank(newAdmin);
        assertEq(token.openRewardPeriod(uint64(block.timestamp + 1 days), 1, 1), 2);
        assertTrue(token.hasRole(minterRole, minter));
    }

    function test_RevertWhen_AcceptDefaultAdminTransferByOther() public {
        address newAdmin = makeAddr("new admin");
        vm.prank(admin);
        token.beginDefaultAdminTransfer(newAdmin);
        vm.warp(NOW + ADMIN_DELAY + 1);

        vm.expectRevert(
            abi.encodeWithSelector(IAccessControlDefaultAdminRules.AccessControlInvalidDefaultAdmin.selector, stranger)
        );
        vm.prank(stranger);
        token.acceptDefaultAdminTransfer();
        assertEq(token.defaultAdmin(), admin);
    }

    function test_RevertWhen_AcceptCanceledDefaultAdminTransfer() public {
        address newAdmin = makeAddr("new admin");
        vm.prank(admin);
        token.beginDefaultAdminTransfer(newAdmin);
        vm.prank(admin);
        token.cancelDefaultAdminTransfer();
        vm.warp(NOW + ADMIN_DELAY + 1);

        vm.expectRevert(
            abi.encodeWithSelector(IAccessControlDefaultAdminRules.AccessControlInvalidDefaultAdmin.selector, newAdmin)
        );
        vm.prank(newAdmin);
        token.acceptDefaultAdminTransfer();
        assertEq(token.defaultAdmin(), admin);
    }

    function test_RevertWhen_BeginDefaultAdminTransferCallerNotAdmin() public {
        vm.expectRevert(_unauthorized(minter, token.DEFAULT_ADMIN_ROLE()));
        vm.prank(minter);
        token.beginDefaultAdminTransfer(minter);
    }

    function test_RevertWhen_ConstructorAdminIsZero() public {
        vm.expectRevert(
            abi.encodeWithSelector(
                IAccessControlDefaultAdminRules.AccessControlInvalidDefaultAdmin.selector, address(0)
            )
        );
        new HeitjeToken(ADMIN_DELAY, address(0), minter, registrar, pauser, settler);
    }
}
