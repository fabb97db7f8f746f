// SPDX-License-Identifier: EUPL-1.2
pragma solidity ^0.8.24;

import {HeitjeToken} from "../src/HeitjeToken.sol";
import {IHeitjeToken} from "../src/IHeitjeToken.sol";
import {Test} from "./utils/Test.sol";

/// @notice Gas of the hot paths for `forge snapshot` (`.gas-snapshot`, checked with `--check`):
/// each test makes one measured call, deterministically (no fuzzing). Everything else happens in
/// setUp, which forge does not measure. The figures are whole test bodies: the call plus a small
/// overhead (reading `token`, building the argument arrays), and without the 21,000 gas and the
/// calldata a transaction pays on chain. This contract holds the minter, registrar and settler
/// roles and is itself a registered shop, so no prank sits in a measured body. Every reward goes to
/// a citizen who holds nothing yet, and every task is new: each reward writes fresh storage (the
/// dearest case).
contract HeitjeTokenGasTest is Test {
    uint256 internal constant NOW = 1_700_000_000;
    uint256 internal constant REWARD = 1_000; // 10 HEIT
    uint256 internal constant CITIZENS = 50;
    uint256 internal constant REDEMPTIONS = 10;
    uint256 internal constant AUTH_VALID_BEFORE = NOW + 1 hours;
    bytes32 internal constant AUTH_NONCE = keccak256("gas: payment 1");

    HeitjeToken internal token;
    address internal alice; // a citizen with a balance, paying by EIP-3009
    address internal bakery; // a shop
    uint8 internal authV;
    bytes32 internal authR;
    bytes32 internal authS;

    function setUp() public {
        vm.warp(NOW);
        address admin = makeAddr("admin");
        uint256 aliceKey;
        (alice, aliceKey) = makeAddrAndKey("alice");
        bakery = makeAddr("bakery");

        token = new HeitjeToken(2 days, admin, address(this), address(this), makeAddr("pauser"), address(this));
        vm.prank(admin);
        token.openRewardPeriod(uint64(NOW), type(uint256).max, type(uint256).max);

        for (uint256 i; i < CITIZENS; ++i) {
            token.registerAccount(_citizen(i), IHeitjeToken.AccountKind.Citizen);
        }
        token.registerAccount(alice, IHeitjeToken.AccountKind.Citizen);
        token.registerAccount(bakery, IHeitjeToken.AccountKind.Shop);
        token.registerAccount(address(this), IHeitjeToken.AccountKind.Shop);

        // alice holds 100 HEIT; this shop holds 50 HEIT and has made REDEMPTIONS redemptions of 1 HEIT.
        token.mintReward(alice, 150 * 100, keccak256("gas: alice's task"));
        vm.prank(alice);
        assertTrue(token.transfer(address(this), 50 * 100));
        for (uint256 i; i < REDEMPTIONS; ++i) {
            token.redeem(100);
        }

        // alice's signed payment of 5 HEIT to the bakery, submitted in test_TransferWithAuthorization.
        bytes32 structHash = keccak256(
            abi.encode(
                token.TRANSFER_WITH_AUTHORIZATION_TYPEHASH(), alice, bakery, 500, 0, AUTH_VALID_BEFORE, AUTH_NONCE
            )
        );
        (authV, authR, authS) =
            vm.sign(aliceKey, keccak256(abi.encodePacked("\x19\x01", token.DOMAIN_SEPARATOR(), structHash)));
    }

    /// @dev Citizen `i`, registered in setUp, holding nothing.
    function _citizen(uint256 i) internal pure returns (address) {
        return address(uint160(0xC171_2E45_0000 + i));
    }

    /// @dev `n` rewards of REWARD to citizens 0..n-1 for new tasks 1..n.
    function _mintRewards(uint256 n) internal {
        address[] memory to = new address[](n);
        uint256[] memory amounts = new uint256[](n);
        bytes32[] memory taskRefs = new bytes32[](n);
        for (uint256 i; i < n; ++i) {
            to[i] = _citizen(i);
            amounts[i] = REWARD;
            taskRefs[i] = bytes32(i + 1);
        }
        token.mintRewards(to, amounts, taskRefs);
    }

    function test_MintReward() public {
        token.mintReward(_citizen(0), REWARD, bytes32(uint256(1)));
    }

    function test_MintRewards10() public {
        _mintRewards(10);
    }

    function test_MintRewards50() public {
        _mintRewards(50);
    }

    /// @dev `n` new accounts registered as citizens in one `registerAccounts` call.
    function _registerAccounts(uint256 n) internal {
        address[] memory accounts = new address[](n);
        for (uint256 i; i < n; ++i) {
            accounts[i] = address(uint160(0x5167_0000 + i));
        }
        token.registerAccounts(accounts, IHeitjeToken.AccountKind.Citizen);
    }

    function test_RegisterAccount() public {
        token.registerAccount(address(uint160(0x5167_0000)), IHeitjeToken.AccountKind.Citizen);
    }

    function test_RegisterAccounts10() public {
        _registerAccounts(10);
    }

    function test_RegisterAccounts50() public {
        _registerAccounts(50);
    }

    function test_TransferWithAuthorization() public {
        token.transferWithAuthorization(alice, bakery, 500, 0, AUTH_VALID_BEFORE, AUTH_NONCE, authV, authR, authS);
    }

    function test_Redeem() public {
        token.redeem(1_000);
    }

    function test_RecordSettlement10() public {
        IHeitjeToken.RedemptionRange[] memory ranges = new IHeitjeToken.RedemptionRange[](1);
        ranges[0] = IHeitjeToken.RedemptionRange(1, REDEMPTIONS);
        token.recordSettlementPart(
            keccak256("gas: settlement 1"), ranges, 1_000, keccak256("gas: payment file 1"), true
        );
    }
}

