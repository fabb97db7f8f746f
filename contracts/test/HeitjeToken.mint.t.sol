// SPDX-License-Identifier: EUPL-1.2
pragma solidity ^0.8.24;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {Pausable} from "@openzeppelin/contracts/utils/Pausable.sol";
import {HeitjeToken} from "../src/HeitjeToken.sol";
import {IHeitjeToken} from "../src/IHeitjeToken.sol";
import {HeitjeTokenBase} from "./utils/HeitjeTokenBase.sol";

/// @notice HeitjeToken unit and fuzz tests: reward minting, single and batched.
contract HeitjeTokenMintTest is HeitjeTokenBase {
    // =====================================================================
    // rewards
    // =====================================================================

    function test_MintReward() public {
        vm.expectEmit(address(token));
        emit IERC20.Transfer(address(0), alice, 15 * HEIT);
        vm.expectEmit(address(token));
        emit IHeitjeToken.RewardMinted(alice, 15 * HEIT, TASK);
        _mint(alice, 15 * HEIT, TASK);

        assertEq(token.balanceOf(alice), 15 * HEIT);
        assertEq(token.totalSupply(), 15 * HEIT);
        assertEq(token.totalMinted(), 15 * HEIT);
        assertTrue(token.isTaskRewarded(TASK));
        assertFalse(token.isTaskRewarded(keccak256("another task")));
    }

    function test_MintRewardDistinctTasksAddUp() public {
        _mint(alice, 15 * HEIT, TASK);
        _mint(alice, 5 * HEIT, keccak256("task 2"));
        _mint(bob, 7 * HEIT, keccak256("task 3"));
        assertEq(token.balanceOf(alice), 20 * HEIT);
        assertEq(token.balanceOf(bob), 7 * HEIT);
        assertEq(token.totalSupply(), 27 * HEIT);
        assertEq(token.totalMinted(), 27 * HEIT);
    }

    function test_RevertWhen_MintRewardCallerNotMinter() public {
        vm.expectRevert(_unauthorized(admin, token.MINTER_ROLE()));
        vm.prank(admin);
        token.mintReward(alice, 15 * HEIT, TASK);
    }

    function test_RevertWhen_MintRewardTaskAlreadyRewarded() public {
        _mint(alice, 15 * HEIT, TASK);

        // Neither again to the same citizen nor to another one, nor with another amount.
        vm.expectRevert(abi.encodeWithSelector(IHeitjeToken.HeitjeTaskAlreadyRewarded.selector, TASK));
        _mint(alice, 15 * HEIT, TASK);
        vm.expectRevert(abi.encodeWithSelector(IHeitjeToken.HeitjeTaskAlreadyRewarded.selector, TASK));
        _mint(bob, 1, TASK);

        assertEq(token.totalSupply(), 15 * HEIT);
        assertEq(token.balanceOf(bob), 0);
    }

    function test_RevertWhen_MintRewardTaskRefZero() public {
        vm.expectRevert(IHeitjeToken.HeitjeInvalidTaskRef.selector);
        _mint(alice, 15 * HEIT, bytes32(0));
    }

    function test_RevertWhen_MintRewardZeroAmount() public {
        vm.expectRevert(IHeitjeToken.HeitjeZeroAmount.selector);
        _mint(alice, 0, TASK);
        assertFalse(token.isTaskRewarded(TASK));
    }

    function test_RevertWhen_MintRewardToShop() public {
        vm.expectRevert(abi.encodeWithSelector(IHeitjeToken.HeitjeNotCitizen.selector, bakery));
        _mint(bakery, 15 * HEIT, TASK);
    }

    function test_RevertWhen_MintRewardToUnregistered() public {
        vm.expectRevert(abi.encodeWithSelector(IHeitjeToken.HeitjeNotCitizen.selector, outsider));
        _mint(outsider, 15 * HEIT, TASK);
        assertFalse(token.isTaskRewarded(TASK));
    }

    function test_RevertWhen_MintRewardPaused() public {
        _pause();
        vm.expectRevert(Pausable.EnforcedPause.selector);
        _mint(alice, 15 * HEIT, TASK);
        assertFalse(token.isTaskRewarded(TASK));
        assertEq(token.totalMinted(), 0);
    }

    function testFuzz_MintReward(uint256 amount, bytes32 taskRef) public {
        vm.assume(taskRef != bytes32(0));
        amount = bound(amount, 1, type(uint128).max);

        _mint(alice, amount, taskRef);
        assertEq(token.balanceOf(alice), amount);
        assertEq(token.totalSupply(), amount);
        assertEq(token.totalMinted(), amount);
        assertTrue(token.isTaskRewarded(taskRef));

        vm.expectRevert(abi.encodeWithSelector(IHeitjeToken.HeitjeTaskAlreadyRewarded.selector, taskRef));
        _mint(bob, amount, taskRef);
    }

    function testFuzz_RevertWhen_MintRewardToNonCitizen(address to) public {
        vm.assume(to != alice && to != bob);
        vm.expectRevert(abi.encodeWithSelector(IHeitjeToken.HeitjeNotCitizen.selector, to));
        _mint(to, 15 * HEIT, TASK);
    }

    // =====================================================================
    // batch minting
    // =====================================================================

    function test_MintRewards() public {
        bytes32 t1 = keccak256("task 1");
        bytes32 t2 = keccak256("task 2");
        bytes32 t3 = keccak256("task 3");

        vm.expectEmit(address(token));
        emit IERC20.Transfer(address(0), alice, 5 * HEIT);
        vm.expectEmit(address(token));
        emit IHeitjeToken.RewardMinted(alice, 5 * HEIT, t1);
        vm.expectEmit(address(token));
        emit IERC20.Transfer(address(0), bob, 7 * HEIT);
        vm.expectEmit(address(token));
        emit IHeitjeToken.RewardMinted(bob, 7 * HEIT, t2);
        vm.expectEmit(address(token));
        emit IERC20.Transfer(address(0), alice, 3 * HEIT);
        vm.expectEmit(address(token));
        emit IHeitjeToken.RewardMinted(alice, 3 * HEIT, t3);
        _mintBatch(_addrs(alice, bob, alice), _uints(5 * HEIT, 7 * HEIT, 3 * HEIT), _refs(t1, t2, t3));

        assertEq(token.balanceOf(alice), 8 * HEIT);
        assertEq(token.balanceOf(bob), 7 * HEIT);
        assertEq(token.totalSupply(), 15 * HEIT);
        assertEq(token.totalMinted(), 15 * HEIT);
        assertTrue(token.isTaskRewarded(t1));
        assertTrue(token.isTaskRewarded(t2));
        assertTrue(token.isTaskRewarded(t3));
        assertEq(token.rewardsInCurrentPeriod(alice), 8 * HEIT);
        assertEq(token.rewardsInCurrentPeriod(bob), 7 * HEIT);
        assertEq(token.rewardPeriod(1).minted, 15 * HEIT);
    }

    function test_MintRewardsSingleItem() public {
        _mintBatch(_addrs(alice), _uints(5 * HEIT), _refs(TASK));
        assertEq(token.balanceOf(alice), 5 * HEIT);
        assertTrue(token.isTaskRewarded(TASK));
    }

    function test_MintRewardsUpToBudgetAndCapExactly() public {
        uint256 id = _startPeriod(100 * HEIT, 60 * HEIT);
        _mintBatch(
            _addrs(alice, bob, alice),
            _uints(40 * HEIT, 40 * HEIT, 20 * HEIT),
            _refs(keccak256("t1"), keccak256("t2"), keccak256("t3"))
        );
        assertEq(token.remainingBudget(), 0);
        assertEq(token.rewardPeriod(id).minted, 100 * HEIT);
        assertEq(token.rewardsInCurrentPeriod(alice), 60 * HEIT);
    }

    function test_RevertWhen_MintRewardsRepeatedTaskRefInBatch() public {
        vm.expectRevert(abi.encodeWithSelector(IHeitjeToken.HeitjeTaskAlreadyRewarded.selector, TASK));
        _mintBatch(_addrs(alice, bob), _uints(5 * HEIT, 7 * HEIT), _refs(TASK, TASK));

        // Atomic: the first item is not kept either.
        assertFalse(token.isTaskRewarded(TASK));
        _assertNothingMinted();
    }

    function test_RevertWhen_MintRewardsTaskAlreadyRewarded() public {
        bytes32 fresh = keccak256("task 2");
        _mint(alice, 5 * HEIT, TASK);

        vm.expectRevert(abi.encodeWithSelector(IHeitjeToken.HeitjeTaskAlreadyRewarded.selector, TASK));
        _mintBatch(_addrs(bob, alice), _uints(1 * HEIT, 2 * HEIT), _refs(fresh, TASK));

        assertFalse(token.isTaskRewarded(fresh));
        assertEq(token.balanceOf(bob), 0);
        assertEq(token.balanceOf(alice), 5 * HEIT);
        assertEq(token.totalMinted(), 5 * HEIT);
        assertEq(token.rewardPeriod(1).minted, 5 * HEIT);
    }

    function test_RevertWhen_MintRewardsMismatchedArrays() public {
        bytes32 t2 = keccak256("task 2");
        vm.expectRevert(IHeitjeToken.HeitjeInvalidBatch.selector);
        _mintBatch(_addrs(alice, bob), _uints(1), _refs(TASK, t2));
        vm.expectRevert(IHeitjeToken.HeitjeInvalidBatch.selector);
        _mintBatch(_addrs(alice, bob), _uints(1, 2), _refs(TASK));
        vm.expectRevert(IHeitjeToken.HeitjeInvalidBatch.selector);
        _mintBatch(_addrs(alice), _uints(1, 2), _refs(TASK, t2));
        _assertNothingMinted();
    }

    function test_RevertWhen_MintRewardsEmpty() public {
        vm.expectRevert(IHeitjeToken.HeitjeInvalidBatch.selector);
        _mintBatch(new address[](0), new uint256[](0), new bytes32[](0));
    }

    function test_RevertWhen_MintRewardsBudgetExceededOverBatch() public {
        uint256 id = _startPeriod(100 * HEIT, LARGE);
        // Each item fits the budget alone; together they do not.
        vm.expectRevert(
            abi.encodeWithSelector(IHeitjeToken.HeitjePeriodBudgetExceeded.selector, id, 20 * HEIT, 30 * HEIT)
        );
        _mintBatch(
            _addrs(alice, bob, alice),
            _uints(40 * HEIT, 40 * HEIT, 30 * HEIT),
            _refs(keccak256("t1"), keccak256("t2"), keccak256("t3"))
        );
        _assertNothingMinted();
        assertEq(token.remainingBudget(), 100 * HEIT);
        assertFalse(token.isTaskRewarded(keccak256("t1")));
    }

    function test_RevertWhen_MintRewardsCapExceededOverBatch() public {
        uint256 id = _startPeriod(LARGE, 50 * HEIT);
        vm.expectRevert(
            abi.encodeWithSelector(IHeitjeToken.HeitjeCitizenCapExceeded.selector, alice, id, 30 * HEIT, 30 * HEIT)
        );
        _mintBatch(
            _addrs(alice, bob, alice),
            _uints(30 * HEIT, 30 * HEIT, 30 * HEIT),
            _refs(keccak256("t1"), keccak256("t2"), keccak256("t3"))
        );
        _assertNothingMinted();
        assertFalse(token.isTaskRewarded(keccak256("t2")));
    }

    function test_RevertWhen_MintRewardsToNonCitizen() public {
        vm.expectRevert(abi.encodeWithSelector(IHeitjeToken.HeitjeNotCitizen.selector, bakery));
        _mintBatch(_addrs(alice, bakery), _uints(1, 1), _refs(TASK, keccak256("task 2")));
        _assertNothingMinted();
        assertFalse(token.isTaskRewarded(TASK));
    }

    function test_RevertWhen_MintRewardsZeroAmountOrTaskRef() public {
        vm.expectRevert(IHeitjeToken.HeitjeZeroAmount.selector);
        _mintBatch(_addrs(alice, bob), _uints(1, 0), _refs(TASK, keccak256("task 2")));
        vm.expectRevert(IHeitjeToken.HeitjeInvalidTaskRef.selector);
        _mintBatch(_addrs(alice, bob), _uints(1, 1), _refs(TASK, bytes32(0)));
        _assertNothingMinted();
    }

    function test_RevertWhen_MintRewardsCallerNotMinter() public {
        vm.expectRevert(_unauthorized(admin, token.MINTER_ROLE()));
        vm.prank(admin);
        token.mintRewards(_addrs(alice), _uints(1), _refs(TASK));
    }

    function test_RevertWhen_MintRewardsNoActivePeriod() public {
        HeitjeToken fresh = _tokenWithoutPeriod();
        vm.expectRevert(IHeitjeToken.HeitjeNoActivePeriod.selector);
        vm.prank(minter);
        fresh.mintRewards(_addrs(alice), _uints(1), _refs(TASK));
    }

    function test_RevertWhen_MintRewardsPaused() public {
        _pause();
        vm.expectRevert(Pausable.EnforcedPause.selector);
        _mintBatch(_addrs(alice, bob), _uints(1, 2), _refs(TASK, keccak256("task 2")));
        _assertNothingMinted();
        assertFalse(token.isTaskRewarded(TASK));
    }

    function testFuzz_MintRewards(uint256 n, uint256 seed) public {
        n = bound(n, 1, 20);
        address[] memory to = new address[](n);
        uint256[] memory amounts = new uint256[](n);
        bytes32[] memory taskRefs = new bytes32[](n);
        uint256 forAlice;
        uint256 total;
        for (uint256 i; i < n; ++i) {
            to[i] = uint256(keccak256(abi.encode(seed, "who", i))) % 2 == 0 ? alice : bob;
            amounts[i] = bound(uint256(keccak256(abi.encode(seed, "amount", i))), 1, type(uint96).max);
            taskRefs[i] = keccak256(abi.encode(seed, "task", i));
            total += amounts[i];
            if (to[i] == alice) forAlice += amounts[i];
        }
        _mintBatch(to, amounts, taskRefs);

        assertEq(token.totalSupply(), total);
        assertEq(token.totalMinted(), total);
        assertEq(token.balanceOf(alice), forAlice);
        assertEq(token.balanceOf(bob), total - forAlice);
        assertEq(token.rewardPeriod(1).minted, total);
        for (uint256 i; i < n; ++i) {
            assertTrue(token.isTaskRewarded(taskRefs[i]));
        }
    }
}
