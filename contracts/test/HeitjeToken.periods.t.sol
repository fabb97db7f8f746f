// SPDX-License-Identifier: EUPL-1.2
pragma solidity ^0.8.24;

import {HeitjeToken} from "../src/HeitjeToken.sol";
import {IHeitjeToken} from "../src/IHeitjeToken.sol";
import {HeitjeTokenBase} from "./utils/HeitjeTokenBase.sol";

/// @notice HeitjeToken unit and fuzz tests: reward periods (budget, cap per citizen).
contract HeitjeTokenPeriodsTest is HeitjeTokenBase {
    // =====================================================================
    // reward periods
    // =====================================================================

    function test_PeriodOpenedInSetUp() public view {
        assertEq(token.currentPeriodId(), 1);
        IHeitjeToken.RewardPeriod memory p = token.rewardPeriod(1);
        assertEq(p.start, NOW);
        assertEq(p.budget, LARGE);
        assertEq(p.capPerCitizen, LARGE);
        assertEq(p.minted, 0);
        assertEq(token.remainingBudget(), LARGE);
        assertEq(token.rewardsInCurrentPeriod(alice), 0);
    }

    function test_OpenRewardPeriod() public {
        uint64 start = uint64(NOW + 30 days);
        vm.expectEmit(address(token));
        emit IHeitjeToken.RewardPeriodOpened(2, start, 1_000 * HEIT, 100 * HEIT);
        uint256 id = _openPeriod(start, 1_000 * HEIT, 100 * HEIT);

        assertEq(id, 2);
        IHeitjeToken.RewardPeriod memory p = token.rewardPeriod(2);
        assertEq(p.start, start);
        assertEq(p.budget, 1_000 * HEIT);
        assertEq(p.capPerCitizen, 100 * HEIT);
        assertEq(p.minted, 0);
        // Opened, but not in force before its start.
        assertEq(token.currentPeriodId(), 1);
        assertEq(token.remainingBudget(), LARGE);
    }

    function test_OpenRewardPeriodStartingNow() public {
        vm.warp(NOW + 1 days);
        uint256 id = _openPeriod(uint64(NOW + 1 days), 10 * HEIT, 5 * HEIT);
        assertEq(token.currentPeriodId(), id);
        assertEq(token.remainingBudget(), 10 * HEIT);
    }

    function test_OpenRewardPeriodWhilePaused() public {
        _pause();
        assertEq(_openPeriod(uint64(NOW + 1 days), 10 * HEIT, 5 * HEIT), 2);
    }

    function test_OpenRewardPeriodsInOrder() public {
        uint64 second = uint64(NOW + 10 days);
        uint64 third = uint64(NOW + 20 days);
        assertEq(_openPeriod(second, 100 * HEIT, 10 * HEIT), 2);
        assertEq(_openPeriod(third, 200 * HEIT, 20 * HEIT), 3);

        assertEq(token.currentPeriodId(), 1);
        vm.warp(second - 1);
        assertEq(token.currentPeriodId(), 1);
        vm.warp(second);
        assertEq(token.currentPeriodId(), 2);
        assertEq(token.remainingBudget(), 100 * HEIT);
        vm.warp(third - 1);
        assertEq(token.currentPeriodId(), 2);
        vm.warp(third);
        assertEq(token.currentPeriodId(), 3);
        assertEq(token.remainingBudget(), 200 * HEIT);
        // In force until a later period starts.
        vm.warp(uint256(third) + 3 * 365 days);
        assertEq(token.currentPeriodId(), 3);
    }

    function test_CurrentPeriodSwitchesAtStart() public {
        uint64 start = uint64(NOW + 7 days);
        uint256 id = _openPeriod(start, 100 * HEIT, 40 * HEIT);
        _mint(alice, 30 * HEIT, TASK);
        vm.warp(start - 1);
        _mint(alice, 1 * HEIT, keccak256("task 2")); // the last second of period 1
        assertEq(token.rewardsInCurrentPeriod(alice), 31 * HEIT);

        vm.warp(start);
        assertEq(token.currentPeriodId(), id);
        assertEq(token.rewardsInCurrentPeriod(alice), 0);
        assertEq(token.remainingBudget(), 100 * HEIT);
        _mint(alice, 40 * HEIT, keccak256("task 3")); // the new period's full cap

        assertEq(token.rewardsInCurrentPeriod(alice), 40 * HEIT);
        assertEq(token.rewardsInPeriod(1, alice), 31 * HEIT);
        assertEq(token.rewardsInPeriod(id, alice), 40 * HEIT);
        assertEq(token.rewardsInPeriod(id, bob), 0);
        assertEq(token.rewardPeriod(1).minted, 31 * HEIT);
        assertEq(token.rewardPeriod(id).minted, 40 * HEIT);
        assertEq(token.remainingBudget(), 60 * HEIT);
        assertEq(token.totalMinted(), 71 * HEIT);
    }

    function test_PeriodReadsWithoutPeriod() public {
        HeitjeToken fresh = _tokenWithoutPeriod();
        assertEq(fresh.currentPeriodId(), 0);
        assertEq(fresh.remainingBudget(), 0);
        assertEq(fresh.rewardsInCurrentPeriod(alice), 0);
        assertEq(fresh.rewardsInPeriod(1, alice), 0);
    }

    function test_RevertWhen_RewardPeriodDoesNotExist() public {
        // Past the end: array out-of-bounds panic.
        vm.expectRevert(abi.encodeWithSignature("Panic(uint256)", 0x32));
        token.rewardPeriod(2);
        // Id 0 (ids count from 1): arithmetic underflow panic.
        vm.expectRevert(abi.encodeWithSignature("Panic(uint256)", 0x11));
        token.rewardPeriod(0);
    }

    function test_RevertWhen_OpenRewardPeriodInThePast() public {
        vm.warp(NOW + 1 days);
        uint64 start = uint64(NOW + 1 days - 1);
        vm.expectRevert(abi.encodeWithSelector(IHeitjeToken.HeitjeInvalidPeriod.selector, start));
        _openPeriod(start, 1, 1);
    }

    function test_RevertWhen_OpenRewardPeriodNotAfterPrevious() public {
        // Period 1 starts now: another one now is not later.
        vm.expectRevert(abi.encodeWithSelector(IHeitjeToken.HeitjeInvalidPeriod.selector, uint64(NOW)));
        _openPeriod(uint64(NOW), 1, 1);

        uint64 start = uint64(NOW + 10 days);
        _openPeriod(start, 1, 1);
        // The same start again, or an earlier one that is still in the future.
        vm.expectRevert(abi.encodeWithSelector(IHeitjeToken.HeitjeInvalidPeriod.selector, start));
        _openPeriod(start, 1, 1);
        vm.expectRevert(abi.encodeWithSelector(IHeitjeToken.HeitjeInvalidPeriod.selector, start - 1));
        _openPeriod(start - 1, 1, 1);
        assertEq(_openPeriod(start + 1, 1, 1), 3);
    }

    function test_RevertWhen_OpenRewardPeriodCallerNotAdmin() public {
        bytes32 adminRole = token.DEFAULT_ADMIN_ROLE();
        vm.expectRevert(_unauthorized(minter, adminRole));
        vm.prank(minter);
        token.openRewardPeriod(uint64(NOW + 1 days), LARGE, LARGE);
        vm.expectRevert(_unauthorized(registrar, adminRole));
        vm.prank(registrar);
        token.openRewardPeriod(uint64(NOW + 1 days), LARGE, LARGE);
    }

    function test_RevertWhen_MintRewardNoActivePeriod() public {
        HeitjeToken fresh = _tokenWithoutPeriod();
        vm.expectRevert(IHeitjeToken.HeitjeNoActivePeriod.selector);
        vm.prank(minter);
        fresh.mintReward(alice, 1, TASK);

        // A period opened for later does not help before it starts.
        uint64 start = uint64(NOW + 1 days);
        vm.prank(admin);
        fresh.openRewardPeriod(start, LARGE, LARGE);
        vm.warp(start - 1);
        vm.expectRevert(IHeitjeToken.HeitjeNoActivePeriod.selector);
        vm.prank(minter);
        fresh.mintReward(alice, 1, TASK);

        vm.warp(start);
        vm.prank(minter);
        fresh.mintReward(alice, 1, TASK);
        assertEq(fresh.balanceOf(alice), 1);
    }

    function test_RevertWhen_MintRewardBudgetExceeded() public {
        uint256 id = _startPeriod(100 * HEIT, LARGE);
        bytes32 task2 = keccak256("task 2");
        _mint(alice, 60 * HEIT, TASK);

        vm.expectRevert(
            abi.encodeWithSelector(IHeitjeToken.HeitjePeriodBudgetExceeded.selector, id, 40 * HEIT, 41 * HEIT)
        );
        _mint(bob, 41 * HEIT, task2);
        assertFalse(token.isTaskRewarded(task2));

        _mint(bob, 40 * HEIT, task2); // exactly what is left
        assertEq(token.remainingBudget(), 0);
        vm.expectRevert(abi.encodeWithSelector(IHeitjeToken.HeitjePeriodBudgetExceeded.selector, id, 0, 1));
        _mint(bob, 1, keccak256("task 3"));

        assertEq(token.rewardPeriod(id).minted, 100 * HEIT);
        assertEq(token.totalMinted(), 100 * HEIT);
    }

    function test_RevertWhen_MintRewardPeriodWithZeroBudget() public {
        uint256 id = _startPeriod(0, LARGE); // how the admin stops rewards without pausing payments
        vm.expectRevert(abi.encodeWithSelector(IHeitjeToken.HeitjePeriodBudgetExceeded.selector, id, 0, 1));
        _mint(alice, 1, TASK);
    }

    function test_RevertWhen_MintRewardCapExceeded() public {
        uint256 id = _startPeriod(LARGE, 50 * HEIT);
        bytes32 task2 = keccak256("task 2");
        _mint(alice, 30 * HEIT, TASK);

        vm.expectRevert(
            abi.encodeWithSelector(IHeitjeToken.HeitjeCitizenCapExceeded.selector, alice, id, 30 * HEIT, 21 * HEIT)
        );
        _mint(alice, 21 * HEIT, task2);
        assertFalse(token.isTaskRewarded(task2));

        _mint(alice, 20 * HEIT, task2); // up to the cap exactly
        assertEq(token.rewardsInCurrentPeriod(alice), 50 * HEIT);
        vm.expectRevert(abi.encodeWithSelector(IHeitjeToken.HeitjeCitizenCapExceeded.selector, alice, id, 50 * HEIT, 1));
        _mint(alice, 1, keccak256("task 3"));

        // The cap is per citizen: bob has his own.
        _mint(bob, 50 * HEIT, keccak256("task 3"));
        assertEq(token.rewardsInCurrentPeriod(bob), 50 * HEIT);
        assertEq(token.rewardPeriod(id).minted, 100 * HEIT);
    }

    function test_CapResetsInNextPeriod() public {
        uint256 first = _startPeriod(LARGE, 50 * HEIT);
        _mint(alice, 50 * HEIT, TASK);
        uint64 nextYear = uint64(block.timestamp + 365 days);
        uint256 second = _openPeriod(nextYear, LARGE, 50 * HEIT);

        vm.warp(nextYear - 1);
        vm.expectRevert(
            abi.encodeWithSelector(IHeitjeToken.HeitjeCitizenCapExceeded.selector, alice, first, 50 * HEIT, 1)
        );
        _mint(alice, 1, keccak256("task 2"));

        vm.warp(nextYear);
        _mint(alice, 50 * HEIT, keccak256("task 2"));
        assertEq(token.rewardsInPeriod(first, alice), 50 * HEIT);
        assertEq(token.rewardsInPeriod(second, alice), 50 * HEIT);
        assertEq(token.balanceOf(alice), 100 * HEIT);
    }

    function test_BudgetDoesNotCarryOver() public {
        _startPeriod(100 * HEIT, LARGE);
        _mint(alice, 10 * HEIT, TASK); // 90 HEIT unspent
        uint256 next = _startPeriod(20 * HEIT, LARGE);
        vm.expectRevert(
            abi.encodeWithSelector(IHeitjeToken.HeitjePeriodBudgetExceeded.selector, next, 20 * HEIT, 21 * HEIT)
        );
        _mint(alice, 21 * HEIT, keccak256("task 2"));
    }

    function testFuzz_MintRewardWithinBudgetAndCap(uint256 budget, uint256 cap, uint256 first, uint256 second) public {
        budget = bound(budget, 0, 1e12);
        cap = bound(cap, 0, 1e12);
        first = bound(first, 1, 1e12);
        second = bound(second, 1, 1e12);
        uint256 id = _startPeriod(budget, cap);

        uint256 earned;
        uint256[2] memory amounts = [first, second];
        for (uint256 i; i < 2; ++i) {
            uint256 amount = amounts[i];
            bytes32 taskRef = keccak256(abi.encode("fuzz task", i));
            bool fits = amount <= budget - earned && earned + amount <= cap;
            if (amount > budget - earned) {
                vm.expectRevert(
                    abi.encodeWithSelector(
                        IHeitjeToken.HeitjePeriodBudgetExceeded.selector, id, budget - earned, amount
                    )
                );
            } else if (earned + amount > cap) {
                vm.expectRevert(
                    abi.encodeWithSelector(IHeitjeToken.HeitjeCitizenCapExceeded.selector, alice, id, earned, amount)
                );
            }
            _mint(alice, amount, taskRef);
            if (fits) earned += amount;
            assertEq(token.isTaskRewarded(taskRef), fits);
        }

        assertEq(token.rewardsInCurrentPeriod(alice), earned);
        assertEq(token.rewardPeriod(id).minted, earned);
        assertEq(token.remainingBudget(), budget - earned);
        assertLe(earned, budget, "budget exceeded");
        assertLe(earned, cap, "cap exceeded");
    }
}
