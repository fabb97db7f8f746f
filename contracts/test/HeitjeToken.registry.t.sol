// SPDX-License-Identifier: EUPL-1.2
pragma solidity ^0.8.24;

import {IHeitjeToken} from "../src/IHeitjeToken.sol";
import {HeitjeTokenBase} from "./utils/HeitjeTokenBase.sol";

/// @notice HeitjeToken unit and fuzz tests: the registry of citizens and shops.
contract HeitjeTokenRegistryTest is HeitjeTokenBase {
    // =====================================================================
    // registry
    // =====================================================================

    function test_RegisterAccount() public {
        vm.expectEmit(address(token));
        emit IHeitjeToken.AccountRegistered(outsider, IHeitjeToken.AccountKind.Shop);
        vm.prank(registrar);
        token.registerAccount(outsider, IHeitjeToken.AccountKind.Shop);

        assertEq(uint256(token.accountKind(outsider)), uint256(IHeitjeToken.AccountKind.Shop));
        assertEq(uint256(token.accountKind(alice)), uint256(IHeitjeToken.AccountKind.Citizen));
        assertEq(uint256(token.accountKind(stranger)), uint256(IHeitjeToken.AccountKind.None));
    }

    function test_RegisterAccountDeregistersWithNone() public {
        vm.expectEmit(address(token));
        emit IHeitjeToken.AccountRegistered(bob, IHeitjeToken.AccountKind.None);
        vm.prank(registrar);
        token.registerAccount(bob, IHeitjeToken.AccountKind.None);
        assertEq(uint256(token.accountKind(bob)), uint256(IHeitjeToken.AccountKind.None));
    }

    function test_RegisterAccountSameKindWithBalance() public {
        _mint(alice, 10 * HEIT, TASK);

        vm.expectEmit(address(token));
        emit IHeitjeToken.AccountRegistered(alice, IHeitjeToken.AccountKind.Citizen);
        vm.prank(registrar);
        token.registerAccount(alice, IHeitjeToken.AccountKind.Citizen);
        assertEq(uint256(token.accountKind(alice)), uint256(IHeitjeToken.AccountKind.Citizen));
    }

    function test_RegisterAccountKindChangeAfterBalanceSpent() public {
        _mint(alice, 10 * HEIT, TASK);
        vm.prank(alice);
        assertTrue(token.transfer(bakery, 10 * HEIT));

        vm.prank(registrar);
        token.registerAccount(alice, IHeitjeToken.AccountKind.Shop);
        assertEq(uint256(token.accountKind(alice)), uint256(IHeitjeToken.AccountKind.Shop));
    }

    function test_RegisterAccountWhilePaused() public {
        _pause();
        vm.prank(registrar);
        token.registerAccount(outsider, IHeitjeToken.AccountKind.Citizen);
        assertEq(uint256(token.accountKind(outsider)), uint256(IHeitjeToken.AccountKind.Citizen));
    }

    function test_RevertWhen_RegisterAccountCallerNotRegistrar() public {
        vm.expectRevert(_unauthorized(admin, token.REGISTRAR_ROLE()));
        vm.prank(admin);
        token.registerAccount(outsider, IHeitjeToken.AccountKind.Citizen);
    }

    function test_RevertWhen_RegisterAccountZeroAddress() public {
        vm.expectRevert(abi.encodeWithSelector(IHeitjeToken.HeitjeInvalidAccount.selector, address(0)));
        vm.prank(registrar);
        token.registerAccount(address(0), IHeitjeToken.AccountKind.Citizen);
    }

    function test_RevertWhen_RegisterAccountKindChangeWithBalance() public {
        _mint(alice, 10 * HEIT, TASK);

        vm.expectRevert(abi.encodeWithSelector(IHeitjeToken.HeitjeAccountHasBalance.selector, alice, 10 * HEIT));
        vm.prank(registrar);
        token.registerAccount(alice, IHeitjeToken.AccountKind.Shop);

        vm.expectRevert(abi.encodeWithSelector(IHeitjeToken.HeitjeAccountHasBalance.selector, alice, 10 * HEIT));
        vm.prank(registrar);
        token.registerAccount(alice, IHeitjeToken.AccountKind.None);

        assertEq(uint256(token.accountKind(alice)), uint256(IHeitjeToken.AccountKind.Citizen));
    }

    // =====================================================================
    // registerAccounts (batch)
    // =====================================================================

    function _pair(address a, address b) internal pure returns (address[] memory accounts) {
        accounts = new address[](2);
        accounts[0] = a;
        accounts[1] = b;
    }

    function test_RegisterAccounts() public {
        address[] memory accounts = _pair(outsider, stranger);
        vm.expectEmit(address(token));
        emit IHeitjeToken.AccountRegistered(outsider, IHeitjeToken.AccountKind.Citizen);
        vm.expectEmit(address(token));
        emit IHeitjeToken.AccountRegistered(stranger, IHeitjeToken.AccountKind.Citizen);
        vm.prank(registrar);
        token.registerAccounts(accounts, IHeitjeToken.AccountKind.Citizen);

        assertEq(uint256(token.accountKind(outsider)), uint256(IHeitjeToken.AccountKind.Citizen));
        assertEq(uint256(token.accountKind(stranger)), uint256(IHeitjeToken.AccountKind.Citizen));
    }

    function test_RegisterAccountsSameKindWithBalanceAndTwice() public {
        _mint(alice, 10 * HEIT, TASK);
        address[] memory accounts = _pair(alice, alice);
        vm.expectEmit(address(token));
        emit IHeitjeToken.AccountRegistered(alice, IHeitjeToken.AccountKind.Citizen);
        vm.expectEmit(address(token));
        emit IHeitjeToken.AccountRegistered(alice, IHeitjeToken.AccountKind.Citizen);
        vm.prank(registrar);
        token.registerAccounts(accounts, IHeitjeToken.AccountKind.Citizen);
        assertEq(uint256(token.accountKind(alice)), uint256(IHeitjeToken.AccountKind.Citizen));
    }

    function test_RegisterAccountsDeregistersWithNone() public {
        vm.prank(registrar);
        token.registerAccounts(_pair(bob, outsider), IHeitjeToken.AccountKind.None);
        assertEq(uint256(token.accountKind(bob)), uint256(IHeitjeToken.AccountKind.None));
        assertEq(uint256(token.accountKind(outsider)), uint256(IHeitjeToken.AccountKind.None));
    }

    function testFuzz_RegisterAccountsRegistersEach(uint8 count) public {
        uint256 n = bound(count, 1, 40);
        address[] memory accounts = new address[](n);
        for (uint256 i; i < n; ++i) {
            accounts[i] = address(uint160(0xBA7C_0000 + i));
        }
        vm.prank(registrar);
        token.registerAccounts(accounts, IHeitjeToken.AccountKind.Shop);
        for (uint256 i; i < n; ++i) {
            assertEq(uint256(token.accountKind(accounts[i])), uint256(IHeitjeToken.AccountKind.Shop));
        }
    }

    function test_RevertWhen_RegisterAccountsCallerNotRegistrar() public {
        vm.expectRevert(_unauthorized(admin, token.REGISTRAR_ROLE()));
        vm.prank(admin);
        token.registerAccounts(_pair(outsider, stranger), IHeitjeToken.AccountKind.Citizen);
    }

    function test_RevertWhen_RegisterAccountsEmpty() public {
        vm.expectRevert(IHeitjeToken.HeitjeInvalidBatch.selector);
        vm.prank(registrar);
        token.registerAccounts(new address[](0), IHeitjeToken.AccountKind.Citizen);
    }

    function test_RevertWhen_RegisterAccountsZeroAddressRevertsWholeBatch() public {
        vm.expectRevert(abi.encodeWithSelector(IHeitjeToken.HeitjeInvalidAccount.selector, address(0)));
        vm.prank(registrar);
        token.registerAccounts(_pair(outsider, address(0)), IHeitjeToken.AccountKind.Citizen);
        assertEq(uint256(token.accountKind(outsider)), uint256(IHeitjeToken.AccountKind.None));
    }

    function test_RevertWhen_RegisterAccountsKindChangeWithBalanceRevertsWholeBatch() public {
        _mint(alice, 10 * HEIT, TASK);
        vm.expectRevert(abi.encodeWithSelector(IHeitjeToken.HeitjeAccountHasBalance.selector, alice, 10 * HEIT));
        vm.prank(registrar);
        token.registerAccounts(_pair(outsider, alice), IHeitjeToken.AccountKind.Shop);
        assertEq(uint256(token.accountKind(outsider)), uint256(IHeitjeToken.AccountKind.None));
        assertEq(uint256(token.accountKind(alice)), uint256(IHeitjeToken.AccountKind.Citizen));
    }
}
