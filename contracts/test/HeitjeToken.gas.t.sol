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
        uint256[] memory ids = new uint256[](REDEMPTIONS);
        for (uint256 i; i < REDEMPTIONS; ++i) {
            ids[i] = i + 1;
        }
        token.recordSettlement(keccak256("gas: settlement 1"), ids, 1_000, keccak256("gas: payment file 1"));
    }
}
