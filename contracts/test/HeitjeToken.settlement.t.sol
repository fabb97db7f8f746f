// SPDX-License-Identifier: EUPL-1.2
pragma solidity ^0.8.24;

import {Pausable} from "@openzeppelin/contracts/utils/Pausable.sol";
import {IHeitjeToken} from "../src/IHeitjeToken.sol";
import {HeitjeTokenBase} from "./utils/HeitjeTokenBase.sol";

/// @notice HeitjeToken unit and fuzz tests: settlement anchoring (recordSettlement).
contract HeitjeTokenSettlementTest is HeitjeTokenBase {
    // =====================================================================
    // settlement anchoring
    // =====================================================================

    function test_RecordSettlement() public {
        _threeRedemptions();
        bytes32 batchId = keccak256("settlement 2026-01");
        bytes32 fileHash = sha256("pain.001 payment file for January");

        vm.expectEmit(address(token));
        emit IHeitjeToken.SettlementRecorded(batchId, 2, 16 * HEIT, 1_600, fileHash);
        _settle(batchId, _uints(1, 3), 1_600, fileHash);

        IHeitjeToken.Settlement memory s = token.settlement(batchId);
        assertEq(s.fileHash, fileHash);
        assertEq(s.recordedAt, NOW);
        assertEq(s.redemptions, 2);
        assertEq(s.totalUnits, 16 * HEIT); // 5 + 11 HEIT burned
        assertEq(s.totalCents, 1_600);
        assertEq(token.settlementOf(1), batchId);
        assertEq(token.settlementOf(2), bytes32(0));
        assertEq(token.settlementOf(3), batchId);
    }

    function test_RecordSettlementSecondBatch() public {
        _threeRedemptions();
        bytes32 january = keccak256("settlement 2026-01");
        bytes32 february = keccak256("settlement 2026-02");
        _settle(january, _uints(3, 1), 1_600, sha256("january"));

        vm.warp(NOW + 31 days);
        _settle(february, _uints(2), 700, sha256("february"));

        IHeitjeToken.Settlement memory s = token.settlement(february);
        assertEq(s.recordedAt, NOW + 31 days);
        assertEq(s.redemptions, 1);
        assertEq(s.totalUnits, 7 * HEIT);
        assertEq(token.settlementOf(1), january);
        assertEq(token.settlementOf(2), february);
        assertEq(token.settlementOf(3), january);
        assertEq(token.settlement(january).redemptions, 2);
    }

    function test_SettlementOfUnknown() public view {
        IHeitjeToken.Settlement memory s = token.settlement(keccak256("never recorded"));
        assertEq(s.fileHash, bytes32(0));
        assertEq(s.recordedAt, 0);
        assertEq(s.redemptions, 0);
        assertEq(s.totalUnits, 0);
        assertEq(s.totalCents, 0);
        assertEq(token.settlementOf(1), bytes32(0));
    }

    function test_RevertWhen_RecordSettlementRedemptionIdZero() public {
        bytes32 fileHash = sha256("file");
        _threeRedemptions();
        bytes32 batchId = keccak256("settlement 2026-01");
        vm.expectRevert(abi.encodeWithSelector(IHeitjeToken.HeitjeUnknownRedemption.selector, 0));
        _settle(batchId, _uints(1, 0), 500, fileHash);

        // Nothing of the refused batch was kept: the id is free and redemption 1 unsettled.
        assertEq(token.settlementOf(1), bytes32(0));
        assertEq(token.settlement(batchId).recordedAt, 0);
        _settle(batchId, _uints(1), 500, fileHash);
        assertEq(token.settlementOf(1), batchId);
    }

    function test_RevertWhen_RecordSettlementRedemptionIdPastCount() public {
        bytes32 fileHash = sha256("file");
        _threeRedemptions();
        bytes32 batchId = keccak256("settlement 2026-01");
        vm.expectRevert(abi.encodeWithSelector(IHeitjeToken.HeitjeUnknownRedemption.selector, 4));
        _settle(batchId, _uints(2, 4), 700, fileHash);
        assertEq(token.settlementOf(2), bytes32(0));
        assertEq(token.settlement(batchId).recordedAt, 0);
    }

    function test_RevertWhen_RecordSettlementBeforeAnyRedemption() public {
        bytes32 fileHash = sha256("file");
        vm.expectRevert(abi.encodeWithSelector(IHeitjeToken.HeitjeUnknownRedemption.selector, 1));
        _settle(keccak256("settlement 2026-01"), _uints(1), 0, fileHash);
    }

    function test_RevertWhen_RecordSettlementRedemptionTwiceInBatch() public {
        bytes32 fileHash = sha256("file");
        _threeRedemptions();
        bytes32 batchId = keccak256("settlement 2026-01");
        vm.expectRevert(abi.encodeWithSelector(IHeitjeToken.HeitjeRedemptionAlreadySettled.selector, 1, batchId));
        _settle(batchId, _uints(1, 2, 1), 2_300, fileHash);
        assertEq(token.settlementOf(1), bytes32(0));
        assertEq(token.settlementOf(2), bytes32(0));
        assertEq(token.settlement(batchId).recordedAt, 0);
    }

    function test_RevertWhen_RecordSettlementRedemptionSettledBefore() public {
        bytes32 januaryHash = sha256("january");
        bytes32 februaryHash = sha256("february");
        _threeRedemptions();
        bytes32 january = keccak256("settlement 2026-01");
        bytes32 february = keccak256("settlement 2026-02");
        _settle(january, _uints(1, 2), 1_200, januaryHash);

        vm.expectRevert(abi.encodeWithSelector(IHeitjeToken.HeitjeRedemptionAlreadySettled.selector, 2, january));
        _settle(february, _uints(3, 2), 1_800, februaryHash);
        assertEq(token.settlementOf(2), january);
        assertEq(token.settlementOf(3), bytes32(0));
        assertEq(token.settlement(february).recordedAt, 0);
    }

    function test_RevertWhen_RecordSettlementRepeatedBatchId() public {
        bytes32 firstFileHash = sha256("first file");
        bytes32 secondFileHash = sha256("second file");
        _threeRedemptions();
        bytes32 batchId = keccak256("settlement 2026-01");
        _settle(batchId, _uints(1), 500, firstFileHash);

        vm.expectRevert(abi.encodeWithSelector(IHeitjeToken.HeitjeInvalidSettlementBatch.selector, batchId));
        _settle(batchId, _uints(2), 700, secondFileHash);
        IHeitjeToken.Settlement memory s = token.settlement(batchId);
        assertEq(s.fileHash, firstFileHash);
        assertEq(s.redemptions, 1);
        assertEq(token.settlementOf(2), bytes32(0));
    }

    function test_RevertWhen_RecordSettlementZeroBatchId() public {
        bytes32 fileHash = sha256("file");
        _threeRedemptions();
        vm.expectRevert(abi.encodeWithSelector(IHeitjeToken.HeitjeInvalidSettlementBatch.selector, bytes32(0)));
        _settle(bytes32(0), _uints(1), 500, fileHash);
        assertEq(token.settlementOf(1), bytes32(0));
    }

    function test_RevertWhen_RecordSettlementEmpty() public {
        bytes32 emptyFileHash = sha256("empty file");
        _threeRedemptions();
        bytes32 batchId = keccak256("settlement 2026-01");
        vm.expectRevert(IHeitjeToken.HeitjeInvalidBatch.selector);
        _settle(batchId, new uint256[](0), 0, emptyFileHash);
        assertEq(token.settlement(batchId).recordedAt, 0);
    }

    function test_RevertWhen_RecordSettlementCallerNotSettler() public {
        bytes32 fileHash = sha256("file");
        _threeRedemptions();
        bytes32 settlerRole = token.SETTLER_ROLE();
        uint256[] memory ids = _uints(1);
        vm.expectRevert(_unauthorized(admin, settlerRole));
        vm.prank(admin);
        token.recordSettlement(keccak256("batch"), ids, 500, fileHash);
        vm.expectRevert(_unauthorized(minter, settlerRole));
        vm.prank(minter);
        token.recordSettlement(keccak256("batch"), ids, 500, fileHash);
        assertEq(token.settlementOf(1), bytes32(0));
    }

    function test_RevertWhen_RecordSettlementPaused() public {
        bytes32 fileHash = sha256("file");
        _threeRedemptions();
        _pause();
        vm.expectRevert(Pausable.EnforcedPause.selector);
        _settle(keccak256("batch"), _uints(1), 500, fileHash);
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
        _settle(batchId, _uints(3, 1, 2), totalCents, fileHash);

        IHeitjeToken.Settlement memory s = token.settlement(batchId);
        assertEq(s.totalUnits, token.totalRedeemed());
        assertEq(s.totalCents, totalCents); // recorded as given: the auditor compares it with totalUnits
        assertEq(s.fileHash, fileHash);
    }
}