/// @notice Anchoring at scale: `n` redemptions (made in setUp with gas metering paused) settled in
/// one `recordSettlementPart`, and what that costs per redemption as a transaction would pay it:
/// the call's own gas (measured) plus 21,000 and the calldata (EIP-2028 prices). Each must stay
/// under 1,000 gas per redemption; run with -vv to see the figures (`log_named_uint`).
abstract contract SettlementScaleTest is Test {
    uint256 internal constant NOW = 1_700_000_000;
    uint256 internal constant MAX_GAS_PER_REDEMPTION = 1_000;

    event log_named_uint(string key, uint256 val);

    HeitjeToken internal token;

    function _redemptions() internal pure virtual returns (uint256);

    function setUp() public {
        vm.warp(NOW);
        address admin = makeAddr("admin");
        token = new HeitjeToken(2 days, admin, address(this), address(this), makeAddr("pauser"), address(this));
        vm.prank(admin);
        token.openRewardPeriod(uint64(NOW), type(uint256).max, type(uint256).max);
        address citizen = makeAddr("citizen");
        token.registerAccount(citizen, IHeitjeToken.AccountKind.Citizen);
        token.registerAccount(address(this), IHeitjeToken.AccountKind.Shop);
        uint256 n = _redemptions();
        token.mintReward(citizen, 3 * n, keccak256("scale: task"));
        vm.prank(citizen);
        assertTrue(token.transfer(address(this), 3 * n));
        vm.pauseGasMetering();
        for (uint256 i; i < n; ++i) {
            token.redeem(1 + (i % 5));
        }
        vm.resumeGasMetering();
    }

    /// @dev Record `ranges` as one closing part; the transaction's gas per redemption (logged).
    function _anchor(IHeitjeToken.RedemptionRange[] memory ranges, uint256 ids) internal returns (uint256 perId) {
        bytes32 batchId = keccak256("scale: batch");
        bytes32 fileHash = keccak256("scale: file");
        bytes memory data =
            abi.encodeCall(IHeitjeToken.recordSettlementPart, (batchId, ranges, 123_456, fileHash, true));
        uint256 before = gasleft();
        token.recordSettlementPart(batchId, ranges, 123_456, fileHash, true);
        uint256 used = before - gasleft();
        uint256 txGas = 21_000 + _calldataGas(data) + used;
        perId = txGas / ids;
        emit log_named_uint("redemptions", ids);
        emit log_named_uint("ranges", ranges.length);
        emit log_named_uint("transaction gas", txGas);
        emit log_named_uint("gas per redemption", perId);
        assertEq(token.settlement(batchId).redemptions, ids);
        assertLe(perId, MAX_GAS_PER_REDEMPTION, "anchoring costs more than 1,000 gas per redemption");
    }

    function _calldataGas(bytes memory data) internal pure returns (uint256 gas) {
        for (uint256 i; i < data.length; ++i) {
            gas += data[i] == 0 ? 4 : 16;
        }
    }

    /// @dev Every id in one range.
    function test_AnchorWholeBatch() public {
        uint256 n = _redemptions();
        IHeitjeToken.RedemptionRange[] memory ranges = new IHeitjeToken.RedemptionRange[](1);
        ranges[0] = IHeitjeToken.RedemptionRange(1, n);
        _anchor(ranges, n);
        assertEq(token.settlementOf(n), keccak256("scale: batch"));
    }

    /// @dev Every 100th id held back (its shop's payee could not be paid): one range per 99 ids.
    function test_AnchorWithEveryHundredthHeld() public {
        uint256 n = _redemptions();
        uint256 count = n / 100;
        IHeitjeToken.RedemptionRange[] memory ranges = new IHeitjeToken.RedemptionRange[](count);
        for (uint256 i; i < count; ++i) {
            ranges[i] = IHeitjeToken.RedemptionRange(100 * i + 1, 100 * i + 99);
        }
        _anchor(ranges, 99 * count);
        assertEq(token.settlementOf(100), bytes32(0));
        assertEq(token.settlementOf(n - 1), keccak256("scale: batch"));
    }
}

contract SettlementScale1kTest is SettlementScaleTest {
    function _redemptions() internal pure override returns (uint256) {
        return 1_000;
    }
}

contract SettlementScale10kTest is SettlementScaleTest {
    function _redemptions() internal pure override returns (uint256) {
        return 10_000;
    }
}

contract SettlementScale100kTest is SettlementScaleTest {
    function _redemptions() internal pure override returns (uint256) {
        return 100_000;
    }
}
