// SPDX-License-Identifier: EUPL-1.2
pragma solidity ^0.8.24;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {Pausable} from "@openzeppelin/contracts/utils/Pausable.sol";
import {IHeitjeToken} from "../src/IHeitjeToken.sol";
import {Vm} from "./utils/Test.sol";
import {HeitjeTokenBase} from "./utils/HeitjeTokenBase.sol";

/// @notice HeitjeToken unit and fuzz tests: account recovery by the registrar.
contract HeitjeTokenRecoveryTest is HeitjeTokenBase {
    // =====================================================================
    // recovery
    // =====================================================================

    function test_RecoverAccountCitizen() public {
        address aliceNew = makeAddr("alice new key");
        _mint(alice, 15 * HEIT, TASK);
        vm.prank(alice);
        assertTrue(token.transfer(bakery, 4 * HEIT));
        _register(aliceNew, IHeitjeToken.AccountKind.Citizen);

        vm.expectEmit(address(token));
        emit IERC20.Transfer(alice, aliceNew, 11 * HEIT);
        vm.expectEmit(address(token));
        emit IHeitjeToken.AccountRegistered(alice, IHeitjeToken.AccountKind.None);
        vm.expectEmit(address(token));
        emit IHeitjeToken.AccountRecovered(alice, aliceNew, 11 * HEIT, IHeitjeToken.RecoveryReason.LostKey);
        _recover(alice, aliceNew, IHeitjeToken.RecoveryReason.LostKey);

        assertEq(uint256(token.accountKind(alice)), uint256(IHeitjeToken.AccountKind.None));
        assertEq(uint256(token.accountKind(aliceNew)), uint256(IHeitjeToken.AccountKind.Citizen));
        assertEq(token.balanceOf(alice), 0);
        assertEq(token.balanceOf(aliceNew), 11 * HEIT);
        assertEq(token.totalSupply(), 15 * HEIT);
        assertEq(token.totalMinted(), 15 * HEIT);
        // The period's rewards moved along with the coins.
        assertEq(token.rewardsInCurrentPeriod(alice), 0);
        assertEq(token.rewardsInCurrentPeriod(aliceNew), 15 * HEIT);
        assertEq(token.rewardPeriod(1).minted, 15 * HEIT);

        // The new key pays as the old one did.
        vm.prank(aliceNew);
        assertTrue(token.transfer(bakery, 11 * HEIT));
        assertEq(token.balanceOf(bakery), 15 * HEIT);
    }

    function test_RecoverAccountCitizenZeroBalance() public {
        address aliceNew = makeAddr("alice new key");
        _mint(alice, 15 * HEIT, TASK);
        vm.prank(alice);
        assertTrue(token.transfer(bakery, 15 * HEIT));
        _register(aliceNew, IHeitjeToken.AccountKind.Citizen);

        vm.recordLogs();
        _recover(alice, aliceNew, IHeitjeToken.RecoveryReason.ErasureRequest);
        Vm.Log[] memory logs = vm.getRecordedLogs();

        // No Transfer: just the deregistration and the recovery, with amount 0 and the reason.
        assertEq(logs.length, 2);
        assertEq(logs[0].emitter, address(token));
        assertEq(logs[0].topics[0], IHeitjeToken.AccountRegistered.selector);
        assertEq(logs[0].topics[1], bytes32(uint256(uint160(alice))));
        assertEq(keccak256(logs[0].data), keccak256(abi.encode(IHeitjeToken.AccountKind.None)));
        assertEq(logs[1].emitter, address(token));
        assertEq(logs[1].topics[0], IHeitjeToken.AccountRecovered.selector);
        assertEq(logs[1].topics[1], bytes32(uint256(uint160(alice))));
        assertEq(logs[1].topics[2], bytes32(uint256(uint160(aliceNew))));
        assertEq(keccak256(logs[1].data), keccak256(abi.encode(uint256(0), IHeitjeToken.RecoveryReason.ErasureRequest)));

        assertEq(uint256(token.accountKind(alice)), uint256(IHeitjeToken.AccountKind.None));
        assertEq(token.balanceOf(aliceNew), 0);
        // Rewards carry over even without a balance: the cap counts what was earned, not what is held.
        assertEq(token.rewardsInCurrentPeriod(aliceNew), 15 * HEIT);
        assertEq(token.rewardsInCurrentPeriod(alice), 0);
    }

    function test_RecoverAccountCarriesPeriodRewardsSoCapHolds() public {
        address aliceNew = makeAddr("alice new key");
        uint256 id = _startPeriod(LARGE, 50 * HEIT);
        _mint(alice, 40 * HEIT, TASK);
        _register(aliceNew, IHeitjeToken.AccountKind.Citizen);
        _recover(alice, aliceNew, IHeitjeToken.RecoveryReason.KeyRotation);

        assertEq(token.rewardsInPeriod(id, aliceNew), 40 * HEIT);
        assertEq(token.rewardsInPeriod(id, alice), 0);
        // A new key is no way around the cap: only the 10 HEIT left of it.
        bytes32 task2 = keccak256("task 2");
        vm.expectRevert(
            abi.encodeWithSelector(IHeitjeToken.HeitjeCitizenCapExceeded.selector, aliceNew, id, 40 * HEIT, 11 * HEIT)
        );
        _mint(aliceNew, 11 * HEIT, task2);
        _mint(aliceNew, 10 * HEIT, task2);
        assertEq(token.rewardsInCurrentPeriod(aliceNew), 50 * HEIT);
        assertEq(token.balanceOf(aliceNew), 50 * HEIT);
    }

    function test_RecoverAccountCarriesOnlyCurrentPeriod() public {
        address aliceNew = makeAddr("alice new key");
        _mint(alice, 10 * HEIT, TASK);
        uint256 id = _startPeriod(LARGE, 50 * HEIT);
        _mint(alice, 5 * HEIT, keccak256("task 2"));
        _register(aliceNew, IHeitjeToken.AccountKind.Citizen);
        _recover(alice, aliceNew, IHeitjeToken.RecoveryReason.LostKey);

        // Earlier periods are history and stay as recorded; the current one moves.
        assertEq(token.rewardsInPeriod(1, alice), 10 * HEIT);
        assertEq(token.rewardsInPeriod(1, aliceNew), 0);
        assertEq(token.rewardsInPeriod(id, alice), 0);
        assertEq(token.rewardsInPeriod(id, aliceNew), 5 * HEIT);
        assertEq(token.balanceOf(aliceNew), 15 * HEIT);
    }

    function test_RecoverAccountShop() public {
        address bakeryNew = makeAddr("bakery own wallet");
        _fundBakery(20 * HEIT);
        _register(bakeryNew, IHeitjeToken.AccountKind.Shop);

        vm.expectEmit(address(token));
        emit IERC20.Transfer(bakery, bakeryNew, 20 * HEIT);
        vm.expectEmit(address(token));
        emit IHeitjeToken.AccountRegistered(bakery, IHeitjeToken.AccountKind.None);
        vm.expectEmit(address(token));
        emit IHeitjeToken.AccountRecovered(bakery, bakeryNew, 20 * HEIT, IHeitjeToken.RecoveryReason.KeyRotation);
        _recover(bakery, bakeryNew, IHeitjeToken.RecoveryReason.KeyRotation);

        assertEq(uint256(token.accountKind(bakery)), uint256(IHeitjeToken.AccountKind.None));
        assertEq(uint256(token.accountKind(bakeryNew)), uint256(IHeitjeToken.AccountKind.Shop));
        assertEq(token.balanceOf(bakery), 0);
        assertEq(token.balanceOf(bakeryNew), 20 * HEIT);

        // The new wallet refunds and redeems; the old address no longer may.
        vm.prank(bakeryNew);
        assertTrue(token.transfer(bob, 2 * HEIT));
        vm.prank(bakeryNew);
        assertEq(token.redeem(18 * HEIT), 1);
        vm.expectRevert(abi.encodeWithSelector(IHeitjeToken.HeitjeNotShop.selector, bakery));
        vm.prank(bakery);
        token.redeem(1);
    }

    function test_RecoverAccountShopZeroBalance() public {
        address bakeryNew = makeAddr("bakery own wallet");
        _register(bakeryNew, IHeitjeToken.AccountKind.Shop);

        vm.expectEmit(address(token));
        emit IHeitjeToken.AccountRegistered(bakery, IHeitjeToken.AccountKind.None);
        vm.expectEmit(address(token));
        emit IHeitjeToken.AccountRecovered(bakery, bakeryNew, 0, IHeitjeToken.RecoveryReason.ErasureRequest);
        _recover(bakery, bakeryNew, IHeitjeToken.RecoveryReason.ErasureRequest);

        assertEq(uint256(token.accountKind(bakery)), uint256(IHeitjeToken.AccountKind.None));
        assertEq(token.balanceOf(bakeryNew), 0);
    }

    function test_RecoveredAccountCannotReceiveOrHold() public {
        address aliceNew = makeAddr("alice new key");
        _mint(alice, 15 * HEIT, TASK);
        vm.prank(alice);
        assertTrue(token.transfer(bakery, 5 * HEIT));
        // A payment alice signed with the old key before it was lost.
        bytes32 nonce = keccak256("payment signed before the loss");
        (uint8 v, bytes32 r, bytes32 s) = _alicePays(1 * HEIT, nonce);
        _register(aliceNew, IHeitjeToken.AccountKind.Citizen);
        _recover(alice, aliceNew, IHeitjeToken.RecoveryReason.LostKey);

        vm.expectRevert(abi.encodeWithSelector(IHeitjeToken.HeitjeNotCitizen.selector, alice));
        _mint(alice, 1, keccak256("task 2"));
        vm.expectRevert(abi.encodeWithSelector(IHeitjeToken.HeitjeNotCitizen.selector, alice));
        _mintBatch(_addrs(aliceNew, alice), _uints(1, 1), _refs(keccak256("task 3"), keccak256("task 4")));
        vm.expectRevert(abi.encodeWithSelector(IHeitjeToken.HeitjeTransferNotAllowed.selector, bakery, alice));
        _transferAs(bakery, alice, 1);
        vm.expectRevert(abi.encodeWithSelector(IHeitjeToken.HeitjeTransferNotAllowed.selector, alice, bakery));
        token.transferWithAuthorization(alice, bakery, 1 * HEIT, 0, NOW + 1 hours, nonce, v, r, s);

        assertEq(token.balanceOf(alice), 0);
        assertEq(token.balanceOf(aliceNew), 10 * HEIT);
    }

    function test_RevertWhen_RecoverAccountDifferentKinds() public {
        _mint(alice, 15 * HEIT, TASK);
        vm.expectRevert(abi.encodeWithSelector(IHeitjeToken.HeitjeInvalidRecovery.selector, alice, bakery));
        _recover(alice, bakery, IHeitjeToken.RecoveryReason.LostKey);
        vm.expectRevert(abi.encodeWithSelector(IHeitjeToken.HeitjeInvalidRecovery.selector, bakery, alice));
        _recover(bakery, alice, IHeitjeToken.RecoveryReason.LostKey);

        assertEq(token.balanceOf(alice), 15 * HEIT);
        assertEq(uint256(token.accountKind(alice)), uint256(IHeitjeToken.AccountKind.Citizen));
        assertEq(uint256(token.accountKind(bakery)), uint256(IHeitjeToken.AccountKind.Shop));
    }

    function test_RevertWhen_RecoverAccountFromUnregistered() public {
        vm.expectRevert(abi.encodeWithSelector(IHeitjeToken.HeitjeInvalidRecovery.selector, outsider, alice));
        _recover(outsider, alice, IHeitjeToken.RecoveryReason.LostKey);
        vm.expectRevert(abi.encodeWithSelector(IHeitjeToken.HeitjeInvalidRecovery.selector, outsider, stranger));
        _recover(outsider, stranger, IHeitjeToken.RecoveryReason.LostKey);
    }

    function test_RevertWhen_RecoverAccountToUnregistered() public {
        _mint(alice, 15 * HEIT, TASK);
        vm.expectRevert(abi.encodeWithSelector(IHeitjeToken.HeitjeInvalidRecovery.selector, alice, outsider));
        _recover(alice, outsider, IHeitjeToken.RecoveryReason.LostKey);
        vm.expectRevert(abi.encodeWithSelector(IHeitjeToken.HeitjeInvalidRecovery.selector, alice, address(0)));
        _recover(alice, address(0), IHeitjeToken.RecoveryReason.LostKey);
        assertEq(token.balanceOf(alice), 15 * HEIT);
    }

    function test_RevertWhen_RecoverAccountToAnAccountInUse() public {
        _mint(alice, 15 * HEIT, TASK);
        _mint(bob, 5 * HEIT, keccak256("another task"));
        // bob holds HEIT and was rewarded this period: not a new account.
        vm.expectRevert(abi.encodeWithSelector(IHeitjeToken.HeitjeInvalidRecovery.selector, alice, bob));
        _recover(alice, bob, IHeitjeToken.RecoveryReason.LostKey);
        // Even with its balance spent, bob's rewards this period make it not new.
        vm.prank(bob);
        token.transfer(bakery, 5 * HEIT);
        vm.expectRevert(abi.encodeWithSelector(IHeitjeToken.HeitjeInvalidRecovery.selector, alice, bob));
        _recover(alice, bob, IHeitjeToken.RecoveryReason.LostKey);
        assertEq(token.balanceOf(alice), 15 * HEIT);
        assertEq(token.rewardsInCurrentPeriod(bob), 5 * HEIT);
    }

    function test_RevertWhen_RecoverAccountSameAddress() public {
        _mint(alice, 15 * HEIT, TASK);
        vm.expectRevert(abi.encodeWithSelector(IHeitjeToken.HeitjeInvalidRecovery.selector, alice, alice));
        _recover(alice, alice, IHeitjeToken.RecoveryReason.KeyRotation);
        assertEq(uint256(token.accountKind(alice)), uint256(IHeitjeToken.AccountKind.Citizen));
        assertEq(token.balanceOf(alice), 15 * HEIT);
    }

    function test_RevertWhen_RecoverAccountCallerNotRegistrar() public {
        _mint(alice, 15 * HEIT, TASK);
        vm.expectRevert(_unauthorized(admin, token.REGISTRAR_ROLE()));
        vm.prank(admin);
        token.recoverAccount(alice, bob, IHeitjeToken.RecoveryReason.LostKey);
        assertEq(token.balanceOf(alice), 15 * HEIT);
    }

    function test_RevertWhen_RecoverAccountPaused() public {
        address aliceNew = makeAddr("alice new key");
        _mint(alice, 15 * HEIT, TASK);
        _register(aliceNew, IHeitjeToken.AccountKind.Citizen);
        _pause();

        vm.expectRevert(Pausable.EnforcedPause.selector);
        _recover(alice, aliceNew, IHeitjeToken.RecoveryReason.LostKey);
        assertEq(token.balanceOf(alice), 15 * HEIT);
        assertEq(uint256(token.accountKind(alice)), uint256(IHeitjeToken.AccountKind.Citizen));
        assertEq(token.rewardsInCurrentPeriod(aliceNew), 0);
    }

    function testFuzz_RecoverAccount(uint256 minted, uint256 paid, uint8 reason) public {
        minted = bound(minted, 1, type(uint128).max);
        paid = bound(paid, 0, minted);
        IHeitjeToken.RecoveryReason why = IHeitjeToken.RecoveryReason(bound(reason, 0, 2));
        address aliceNew = makeAddr("alice new key");
        _mint(alice, minted, TASK);
        vm.prank(alice);
        assertTrue(token.transfer(bakery, paid));
        _register(aliceNew, IHeitjeToken.AccountKind.Citizen);

        vm.expectEmit(address(token));
        emit IHeitjeToken.AccountRecovered(alice, aliceNew, minted - paid, why);
        _recover(alice, aliceNew, why);

        assertEq(token.balanceOf(alice), 0);
        assertEq(token.balanceOf(aliceNew), minted - paid);
        assertEq(token.balanceOf(bakery), paid);
        assertEq(token.totalSupply(), minted);
        assertEq(token.rewardsInCurrentPeriod(aliceNew), minted);
    }
}
