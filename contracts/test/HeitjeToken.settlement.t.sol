// SPDX-License-Identifier: EUPL-1.2
pragma solidity ^0.8.24;

import {Pausable} from "@openzeppelin/contracts/utils/Pausable.sol";
import {IHeitjeToken} from "../src/IHeitjeToken.sol";
import {HeitjeTokenBase} from "./utils/HeitjeTokenBase.sol";

/// @notice HeitjeToken unit and fuzz tests: settlement anchoring (recordSettlementPart).
contract HeitjeTokenSettlementTest is HeitjeTokenBase {
    // =====================================================================
    // settlement anchoring
    // =====================================================================

    function test_RecordSettlement() public {
        _threeRedemptions();
        bytes32 batchId = keccak256("settlement 2026-01");
        bytes32 fileHash = sha256("pain.001 payment file for January");
        IHeitjeToken.RedemptionRange[] memory ranges = _ranges(1, 1, 3, 3);

        vm.expectEmit(address(token));
        emit IHeitjeToken.SettlementPartRecorded(batchId, 1, ranges, 2, 16 * HEIT);
        vm.expectEmit(address(token));
        emit IHeitjeToken.SettlementRecorded(batchId, 2, 16 * HEIT, 1_600, fileHash);
        _settle(batchId, ranges, 1_600, fileHash);

        IHeitjeToken.Settlement memory s = token.settlement(batchId);
        assertEq(s.fileHash, fileHash);
        assertEq(s.recordedAt, NOW);
        assertEq(s.redemptions, 2);
        assertEq(s.parts, 1);
        assertEq(s.lastId, 3);
        assertTrue(s.closed);
        assertEq(s.totalUnits, 16 * HEIT); // 5 + 11 HEIT burned
        assertEq(s.totalCents, 1_600);
        assertEq(token.settlementOf(1), batchId);
        assertEq(token.settlementOf(2), bytes32(0));
        assertEq(token.settlementOf(3), batchId);
    }

    function test_RedeemedThroughIsTheRunningTotal() public {
        _threeRedemptions();
        assertEq(token.redeemedThrough(0), 0);
        assertEq(token.redeemedThrough(1), 5 * HEIT);
        assertEq(token.redeemedThrough(2), 12 * HEIT);
        assertEq(token.redeemedThrough(3), 23 * HEIT);
        assertEq(token.redemption(2).amount, 7 * HEIT);
        vm.expectRevert(abi.encodeWithSignature("Panic(uint256)", 0x32));
        token.redeemedThrough(4);
    }

    function test_RecordSettlementSecondBatch() public {
        _threeRedemptions();
        bytes32 january = keccak256("settlement 2026-01");
        bytes32 february = keccak256("settlement 2026-02");
        _settle(january, _ranges(1, 1, 3, 3), 1_600, sha256("january"));

        vm.warp(NOW + 31 days);
        _settle(february, _ranges(2, 2), 700, sha256("february"));

        IHeitjeToken.Settlement memory s = token.settlement(february);
        assertEq(s.recordedAt, NOW + 31 days);
        assertEq(s.redemptions, 1);
        assertEq(s.totalUnits, 7 * HEIT);
        assertEq(token.settlementOf(1), january);
        assertEq(token.settlementOf(2), february);
        assertEq(token.settlementOf(3), january);
        assertEq(token.settlement(january).redemptions, 2);
    }

    function test_RecordSettlementInParts() public {
        _threeRedemptions();
        bytes32 batchId = keccak256("settlement 2026-01");
        bytes32 fileHash = sha256("january");
        _settlePart(batchId, _ranges(1, 1), 2_300, fileHash, false);

        IHeitjeToken.Settlement memory s = token.settlement(batchId);
        assertEq(s.recordedAt, NOW);
        assertEq(s.redemptions, 1);
        assertEq(s.parts, 1);
        assertEq(s.lastId, 1);
        assertFalse(s.closed);
        assertEq(s.totalUnits, 5 * HEIT);
        assertEq(token.settlementOf(1), batchId);
        assertEq(token.settlementOf(2), bytes32(0));

        vm.warp(NOW + 1 hours);
        vm.expectEmit(address(token));
        emit IHeitjeToken.SettlementPartRecorded(batchId, 2, _ranges(2, 3), 2, 18 * HEIT);
        vm.expectEmit(address(token));
        emit IHeitjeToken.SettlementRecorded(batchId, 3, 23 * HEIT, 2_300, fileHash);
        _settlePart(batchId, _ranges(2, 3), 2_300, fileHash, true);

        s = token.settlement(batchId);
        assertEq(s.recordedAt, NOW); // the first part's time
        assertEq(s.redemptions, 3);
        assertEq(s.parts, 2);
        assertEq(s.lastId, 3);
        assertTrue(s.closed);
        assertEq(s.totalUnits, 23 * HEIT);
        assertEq(s.totalCents, 2_300);
        assertEq(token.settlementOf(2), batchId);
        assertEq(token.settlementOf(3), batchId);
    }

    function test_SettlementOfUnknown() public view {
        IHeitjeToken.Settlement memory s = token.settlement(keccak256("never recorded"));
        assertEq(s.fileHash, bytes32(0));
        assertEq(s.recordedAt, 0);
        assertEq(s.redemptions, 0);
        assertEq(s.totalUnits, 0);
        assertEq(s.totalCents, 0);
        assertFalse(s.closed);
        assertEq(token.settlementOf(0), bytes32(0));
        assertEq(token.settlementOf(1), bytes32(0));
    }

    /// @dev A range over several bitmap words; settlementOf looks back across them, and a later
    /// batch touching one id of the range is refused naming that id and the first batch.
    function test_LongRangeAcrossBitmapWords() public {
        uint256 n = 600;
        _manyRedemptions(n);
        bytes32 early = keccak256("early");
        bytes32 big = keccak256("big");
        bytes32 bigFile = sha256("big");
        _settle(early, _ranges(300, 300), 1, sha256("early"));
        vm.expectRevert(abi.encodeWithSelector(IHeitjeToken.HeitjeRedemptionAlreadySettled.selector, 300, early));
        _settle(big, _ranges(1, n), n, bigFile);

        _settle(big, _ranges(1, 299, 301, n), n - 1, bigFile);
        assertEq(token.settlement(big).redemptions, n - 1);
        assertEq(token.settlement(big).totalUnits, token.totalRedeemed() - token.redemption(300).amount);
        assertEq(token.settlementOf(1), big);
        assertEq(token.settlementOf(255), big);
        assertEq(token.settlementOf(256), big);
        assertEq(token.settlementOf(299), big);
        assertEq(token.settlementOf(300), early);
        assertEq(token.settlementOf(301), big);
        assertEq(token.settlementOf(n), big);
        assertEq(token.settlementOf(n + 1), bytes32(0));
    }

    function test_RevertWhen_RecordSettlementRedemptionIdZero() public {
        bytes32 fileHash = sha256("file");
        _threeRedemptions();
        bytes32 batchId = keccak256("settlement 2026-01");
        vm.expectRevert(abi.encodeWithSelector(IHeitjeToken.HeitjeUnknownRedemption.selector, 0));
        _settle(batchId, _ranges(0, 1), 500, fileHash);

        // Nothing of the refused batch was kept: the id is free and redemption 1 unsettled.
        assertEq(token.settlementOf(1), bytes32(0));
        assertEq(token.settlement(batchId).recordedAt, 0);
        _settle(batchId, _ranges(1, 1), 500, fileHash);
        assertEq(token.settlementOf(1), batchId);
    }

    function test_RevertWhen_RecordSettlementRedemptionIdPastCount() public {
        bytes32 fileHash = sha256("file");
        _threeRedemptions();
        bytes32 batchId = keccak256("settlement 2026-01");
        vm.expectRevert(abi.encodeWithSelector(IHeitjeToken.HeitjeUnknownRedemption.selector, 4));
        _settle(batchId, _ranges(2, 6), 700, fileHash);
        vm.expectRevert(abi.encodeWithSelector(IHeitjeToken.HeitjeUnknownRedemption.selector, 5));
        _settle(batchId, _ranges(1, 1, 5, 6), 700, fileHash);
        assertEq(token.settlementOf(2), bytes32(0));
        assertEq(token.settlement(batchId).recordedAt, 0);
    }

    function test_RevertWhen_RecordSettlementBeforeAnyRedemption() public {
        bytes32 fileHash = sha256("file");
        vm.expectRevert(abi.encodeWithSelector(IHeitjeToken.HeitjeUnknownRedemption.selector, 1));
        _settle(keccak256("settlement 2026-01"), _ranges(1, 1), 0, fileHash);
    }

    function test_RevertWhen_RecordSettlementRangeEmptyOrOutOfOrder() public {
        bytes32 fileHash = sha256("file");
        _threeRedemptions();
        bytes32 batchId = keccak256("settlement 2026-01");
        bytes4 invalid = IHeitjeToken.HeitjeInvalidRedemptionRange.selector;
        vm.expectRevert(abi.encodeWithSelector(invalid, 3, 2));
        _settle(batchId, _ranges(3, 2), 500, fileHash);
        vm.expectRevert(abi.encodeWithSelector(invalid, 1, 1)); // descending
        _settle(batchId, _ranges(2, 3, 1, 1), 2_300, fileHash);
        vm.expectRevert(abi.encodeWithSelector(invalid, 2, 3)); // overlapping: 2 twice
        _settle(batchId, _ranges(1, 2, 2, 3), 2_300, fileHash);
        assertEq(token.settlementOf(1), bytes32(0));
        assertEq(token.settlementOf(2), bytes32(0));
        assertEq(token.settlement(batchId).recordedAt, 0);
    }

    function test_RevertWhen_RecordSettlementPartDoesNotAscend() public {
        bytes32 fileHash = sha256("file");
        _threeRedemptions();
        bytes32 batchId = keccak256("settlement 2026-01");
        _settlePart(batchId, _ranges(2, 2), 2_300, fileHash, false);
        vm.expectRevert(abi.encodeWithSelector(IHeitjeToken.HeitjeInvalidRedemptionRange.selector, 1, 1));
        _settlePart(batchId, _ranges(1, 1), 2_300, fileHash, true);
        vm.expectRevert(abi.encodeWithSelector(IHeitjeToken.HeitjeInvalidRedemptionRange.selector, 2, 3));
        _settlePart(batchId, _ranges(2, 3), 2_300, fileHash, true);
        _settlePart(batchId, _ranges(3, 3), 2_300, fileHash, true);
        assertEq(token.settlementOf(1), bytes32(0));
        assertEq(token.settlement(batchId).redemptions, 2);
    }

    function test_RevertWhen_RecordSettlementPartMismatch() public {
        bytes32 fileHash = sha256("file");
        _threeRedemptions();
        bytes32 batchId = keccak256("settlement 2026-01");
        _settlePart(batchId, _ranges(1, 1), 2_300, fileHash, false);
        bytes memory mismatch = abi.encodeWithSelector(IHeitjeToken.HeitjeSettlementMismatch.selector, batchId);
        bytes32 anotherFile = sha256("another file");
        vm.expectRevert(mismatch);
        _settlePart(batchId, _ranges(2, 3), 2_300, anotherFile, true);
        vm.expectRevert(mismatch);
        _settlePart(batchId, _ranges(2, 3), 2_301, fileHash, true);
        assertEq(token.settlementOf(2), bytes32(0));
        assertFalse(token.settlement(batchId).closed);
    }

    function test_RevertWhen_RecordSettlementRedemptionSettledBefore() public {
        bytes32 januaryHash = sha256("january");
        bytes32 februaryHash = sha256("february");
        _threeRedemptions();
        bytes32 january = keccak256("settlement 2026-01");
        bytes32 february = keccak256("settlement 2026-02");
        _settle(january, _ranges(1, 2), 1_200, januaryHash);

        vm.expectRevert(abi.encodeWithSelector(IHeitjeToken.HeitjeRedemptionAlreadySettled.selector, 2, january));
        _settle(february, _ranges(2, 3), 1_800, februaryHash);
        assertEq(token.settlementOf(2), january);
        assertEq(token.settlementOf(3), bytes32(0));
        assertEq(token.settlement(february).recordedAt, 0);
    }

    function test_RevertWhen_RecordSettlementClosedBatch() public {
        bytes32 firstFileHash = sha256("first file");
        bytes32 secondFileHash = sha256("second file");
        _threeRedemptions();
        bytes32 batchId = keccak256("settlement 2026-01");
        _settle(batchId, _ranges(1, 1), 500, firstFileHash);

        vm.expectRevert(abi.encodeWithSelector(IHeitjeToken.HeitjeInvalidSettlementBatch.selector, batchId));
        _settle(batchId, _ranges(2, 2), 700, secondFileHash);
        vm.expectRevert(abi.encodeWithSelector(IHeitjeToken.HeitjeInvalidSettlementBatch.selector, batchId));
        _settle(batchId, _ranges(2, 2), 500, firstFileHash); // the same file: still closed
        IHeitjeToken.Settlement memory s = token.settlement(batchId);
        assertEq(s.fileHash, firstFileHash);
        assertEq(s.redemptions, 1);
        assertEq(token.settlementOf(2), bytes32(0));
    }

    function test_RevertWhen_RecordSettlementZeroBatchId() public {
        bytes32 fileHash = sha256("file");
        _threeRedemptions();
        vm.expectRevert(abi.encodeWithSelector(IHeitjeToken.HeitjeInvalidSettlementBatch.selector, bytes32(0)));
        _settle(bytes32(0), _ranges(1, 1), 500, fileHash);
        assertEq(token.settlementOf(1), bytes32(0));
    }

    function test_RevertWhen_RecordSettlementEmpty() public {
        bytes32 emptyFileHash = sha256("empty file");
        _threeRedemptions();
        bytes32 batchId = keccak256("settlement 2026-01");
        vm.expectRevert(IHeitjeToken.HeitjeInvalidBatch.selector);
        _settle(batchId, new IHeitjeToken.RedemptionRange[](0), 0, emptyFileHash);
        assertEq(token.settlement(batchId).recordedAt, 0);
    }

    function test_RevertWhen_RecordSettlementCallerNotSettler() public {
        bytes32 fileHash = sha256("file");
        _threeRedemptions();
        bytes32 settlerRole = token.SETTLER_ROLE();
        IHeitjeToken.RedemptionRange[] memory ranges = _ranges(1, 1);
        vm.expectRevert(_unauthorized(admin, settlerRole));
        vm.prank(admin);
        token.recordSettlementPart(keccak256("batch"), ranges, 500, fileHash, true);
        vm.expectRevert(_unauthorized(minter, settlerRole));
        vm.prank(minter);
        token.recordSettlementPart(keccak256("batch"), ranges, 500, fileHash, true);
        assertEq(token.settlementOf(1), bytes32(0));
    }

    function test_RevertWhen_RecordSettlementPaused() public {
        bytes32 fileHash = sha256("file");
        _threeRedemptions();
        _pause();
        vm.expectRevert(Pausable.EnforcedPause.selector);
        _settle(keccak256("batch"), _ranges(1, 1), 500, fileHash);
        assertEq(token.settlementOf(1), bytes32(0));
    }

    function testFuzz_RecordSettlement(uint256 a, uint256 b, uint256 c, uint256 totalCents, bytes32 fileHash) public {
        a = bound(a, 1, type(uint64).max);
        b = bound(b, 1, type(uint64).max);
        c = bound(c, 1, type(uint64).max);
        _mint(alice, a + b + c, TASK);
        vm.prank(alice);
        assertTrue(token.transfer(bakery, a + b + c));
        vm.startPrank(bakery);
        token.redeem(a);
        token.redeem(b);
        token.redeem(c);
        vm.stopPrank();

        bytes32 batchId = keccak256(abi.encode(a, b, c));
        vm.expectEmit(address(token));
        emit IHeitjeToken.SettlementRecorded(batchId, 3, a + b + c, totalCents, fileHash);
        _settle(batchId, _ranges(1, 3), totalCents, fileHash);

        IHeitjeToken.Settlement memory s = token.settlement(batchId);
        assertEq(s.totalUnits, token.totalRedeemed());
        assertEq(s.totalCents, totalCents); // recorded as given: the auditor compares it with totalUnits
        assertEq(s.fileHash, fileHash);
    }

    /// @dev 520 redemptions (three bitmap words) of 1..3 base units; two batches at fuzzed cut
    /// points, the first in two parts: every id's batch and every batch's units come out right.
    function testFuzz_RangesAcrossWords(uint256 cut1, uint256 cut2, uint256 gap) public {
        uint256 n = 520;
        _manyRedemptions(n);
        cut1 = bound(cut1, 1, n - 2); // part 1: 1..cut1; part 2: cut1+1..cut2
        cut2 = bound(cut2, cut1 + 1, n - 1);
        gap = bound(gap, cut2 + 1, n); // left out of both batches
        bytes32 one = keccak256("one");
        bytes32 two = keccak256("two");
        _settlePart(one, _ranges(1, cut1), 7, sha256("one"), false);
        _settlePart(one, _ranges(cut1 + 1, cut2), 7, sha256("one"), true);
        // Batch two: cut2+1..n without `gap`, as one or two ranges (none when nothing is left).
        IHeitjeToken.RedemptionRange[] memory rest = new IHeitjeToken.RedemptionRange[](2);
        uint256 k;
        if (gap > cut2 + 1) rest[k++] = IHeitjeToken.RedemptionRange(cut2 + 1, gap - 1);
        if (gap < n) rest[k++] = IHeitjeToken.RedemptionRange(gap + 1, n);
        assembly ("memory-safe") {
            mstore(rest, k)
        }
        if (k > 0) _settle(two, rest, 9, sha256("two"));
        for (uint256 id = 1; id <= n; ++id) {
            bytes32 expected = id == gap ? bytes32(0) : id <= cut2 ? one : two;
            assertEq(token.settlementOf(id), expected);
        }
        IHeitjeToken.Settlement memory s = token.settlement(one);
        assertEq(s.redemptions, cut2);
        assertEq(s.parts, 2);
        assertEq(s.totalUnits, token.redeemedThrough(cut2));
        assertEq(token.settlement(two).redemptions, n - cut2 - 1);
        assertEq(token.settlement(two).totalUnits, token.totalRedeemed() - s.totalUnits - token.redemption(gap).amount);
    }

    /// @dev `n` redemptions by the bakery of 1, 2, 3, 1, 2, 3, ... base units.
    function _manyRedemptions(uint256 n) internal {
        _mint(alice, 2 * n + 3, TASK);
        vm.prank(alice);
        assertTrue(token.transfer(bakery, 2 * n + 3));
        vm.startPrank(bakery);
        for (uint256 i; i < n; ++i) {
            token.redeem(1 + (i % 3));
        }
        vm.stopPrank();
    }
}
