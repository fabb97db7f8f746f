// SPDX-License-Identifier: EUPL-1.2
pragma solidity ^0.8.24;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {IERC20Errors} from "@openzeppelin/contracts/interfaces/draft-IERC6093.sol";
import {IAccessControl} from "@openzeppelin/contracts/access/IAccessControl.sol";
import {
    IAccessControlDefaultAdminRules
} from "@openzeppelin/contracts/access/extensions/IAccessControlDefaultAdminRules.sol";
import {ERC20Permit} from "@openzeppelin/contracts/token/ERC20/extensions/ERC20Permit.sol";
import {Pausable} from "@openzeppelin/contracts/utils/Pausable.sol";
import {HeitjeToken} from "../src/HeitjeToken.sol";
import {IHeitjeToken} from "../src/IHeitjeToken.sol";
import {Test, Vm} from "./utils/Test.sol";

/// @notice Unit and fuzz tests of HeitjeToken: registry, rewards, reward periods, batch
/// minting, payments, redemption, settlement anchoring, recovery, admin rules, EIP-3009
/// authorizations, EIP-2612 permit and pause.
contract HeitjeTokenTest is Test {
    // The EIP-712 strings, spelled out here so the test does not trust the contract's constants.
    bytes32 internal constant DOMAIN_TYPEHASH =
        keccak256("EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)");
    bytes32 internal constant TRANSFER_TYPEHASH = keccak256(
        "TransferWithAuthorization(address from,address to,uint256 value,uint256 validAfter,uint256 validBefore,bytes32 nonce)"
    );
    bytes32 internal constant RECEIVE_TYPEHASH = keccak256(
        "ReceiveWithAuthorization(address from,address to,uint256 value,uint256 validAfter,uint256 validBefore,bytes32 nonce)"
    );
    bytes32 internal constant CANCEL_TYPEHASH = keccak256("CancelAuthorization(address authorizer,bytes32 nonce)");
    bytes32 internal constant REDEEM_TYPEHASH = keccak256(
        "RedeemWithAuthorization(address shop,uint256 amount,uint256 validAfter,uint256 validBefore,bytes32 nonce)"
    );
    bytes32 internal constant PERMIT_TYPEHASH =
        keccak256("Permit(address owner,address spender,uint256 value,uint256 nonce,uint256 deadline)");
    /// @dev secp256k1 group order, for the high-s (malleable) signature test.
    uint256 internal constant SECP256K1_N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141;

    uint256 internal constant NOW = 1_700_000_000;
    uint256 internal constant HEIT = 100; // base units per HEIT (2 decimals)
    bytes32 internal constant TASK = keccak256("task: paint waste bin 17");
    uint48 internal constant ADMIN_DELAY = 2 days;
    /// @dev The period opened in setUp: budget and cap so large that only the period tests meet them.
    uint256 internal constant LARGE = type(uint256).max;

    HeitjeToken internal token;

    address internal admin;
    address internal minter;
    address internal registrar;
    address internal pauser;
    address internal settler;
    address internal relayer;
    address internal stranger;

    address internal alice; // citizen
    uint256 internal aliceKey;
    address internal bob; // citizen
    uint256 internal bobKey;
    address internal bakery; // shop
    uint256 internal bakeryKey;
    address internal florist; // shop
    uint256 internal floristKey;
    address internal outsider; // not registered
    uint256 internal outsiderKey;

    function setUp() public {
        vm.warp(NOW);
        admin = makeAddr("admin");
        minter = makeAddr("minter");
        registrar = makeAddr("registrar");
        pauser = makeAddr("pauser");
        settler = makeAddr("settler");
        relayer = makeAddr("relayer");
        stranger = makeAddr("stranger");
        (alice, aliceKey) = makeAddrAndKey("alice");
        (bob, bobKey) = makeAddrAndKey("bob");
        (bakery, bakeryKey) = makeAddrAndKey("bakery");
        (florist, floristKey) = makeAddrAndKey("florist");
        (outsider, outsiderKey) = makeAddrAndKey("outsider");

        token = new HeitjeToken(ADMIN_DELAY, admin, minter, registrar, pauser, settler);
        vm.prank(admin);
        token.openRewardPeriod(uint64(NOW), LARGE, LARGE); // period 1, in force from now

        vm.startPrank(registrar);
        token.registerAccount(alice, IHeitjeToken.AccountKind.Citizen);
        token.registerAccount(bob, IHeitjeToken.AccountKind.Citizen);
        token.registerAccount(bakery, IHeitjeToken.AccountKind.Shop);
        token.registerAccount(florist, IHeitjeToken.AccountKind.Shop);
        vm.stopPrank();
    }

    // =====================================================================
    // helpers
    // =====================================================================

    function _mint(address to, uint256 amount, bytes32 taskRef) internal {
        vm.prank(minter);
        token.mintReward(to, amount, taskRef);
    }

    /// @dev alice earns 50 HEIT and pays `amount` of it to the bakery.
    function _fundBakery(uint256 amount) internal {
        _mint(alice, 50 * HEIT, TASK);
        vm.prank(alice);
        assertTrue(token.transfer(bakery, amount));
    }

    /// @dev `from` calls transfer(to, amount). For calls expected to revert, whose
    /// return value cannot be read; successful transfers assert the returned true.
    function _transferAs(address from, address to, uint256 amount) internal {
        vm.prank(from);
        // forge-lint: disable-next-line(erc20-unchecked-transfer)
        token.transfer(to, amount);
    }

    function _domainSeparator() internal view returns (bytes32) {
        return
            keccak256(abi.encode(DOMAIN_TYPEHASH, keccak256("Heitje"), keccak256("1"), block.chainid, address(token)));
    }

    function _sign(uint256 key, bytes32 structHash) internal view returns (uint8 v, bytes32 r, bytes32 s) {
        return vm.sign(key, keccak256(abi.encodePacked("\x19\x01", _domainSeparator(), structHash)));
    }

    function _signTransfer(
        uint256 key,
        bytes32 typehash,
        address from,
        address to,
        uint256 value,
        uint256 validAfter,
        uint256 validBefore,
        bytes32 nonce
    ) internal view returns (uint8, bytes32, bytes32) {
        return _sign(key, keccak256(abi.encode(typehash, from, to, value, validAfter, validBefore, nonce)));
    }

    function _signRedeem(
        uint256 key,
        address shop,
        uint256 amount,
        uint256 validAfter,
        uint256 validBefore,
        bytes32 nonce
    ) internal view returns (uint8, bytes32, bytes32) {
        return _sign(key, keccak256(abi.encode(REDEEM_TYPEHASH, shop, amount, validAfter, validBefore, nonce)));
    }

    function _signCancel(uint256 key, address authorizer, bytes32 nonce)
        internal
        view
        returns (uint8, bytes32, bytes32)
    {
        return _sign(key, keccak256(abi.encode(CANCEL_TYPEHASH, authorizer, nonce)));
    }

    /// @dev alice signs a payment of `value` to the bakery, valid for the next hour.
    function _alicePays(uint256 value, bytes32 nonce) internal view returns (uint8, bytes32, bytes32) {
        return _signTransfer(aliceKey, TRANSFER_TYPEHASH, alice, bakery, value, 0, NOW + 1 hours, nonce);
    }

    function _unauthorized(address account, bytes32 role) internal pure returns (bytes memory) {
        return abi.encodeWithSelector(IAccessControl.AccessControlUnauthorizedAccount.selector, account, role);
    }

    function _insufficient(address sender, uint256 balance, uint256 needed) internal pure returns (bytes memory) {
        return abi.encodeWithSelector(IERC20Errors.ERC20InsufficientBalance.selector, sender, balance, needed);
    }

    function _pause() internal {
        vm.prank(pauser);
        token.pause();
    }

    function _openPeriod(uint64 start, uint256 budget, uint256 cap) internal returns (uint256 periodId) {
        vm.prank(admin);
        return token.openRewardPeriod(start, budget, cap);
    }

    /// @dev Opens a period one second from now with `budget` and `cap`, and moves time to its start.
    function _startPeriod(uint256 budget, uint256 cap) internal returns (uint256 periodId) {
        uint64 start = uint64(block.timestamp + 1);
        periodId = _openPeriod(start, budget, cap);
        vm.warp(start);
    }

    /// @dev A second token with the same roles, alice registered, and no reward period yet.
    function _tokenWithoutPeriod() internal returns (HeitjeToken fresh) {
        fresh = new HeitjeToken(ADMIN_DELAY, admin, minter, registrar, pauser, settler);
        vm.prank(registrar);
        fresh.registerAccount(alice, IHeitjeToken.AccountKind.Citizen);
    }

    function _mintBatch(address[] memory to, uint256[] memory amounts, bytes32[] memory taskRefs) internal {
        vm.prank(minter);
        token.mintRewards(to, amounts, taskRefs);
    }

    /// @dev Nothing was minted at all: supply, totals, the period's counters and alice's and bob's rewards are zero.
    function _assertNothingMinted() internal view {
        assertEq(token.totalSupply(), 0);
        assertEq(token.totalMinted(), 0);
        assertEq(token.balanceOf(alice), 0);
        assertEq(token.balanceOf(bob), 0);
        uint256 periodId = token.currentPeriodId();
        assertEq(token.rewardPeriod(periodId).minted, 0);
        assertEq(token.rewardsInCurrentPeriod(alice), 0);
        assertEq(token.rewardsInCurrentPeriod(bob), 0);
    }

    /// @dev Three redemptions: id 1 (bakery, 5 HEIT), id 2 (florist, 7 HEIT), id 3 (bakery, 11 HEIT).
    function _threeRedemptions() internal {
        _mint(alice, 50 * HEIT, TASK);
        vm.startPrank(alice);
        assertTrue(token.transfer(bakery, 30 * HEIT));
        assertTrue(token.transfer(florist, 20 * HEIT));
        vm.stopPrank();
        vm.prank(bakery);
        assertEq(token.redeem(5 * HEIT), 1);
        vm.prank(florist);
        assertEq(token.redeem(7 * HEIT), 2);
        vm.prank(bakery);
        assertEq(token.redeem(11 * HEIT), 3);
    }

    function _settle(bytes32 batchId, uint256[] memory redemptionIds, uint256 totalCents, bytes32 fileHash) internal {
        vm.prank(settler);
        token.recordSettlement(batchId, redemptionIds, totalCents, fileHash);
    }

    function _register(address account, IHeitjeToken.AccountKind kind) internal {
        vm.prank(registrar);
        token.registerAccount(account, kind);
    }

    function _recover(address from, address to, IHeitjeToken.RecoveryReason reason) internal {
        vm.prank(registrar);
        token.recoverAccount(from, to, reason);
    }

    /// @dev EIP-2612: `key` signs Permit(owner, spender, value, nonce, deadline) in the token's domain.
    function _signPermit(uint256 key, address owner, address spender, uint256 value, uint256 nonce, uint256 deadline)
        internal
        view
        returns (uint8, bytes32, bytes32)
    {
        return _sign(key, keccak256(abi.encode(PERMIT_TYPEHASH, owner, spender, value, nonce, deadline)));
    }

    function _addrs(address a) internal pure returns (address[] memory list) {
        list = new address[](1);
        list[0] = a;
    }

    function _addrs(address a, address b) internal pure returns (address[] memory list) {
        list = new address[](2);
        (list[0], list[1]) = (a, b);
    }

    function _addrs(address a, address b, address c) internal pure returns (address[] memory list) {
        list = new address[](3);
        (list[0], list[1], list[2]) = (a, b, c);
    }

    function _uints(uint256 a) internal pure returns (uint256[] memory list) {
        list = new uint256[](1);
        list[0] = a;
    }

    function _uints(uint256 a, uint256 b) internal pure returns (uint256[] memory list) {
        list = new uint256[](2);
        (list[0], list[1]) = (a, b);
    }

    function _uints(uint256 a, uint256 b, uint256 c) internal pure returns (uint256[] memory list) {
        list = new uint256[](3);
        (list[0], list[1], list[2]) = (a, b, c);
    }

    function _refs(bytes32 a) internal pure returns (bytes32[] memory list) {
        list = new bytes32[](1);
        list[0] = a;
    }

    function _refs(bytes32 a, bytes32 b) internal pure returns (bytes32[] memory list) {
        list = new bytes32[](2);
        (list[0], list[1]) = (a, b);
    }

    function _refs(bytes32 a, bytes32 b, bytes32 c) internal pure returns (bytes32[] memory list) {
        list = new bytes32[](3);
        (list[0], list[1], list[2]) = (a, b, c);
    }

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

    // =====================================================================
    // transfer policy
    // =====================================================================

    function test_TransferCitizenToShop() public {
        _mint(alice, 15 * HEIT, TASK);

        vm.expectEmit(address(token));
        emit IERC20.Transfer(alice, bakery, 4 * HEIT);
        vm.prank(alice);
        assertTrue(token.transfer(bakery, 4 * HEIT));

        assertEq(token.balanceOf(alice), 11 * HEIT);
        assertEq(token.balanceOf(bakery), 4 * HEIT);
        assertEq(token.totalSupply(), 15 * HEIT);
    }

    function test_TransferShopToCitizen() public {
        _fundBakery(10 * HEIT);

        vm.expectEmit(address(token));
        emit IERC20.Transfer(bakery, bob, 3 * HEIT);
        vm.prank(bakery);
        assertTrue(token.transfer(bob, 3 * HEIT));

        assertEq(token.balanceOf(bakery), 7 * HEIT);
        assertEq(token.balanceOf(bob), 3 * HEIT);
    }

    function test_TransferFromWithAllowance() public {
        _mint(alice, 15 * HEIT, TASK);
        vm.prank(alice);
        token.approve(bakery, 5 * HEIT);

        vm.prank(bakery);
        assertTrue(token.transferFrom(alice, bakery, 5 * HEIT));
        assertEq(token.balanceOf(bakery), 5 * HEIT);
        assertEq(token.allowance(alice, bakery), 0);
    }

    function test_RevertWhen_TransferCitizenToCitizen() public {
        _mint(alice, 15 * HEIT, TASK);
        vm.expectRevert(abi.encodeWithSelector(IHeitjeToken.HeitjeTransferNotAllowed.selector, alice, bob));
        _transferAs(alice, bob, 1);
    }

    function test_RevertWhen_TransferShopToShop() public {
        _fundBakery(10 * HEIT);
        vm.expectRevert(abi.encodeWithSelector(IHeitjeToken.HeitjeTransferNotAllowed.selector, bakery, florist));
        _transferAs(bakery, florist, 1);
    }

    function test_RevertWhen_TransferToSelf() public {
        _fundBakery(10 * HEIT);
        vm.expectRevert(abi.encodeWithSelector(IHeitjeToken.HeitjeTransferNotAllowed.selector, bakery, bakery));
        _transferAs(bakery, bakery, 1);
    }

    function test_RevertWhen_TransferToUnregistered() public {
        _mint(alice, 15 * HEIT, TASK);
        vm.expectRevert(abi.encodeWithSelector(IHeitjeToken.HeitjeTransferNotAllowed.selector, alice, outsider));
        _transferAs(alice, outsider, 1);
    }

    function test_RevertWhen_TransferFromUnregistered() public {
        // An unregistered account never holds HEIT; even a zero transfer is refused.
        vm.expectRevert(abi.encodeWithSelector(IHeitjeToken.HeitjeTransferNotAllowed.selector, outsider, bakery));
        _transferAs(outsider, bakery, 0);
    }

    function test_RevertWhen_TransferFromDeregistered() public {
        _mint(alice, 15 * HEIT, TASK);
        vm.prank(alice);
        assertTrue(token.transfer(bakery, 15 * HEIT));
        vm.prank(registrar);
        token.registerAccount(alice, IHeitjeToken.AccountKind.None);

        vm.expectRevert(abi.encodeWithSelector(IHeitjeToken.HeitjeTransferNotAllowed.selector, bakery, alice));
        _transferAs(bakery, alice, 1);
    }

    function test_RevertWhen_TransferToZeroAddress() public {
        _mint(alice, 15 * HEIT, TASK);
        vm.expectRevert(abi.encodeWithSelector(IERC20Errors.ERC20InvalidReceiver.selector, address(0)));
        _transferAs(alice, address(0), 1);
    }

    function test_RevertWhen_TransferExceedsBalance() public {
        _mint(alice, 15 * HEIT, TASK);
        vm.expectRevert(_insufficient(alice, 15 * HEIT, 15 * HEIT + 1));
        _transferAs(alice, bakery, 15 * HEIT + 1);
    }

    function test_RevertWhen_TransferFromExceedsAllowance() public {
        _mint(alice, 15 * HEIT, TASK);
        vm.prank(alice);
        token.approve(bakery, 5 * HEIT);

        vm.expectRevert(
            abi.encodeWithSelector(IERC20Errors.ERC20InsufficientAllowance.selector, bakery, 5 * HEIT, 5 * HEIT + 1)
        );
        vm.prank(bakery);
        // forge-lint: disable-next-line(erc20-unchecked-transfer)
        token.transferFrom(alice, bakery, 5 * HEIT + 1);
    }

    function test_RevertWhen_TransferPaused() public {
        _mint(alice, 15 * HEIT, TASK);
        _pause();
        vm.expectRevert(Pausable.EnforcedPause.selector);
        _transferAs(alice, bakery, 1);
    }

    function testFuzz_PayAndRefund(uint256 minted, uint256 paid, uint256 refunded) public {
        minted = bound(minted, 1, type(uint128).max);
        paid = bound(paid, 0, minted);
        refunded = bound(refunded, 0, paid);

        _mint(alice, minted, TASK);
        vm.prank(alice);
        assertTrue(token.transfer(bakery, paid));
        vm.prank(bakery);
        assertTrue(token.transfer(bob, refunded));

        assertEq(token.balanceOf(alice), minted - paid);
        assertEq(token.balanceOf(bakery), paid - refunded);
        assertEq(token.balanceOf(bob), refunded);
        assertEq(token.totalSupply(), minted);
        assertEq(token.balanceOf(alice) + token.balanceOf(bakery) + token.balanceOf(bob), minted);
    }

    function testFuzz_RevertWhen_PayMoreThanBalance(uint256 minted, uint256 paid) public {
        minted = bound(minted, 1, type(uint128).max);
        paid = bound(paid, minted + 1, type(uint256).max);

        _mint(alice, minted, TASK);
        vm.expectRevert(_insufficient(alice, minted, paid));
        _transferAs(alice, bakery, paid);
    }

    // =====================================================================
    // redemption
    // =====================================================================

    function test_Redeem() public {
        _fundBakery(20 * HEIT);

        vm.expectEmit(address(token));
        emit IERC20.Transfer(bakery, address(0), 12 * HEIT);
        vm.expectEmit(address(token));
        emit IHeitjeToken.Redeemed(1, bakery, 12 * HEIT);
        vm.prank(bakery);
        uint256 id = token.redeem(12 * HEIT);

        assertEq(id, 1);
        assertEq(token.balanceOf(bakery), 8 * HEIT);
        assertEq(token.totalSupply(), 38 * HEIT);
        assertEq(token.totalMinted(), 50 * HEIT);
        assertEq(token.totalRedeemed(), 12 * HEIT);
        assertEq(token.redemptionCount(), 1);

        IHeitjeToken.Redemption memory r = token.redemption(1);
        assertEq(r.shop, bakery);
        assertEq(r.timestamp, NOW);
        assertEq(r.amount, 12 * HEIT);
    }

    function test_RedemptionIdsAreSequential() public {
        _mint(alice, 50 * HEIT, TASK);
        vm.startPrank(alice);
        assertTrue(token.transfer(bakery, 30 * HEIT));
        assertTrue(token.transfer(florist, 20 * HEIT));
        vm.stopPrank();

        vm.prank(bakery);
        assertEq(token.redeem(10 * HEIT), 1);
        vm.warp(NOW + 1 days);
        vm.prank(florist);
        assertEq(token.redeem(20 * HEIT), 2);
        vm.warp(NOW + 2 days);
        vm.prank(bakery);
        assertEq(token.redeem(20 * HEIT), 3);

        assertEq(token.redemptionCount(), 3);
        assertEq(token.totalRedeemed(), 50 * HEIT);
        assertEq(token.totalSupply(), 0);

        IHeitjeToken.Redemption memory second = token.redemption(2);
        assertEq(second.shop, florist);
        assertEq(second.timestamp, NOW + 1 days);
        assertEq(second.amount, 20 * HEIT);
        IHeitjeToken.Redemption memory third = token.redemption(3);
        assertEq(third.shop, bakery);
        assertEq(third.timestamp, NOW + 2 days);
        assertEq(third.amount, 20 * HEIT);
    }

    function test_RevertWhen_RedemptionIdDoesNotExist() public {
        _fundBakery(20 * HEIT);
        vm.prank(bakery);
        token.redeem(1);

        // Past the end: array out-of-bounds panic.
        vm.expectRevert(abi.encodeWithSignature("Panic(uint256)", 0x32));
        token.redemption(2);
        // Id 0 (ids count from 1): arithmetic underflow panic.
        vm.expectRevert(abi.encodeWithSignature("Panic(uint256)", 0x11));
        token.redemption(0);
    }

    function test_RevertWhen_RedeemZeroAmount() public {
        vm.expectRevert(IHeitjeToken.HeitjeZeroAmount.selector);
        vm.prank(bakery);
        token.redeem(0);
    }

    function test_RevertWhen_RedeemCallerNotShop() public {
        _mint(alice, 15 * HEIT, TASK);
        vm.expectRevert(abi.encodeWithSelector(IHeitjeToken.HeitjeNotShop.selector, alice));
        vm.prank(alice);
        token.redeem(1);

        vm.expectRevert(abi.encodeWithSelector(IHeitjeToken.HeitjeNotShop.selector, outsider));
        vm.prank(outsider);
        token.redeem(1);
    }

    function test_RevertWhen_RedeemExceedsBalance() public {
        _fundBakery(20 * HEIT);
        vm.expectRevert(_insufficient(bakery, 20 * HEIT, 20 * HEIT + 1));
        vm.prank(bakery);
        token.redeem(20 * HEIT + 1);
    }

    function test_RevertWhen_RedeemPaused() public {
        _fundBakery(20 * HEIT);
        _pause();
        vm.expectRevert(Pausable.EnforcedPause.selector);
        vm.prank(bakery);
        token.redeem(1);
        assertEq(token.redemptionCount(), 0);
    }

    function testFuzz_Redeem(uint256 minted, uint256 paid, uint256 redeemed) public {
        minted = bound(minted, 1, type(uint128).max);
        paid = bound(paid, 1, minted);
        redeemed = bound(redeemed, 1, paid);

        _mint(alice, minted, TASK);
        vm.prank(alice);
        assertTrue(token.transfer(bakery, paid));
        vm.prank(bakery);
        uint256 id = token.redeem(redeemed);

        assertEq(id, 1);
        assertEq(token.balanceOf(bakery), paid - redeemed);
        assertEq(token.totalSupply(), minted - redeemed);
        assertEq(token.totalSupply(), token.totalMinted() - token.totalRedeemed());
        assertEq(token.totalRedeemed(), redeemed);
        assertEq(token.redemption(id).amount, redeemed);
    }

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

    // =====================================================================
    // EIP-3009 transferWithAuthorization
    // =====================================================================

    function test_TransferWithAuthorization() public {
        _mint(alice, 15 * HEIT, TASK);
        bytes32 nonce = keccak256("payment 1");
        (uint8 v, bytes32 r, bytes32 s) = _alicePays(4 * HEIT, nonce);
        assertFalse(token.authorizationState(alice, nonce));

        vm.expectEmit(address(token));
        emit IHeitjeToken.AuthorizationUsed(alice, nonce);
        vm.expectEmit(address(token));
        emit IERC20.Transfer(alice, bakery, 4 * HEIT);
        vm.prank(relayer);
        token.transferWithAuthorization(alice, bakery, 4 * HEIT, 0, NOW + 1 hours, nonce, v, r, s);

        assertTrue(token.authorizationState(alice, nonce));
        assertEq(token.balanceOf(alice), 11 * HEIT);
        assertEq(token.balanceOf(bakery), 4 * HEIT);
    }

    function test_TransferWithAuthorizationShopRefundsCitizen() public {
        _fundBakery(10 * HEIT);
        bytes32 nonce = keccak256("refund 1");
        (uint8 v, bytes32 r, bytes32 s) =
            _signTransfer(bakeryKey, TRANSFER_TYPEHASH, bakery, bob, 2 * HEIT, NOW - 1, NOW + 1, nonce);

        vm.prank(relayer);
        token.transferWithAuthorization(bakery, bob, 2 * HEIT, NOW - 1, NOW + 1, nonce, v, r, s);
        assertEq(token.balanceOf(bob), 2 * HEIT);
        assertEq(token.balanceOf(bakery), 8 * HEIT);
    }

    function test_RevertWhen_TransferWithAuthorizationReplayed() public {
        _mint(alice, 15 * HEIT, TASK);
        bytes32 nonce = keccak256("payment 1");
        (uint8 v, bytes32 r, bytes32 s) = _alicePays(4 * HEIT, nonce);
        vm.prank(relayer);
        token.transferWithAuthorization(alice, bakery, 4 * HEIT, 0, NOW + 1 hours, nonce, v, r, s);

        vm.expectRevert(abi.encodeWithSelector(IHeitjeToken.HeitjeAuthorizationUsed.selector, alice, nonce));
        vm.prank(relayer);
        token.transferWithAuthorization(alice, bakery, 4 * HEIT, 0, NOW + 1 hours, nonce, v, r, s);
        assertEq(token.balanceOf(bakery), 4 * HEIT);
    }

    function test_RevertWhen_TransferWithAuthorizationExpired() public {
        _mint(alice, 15 * HEIT, TASK);
        bytes32 nonce = keccak256("payment 1");
        (uint8 v, bytes32 r, bytes32 s) = _alicePays(4 * HEIT, nonce);

        vm.warp(NOW + 1 hours); // validBefore is exclusive
        vm.expectRevert(abi.encodeWithSelector(IHeitjeToken.HeitjeAuthorizationExpired.selector, NOW + 1 hours));
        token.transferWithAuthorization(alice, bakery, 4 * HEIT, 0, NOW + 1 hours, nonce, v, r, s);

        // One second earlier it is still good.
        vm.warp(NOW + 1 hours - 1);
        token.transferWithAuthorization(alice, bakery, 4 * HEIT, 0, NOW + 1 hours, nonce, v, r, s);
        assertEq(token.balanceOf(bakery), 4 * HEIT);
    }

    function test_RevertWhen_TransferWithAuthorizationNotYetValid() public {
        _mint(alice, 15 * HEIT, TASK);
        bytes32 nonce = keccak256("payment 1");
        uint256 validAfter = NOW + 10 minutes;
        (uint8 v, bytes32 r, bytes32 s) =
            _signTransfer(aliceKey, TRANSFER_TYPEHASH, alice, bakery, 1, validAfter, validAfter + 1 hours, nonce);

        vm.expectRevert(abi.encodeWithSelector(IHeitjeToken.HeitjeAuthorizationNotYetValid.selector, validAfter));
        token.transferWithAuthorization(alice, bakery, 1, validAfter, validAfter + 1 hours, nonce, v, r, s);

        vm.warp(validAfter); // validAfter is exclusive
        vm.expectRevert(abi.encodeWithSelector(IHeitjeToken.HeitjeAuthorizationNotYetValid.selector, validAfter));
        token.transferWithAuthorization(alice, bakery, 1, validAfter, validAfter + 1 hours, nonce, v, r, s);

        vm.warp(validAfter + 1);
        token.transferWithAuthorization(alice, bakery, 1, validAfter, validAfter + 1 hours, nonce, v, r, s);
        assertEq(token.balanceOf(bakery), 1);
    }

    function test_RevertWhen_TransferWithAuthorizationWrongSigner() public {
        _mint(alice, 15 * HEIT, TASK);
        bytes32 nonce = keccak256("payment 1");
        (uint8 v, bytes32 r, bytes32 s) =
            _signTransfer(bobKey, TRANSFER_TYPEHASH, alice, bakery, 4 * HEIT, 0, NOW + 1 hours, nonce);

        vm.expectRevert(abi.encodeWithSelector(IHeitjeToken.HeitjeInvalidSignature.selector, alice));
        token.transferWithAuthorization(alice, bakery, 4 * HEIT, 0, NOW + 1 hours, nonce, v, r, s);
        assertFalse(token.authorizationState(alice, nonce));
    }

    function test_RevertWhen_TransferWithAuthorizationTampered() public {
        _mint(alice, 15 * HEIT, TASK);
        bytes32 nonce = keccak256("payment 1");
        (uint8 v, bytes32 r, bytes32 s) = _alicePays(4 * HEIT, nonce);

        // A larger value, another payee, or a longer validity: the signature no longer matches.
        vm.expectRevert(abi.encodeWithSelector(IHeitjeToken.HeitjeInvalidSignature.selector, alice));
        token.transferWithAuthorization(alice, bakery, 5 * HEIT, 0, NOW + 1 hours, nonce, v, r, s);
        vm.expectRevert(abi.encodeWithSelector(IHeitjeToken.HeitjeInvalidSignature.selector, alice));
        token.transferWithAuthorization(alice, florist, 4 * HEIT, 0, NOW + 1 hours, nonce, v, r, s);
        vm.expectRevert(abi.encodeWithSelector(IHeitjeToken.HeitjeInvalidSignature.selector, alice));
        token.transferWithAuthorization(alice, bakery, 4 * HEIT, 0, NOW + 2 hours, nonce, v, r, s);
    }

    function test_RevertWhen_TransferWithAuthorizationMalleableSignature() public {
        _mint(alice, 15 * HEIT, TASK);
        bytes32 nonce = keccak256("payment 1");
        (uint8 v, bytes32 r, bytes32 s) = _alicePays(4 * HEIT, nonce);
        // (r, n - s, v ^ 1) recovers the same address, but high-s signatures are refused.
        bytes32 highS = bytes32(SECP256K1_N - uint256(s));
        uint8 flippedV = v == 27 ? 28 : 27;

        vm.expectRevert(abi.encodeWithSelector(IHeitjeToken.HeitjeInvalidSignature.selector, alice));
        token.transferWithAuthorization(alice, bakery, 4 * HEIT, 0, NOW + 1 hours, nonce, flippedV, r, highS);
    }

    function test_RevertWhen_TransferWithAuthorizationSignedAsReceive() public {
        _mint(alice, 15 * HEIT, TASK);
        bytes32 nonce = keccak256("payment 1");
        (uint8 v, bytes32 r, bytes32 s) =
            _signTransfer(aliceKey, RECEIVE_TYPEHASH, alice, bakery, 4 * HEIT, 0, NOW + 1 hours, nonce);

        vm.expectRevert(abi.encodeWithSelector(IHeitjeToken.HeitjeInvalidSignature.selector, alice));
        token.transferWithAuthorization(alice, bakery, 4 * HEIT, 0, NOW + 1 hours, nonce, v, r, s);
    }

    function test_RevertWhen_TransferWithAuthorizationSignedForOtherChain() public {
        _mint(alice, 15 * HEIT, TASK);
        bytes32 nonce = keccak256("payment 1");
        (uint8 v, bytes32 r, bytes32 s) = _alicePays(4 * HEIT, nonce);

        vm.chainId(block.chainid + 1); // the domain separator follows the chain id
        vm.expectRevert(abi.encodeWithSelector(IHeitjeToken.HeitjeInvalidSignature.selector, alice));
        token.transferWithAuthorization(alice, bakery, 4 * HEIT, 0, NOW + 1 hours, nonce, v, r, s);
    }

    function test_RevertWhen_TransferWithAuthorizationCanceled() public {
        _mint(alice, 15 * HEIT, TASK);
        bytes32 nonce = keccak256("payment 1");
        (uint8 v, bytes32 r, bytes32 s) = _alicePays(4 * HEIT, nonce);
        (uint8 cv, bytes32 cr, bytes32 cs) = _signCancel(aliceKey, alice, nonce);
        token.cancelAuthorization(alice, nonce, cv, cr, cs);

        vm.expectRevert(abi.encodeWithSelector(IHeitjeToken.HeitjeAuthorizationUsed.selector, alice, nonce));
        token.transferWithAuthorization(alice, bakery, 4 * HEIT, 0, NOW + 1 hours, nonce, v, r, s);
        assertEq(token.balanceOf(alice), 15 * HEIT);
    }

    function test_RevertWhen_TransferWithAuthorizationCitizenToCitizen() public {
        _mint(alice, 15 * HEIT, TASK);
        bytes32 nonce = keccak256("gift");
        (uint8 v, bytes32 r, bytes32 s) =
            _signTransfer(aliceKey, TRANSFER_TYPEHASH, alice, bob, 1, 0, NOW + 1 hours, nonce);

        vm.expectRevert(abi.encodeWithSelector(IHeitjeToken.HeitjeTransferNotAllowed.selector, alice, bob));
        token.transferWithAuthorization(alice, bob, 1, 0, NOW + 1 hours, nonce, v, r, s);
        // The whole call reverted, so the nonce is still unused.
        assertFalse(token.authorizationState(alice, nonce));
    }

    function test_RevertWhen_TransferWithAuthorizationToUnregistered() public {
        _mint(alice, 15 * HEIT, TASK);
        bytes32 nonce = keccak256("payment 1");
        (uint8 v, bytes32 r, bytes32 s) =
            _signTransfer(aliceKey, TRANSFER_TYPEHASH, alice, outsider, 1, 0, NOW + 1 hours, nonce);

        vm.expectRevert(abi.encodeWithSelector(IHeitjeToken.HeitjeTransferNotAllowed.selector, alice, outsider));
        token.transferWithAuthorization(alice, outsider, 1, 0, NOW + 1 hours, nonce, v, r, s);
    }

    function test_RevertWhen_TransferWithAuthorizationFromUnregistered() public {
        bytes32 nonce = keccak256("payment 1");
        (uint8 v, bytes32 r, bytes32 s) =
            _signTransfer(outsiderKey, TRANSFER_TYPEHASH, outsider, bakery, 0, 0, NOW + 1 hours, nonce);

        vm.expectRevert(abi.encodeWithSelector(IHeitjeToken.HeitjeTransferNotAllowed.selector, outsider, bakery));
        token.transferWithAuthorization(outsider, bakery, 0, 0, NOW + 1 hours, nonce, v, r, s);
    }

    function test_RevertWhen_TransferWithAuthorizationExceedsBalance() public {
        _mint(alice, 15 * HEIT, TASK);
        bytes32 nonce = keccak256("payment 1");
        (uint8 v, bytes32 r, bytes32 s) = _alicePays(16 * HEIT, nonce);

        vm.expectRevert(_insufficient(alice, 15 * HEIT, 16 * HEIT));
        token.transferWithAuthorization(alice, bakery, 16 * HEIT, 0, NOW + 1 hours, nonce, v, r, s);
    }

    function test_RevertWhen_TransferWithAuthorizationPaused() public {
        _mint(alice, 15 * HEIT, TASK);
        bytes32 nonce = keccak256("payment 1");
        (uint8 v, bytes32 r, bytes32 s) = _alicePays(4 * HEIT, nonce);
        _pause();

        vm.expectRevert(Pausable.EnforcedPause.selector);
        token.transferWithAuthorization(alice, bakery, 4 * HEIT, 0, NOW + 1 hours, nonce, v, r, s);
        assertFalse(token.authorizationState(alice, nonce));
    }

    function testFuzz_TransferWithAuthorization(uint256 minted, uint256 value, bytes32 nonce) public {
        minted = bound(minted, 1, type(uint128).max);
        value = bound(value, 0, minted);
        _mint(alice, minted, TASK);
        (uint8 v, bytes32 r, bytes32 s) = _alicePays(value, nonce);

        vm.prank(relayer);
        token.transferWithAuthorization(alice, bakery, value, 0, NOW + 1 hours, nonce, v, r, s);
        assertEq(token.balanceOf(alice), minted - value);
        assertEq(token.balanceOf(bakery), value);
        assertTrue(token.authorizationState(alice, nonce));
    }

    // =====================================================================
    // EIP-3009 receiveWithAuthorization
    // =====================================================================

    function test_ReceiveWithAuthorization() public {
        _mint(alice, 15 * HEIT, TASK);
        bytes32 nonce = keccak256("qr payment");
        (uint8 v, bytes32 r, bytes32 s) =
            _signTransfer(aliceKey, RECEIVE_TYPEHASH, alice, bakery, 3 * HEIT, 0, NOW + 1 hours, nonce);

        vm.expectEmit(address(token));
        emit IHeitjeToken.AuthorizationUsed(alice, nonce);
        vm.expectEmit(address(token));
        emit IERC20.Transfer(alice, bakery, 3 * HEIT);
        vm.prank(bakery);
        token.receiveWithAuthorization(alice, bakery, 3 * HEIT, 0, NOW + 1 hours, nonce, v, r, s);

        assertEq(token.balanceOf(bakery), 3 * HEIT);
        assertTrue(token.authorizationState(alice, nonce));
    }

    function test_RevertWhen_ReceiveWithAuthorizationCallerNotPayee() public {
        _mint(alice, 15 * HEIT, TASK);
        bytes32 nonce = keccak256("qr payment");
        (uint8 v, bytes32 r, bytes32 s) =
            _signTransfer(aliceKey, RECEIVE_TYPEHASH, alice, bakery, 3 * HEIT, 0, NOW + 1 hours, nonce);

        vm.expectRevert(abi.encodeWithSelector(IHeitjeToken.HeitjeCallerNotPayee.selector, relayer, bakery));
        vm.prank(relayer);
        token.receiveWithAuthorization(alice, bakery, 3 * HEIT, 0, NOW + 1 hours, nonce, v, r, s);
    }

    function test_RevertWhen_ReceiveWithAuthorizationReplayed() public {
        _mint(alice, 15 * HEIT, TASK);
        bytes32 nonce = keccak256("qr payment");
        (uint8 v, bytes32 r, bytes32 s) =
            _signTransfer(aliceKey, RECEIVE_TYPEHASH, alice, bakery, 3 * HEIT, 0, NOW + 1 hours, nonce);
        vm.prank(bakery);
        token.receiveWithAuthorization(alice, bakery, 3 * HEIT, 0, NOW + 1 hours, nonce, v, r, s);

        vm.expectRevert(abi.encodeWithSelector(IHeitjeToken.HeitjeAuthorizationUsed.selector, alice, nonce));
        vm.prank(bakery);
        token.receiveWithAuthorization(alice, bakery, 3 * HEIT, 0, NOW + 1 hours, nonce, v, r, s);
    }

    function test_RevertWhen_ReceiveWithAuthorizationSignedAsTransfer() public {
        _mint(alice, 15 * HEIT, TASK);
        bytes32 nonce = keccak256("qr payment");
        (uint8 v, bytes32 r, bytes32 s) = _alicePays(3 * HEIT, nonce);

        vm.expectRevert(abi.encodeWithSelector(IHeitjeToken.HeitjeInvalidSignature.selector, alice));
        vm.prank(bakery);
        token.receiveWithAuthorization(alice, bakery, 3 * HEIT, 0, NOW + 1 hours, nonce, v, r, s);
    }

    // =====================================================================
    // EIP-3009 cancelAuthorization
    // =====================================================================

    function test_CancelAuthorization() public {
        bytes32 nonce = keccak256("payment 1");
        (uint8 v, bytes32 r, bytes32 s) = _signCancel(aliceKey, alice, nonce);

        vm.expectEmit(address(token));
        emit IHeitjeToken.AuthorizationCanceled(alice, nonce);
        vm.prank(relayer);
        token.cancelAuthorization(alice, nonce, v, r, s);
        assertTrue(token.authorizationState(alice, nonce));
    }

    function test_CancelAuthorizationWhilePaused() public {
        _pause();
        bytes32 nonce = keccak256("payment 1");
        (uint8 v, bytes32 r, bytes32 s) = _signCancel(aliceKey, alice, nonce);
        token.cancelAuthorization(alice, nonce, v, r, s);
        assertTrue(token.authorizationState(alice, nonce));
    }

    function test_RevertWhen_CancelAuthorizationTwice() public {
        bytes32 nonce = keccak256("payment 1");
        (uint8 v, bytes32 r, bytes32 s) = _signCancel(aliceKey, alice, nonce);
        token.cancelAuthorization(alice, nonce, v, r, s);

        vm.expectRevert(abi.encodeWithSelector(IHeitjeToken.HeitjeAuthorizationUsed.selector, alice, nonce));
        token.cancelAuthorization(alice, nonce, v, r, s);
    }

    function test_RevertWhen_CancelAuthorizationAfterUse() public {
        _mint(alice, 15 * HEIT, TASK);
        bytes32 nonce = keccak256("payment 1");
        (uint8 v, bytes32 r, bytes32 s) = _alicePays(4 * HEIT, nonce);
        token.transferWithAuthorization(alice, bakery, 4 * HEIT, 0, NOW + 1 hours, nonce, v, r, s);

        (uint8 cv, bytes32 cr, bytes32 cs) = _signCancel(aliceKey, alice, nonce);
        vm.expectRevert(abi.encodeWithSelector(IHeitjeToken.HeitjeAuthorizationUsed.selector, alice, nonce));
        token.cancelAuthorization(alice, nonce, cv, cr, cs);
    }

    function test_RevertWhen_CancelAuthorizationWrongSigner() public {
        bytes32 nonce = keccak256("payment 1");
        (uint8 v, bytes32 r, bytes32 s) = _signCancel(bobKey, alice, nonce);

        vm.expectRevert(abi.encodeWithSelector(IHeitjeToken.HeitjeInvalidSignature.selector, alice));
        token.cancelAuthorization(alice, nonce, v, r, s);
        assertFalse(token.authorizationState(alice, nonce));
    }

    // =====================================================================
    // redeemWithAuthorization
    // =====================================================================

    function test_RedeemWithAuthorization() public {
        _fundBakery(20 * HEIT);
        bytes32 nonce = keccak256("redeem 1");
        (uint8 v, bytes32 r, bytes32 s) = _signRedeem(bakeryKey, bakery, 7 * HEIT, 0, NOW + 1 hours, nonce);

        vm.expectEmit(address(token));
        emit IHeitjeToken.AuthorizationUsed(bakery, nonce);
        vm.expectEmit(address(token));
        emit IERC20.Transfer(bakery, address(0), 7 * HEIT);
        vm.expectEmit(address(token));
        emit IHeitjeToken.Redeemed(1, bakery, 7 * HEIT);
        vm.prank(relayer);
        uint256 id = token.redeemWithAuthorization(bakery, 7 * HEIT, 0, NOW + 1 hours, nonce, v, r, s);

        assertEq(id, 1);
        assertEq(token.balanceOf(bakery), 13 * HEIT);
        assertEq(token.totalRedeemed(), 7 * HEIT);
        assertTrue(token.authorizationState(bakery, nonce));
        IHeitjeToken.Redemption memory red = token.redemption(1);
        assertEq(red.shop, bakery);
        assertEq(red.timestamp, NOW);
        assertEq(red.amount, 7 * HEIT);
    }

    function test_RevertWhen_RedeemWithAuthorizationReplayed() public {
        _fundBakery(20 * HEIT);
        bytes32 nonce = keccak256("redeem 1");
        (uint8 v, bytes32 r, bytes32 s) = _signRedeem(bakeryKey, bakery, 7 * HEIT, 0, NOW + 1 hours, nonce);
        token.redeemWithAuthorization(bakery, 7 * HEIT, 0, NOW + 1 hours, nonce, v, r, s);

        vm.expectRevert(abi.encodeWithSelector(IHeitjeToken.HeitjeAuthorizationUsed.selector, bakery, nonce));
        token.redeemWithAuthorization(bakery, 7 * HEIT, 0, NOW + 1 hours, nonce, v, r, s);
        assertEq(token.redemptionCount(), 1);
    }

    function test_RevertWhen_RedeemWithAuthorizationExpired() public {
        _fundBakery(20 * HEIT);
        bytes32 nonce = keccak256("redeem 1");
        (uint8 v, bytes32 r, bytes32 s) = _signRedeem(bakeryKey, bakery, 7 * HEIT, 0, NOW + 1 hours, nonce);

        vm.warp(NOW + 1 hours);
        vm.expectRevert(abi.encodeWithSelector(IHeitjeToken.HeitjeAuthorizationExpired.selector, NOW + 1 hours));
        token.redeemWithAuthorization(bakery, 7 * HEIT, 0, NOW + 1 hours, nonce, v, r, s);
    }

    function test_RevertWhen_RedeemWithAuthorizationNotYetValid() public {
        _fundBakery(20 * HEIT);
        bytes32 nonce = keccak256("redeem 1");
        (uint8 v, bytes32 r, bytes32 s) = _signRedeem(bakeryKey, bakery, 7 * HEIT, NOW, NOW + 1 hours, nonce);

        vm.expectRevert(abi.encodeWithSelector(IHeitjeToken.HeitjeAuthorizationNotYetValid.selector, NOW));
        token.redeemWithAuthorization(bakery, 7 * HEIT, NOW, NOW + 1 hours, nonce, v, r, s);
    }

    function test_RevertWhen_RedeemWithAuthorizationWrongSigner() public {
        _fundBakery(20 * HEIT);
        bytes32 nonce = keccak256("redeem 1");
        (uint8 v, bytes32 r, bytes32 s) = _signRedeem(floristKey, bakery, 7 * HEIT, 0, NOW + 1 hours, nonce);

        vm.expectRevert(abi.encodeWithSelector(IHeitjeToken.HeitjeInvalidSignature.selector, bakery));
        token.redeemWithAuthorization(bakery, 7 * HEIT, 0, NOW + 1 hours, nonce, v, r, s);
    }

    function test_RevertWhen_RedeemWithAuthorizationCanceled() public {
        _fundBakery(20 * HEIT);
        bytes32 nonce = keccak256("redeem 1");
        (uint8 v, bytes32 r, bytes32 s) = _signRedeem(bakeryKey, bakery, 7 * HEIT, 0, NOW + 1 hours, nonce);
        (uint8 cv, bytes32 cr, bytes32 cs) = _signCancel(bakeryKey, bakery, nonce);
        token.cancelAuthorization(bakery, nonce, cv, cr, cs);

        vm.expectRevert(abi.encodeWithSelector(IHeitjeToken.HeitjeAuthorizationUsed.selector, bakery, nonce));
        token.redeemWithAuthorization(bakery, 7 * HEIT, 0, NOW + 1 hours, nonce, v, r, s);
    }

    function test_RevertWhen_RedeemWithAuthorizationNotShop() public {
        _mint(alice, 15 * HEIT, TASK);
        bytes32 nonce = keccak256("redeem 1");
        (uint8 v, bytes32 r, bytes32 s) = _signRedeem(aliceKey, alice, 7 * HEIT, 0, NOW + 1 hours, nonce);

        vm.expectRevert(abi.encodeWithSelector(IHeitjeToken.HeitjeNotShop.selector, alice));
        token.redeemWithAuthorization(alice, 7 * HEIT, 0, NOW + 1 hours, nonce, v, r, s);
    }

    function test_RevertWhen_RedeemWithAuthorizationZeroAmount() public {
        bytes32 nonce = keccak256("redeem 1");
        (uint8 v, bytes32 r, bytes32 s) = _signRedeem(bakeryKey, bakery, 0, 0, NOW + 1 hours, nonce);

        vm.expectRevert(IHeitjeToken.HeitjeZeroAmount.selector);
        token.redeemWithAuthorization(bakery, 0, 0, NOW + 1 hours, nonce, v, r, s);
    }

    function test_RevertWhen_RedeemWithAuthorizationPaused() public {
        _fundBakery(20 * HEIT);
        bytes32 nonce = keccak256("redeem 1");
        (uint8 v, bytes32 r, bytes32 s) = _signRedeem(bakeryKey, bakery, 7 * HEIT, 0, NOW + 1 hours, nonce);
        _pause();

        vm.expectRevert(Pausable.EnforcedPause.selector);
        token.redeemWithAuthorization(bakery, 7 * HEIT, 0, NOW + 1 hours, nonce, v, r, s);
    }

    // =====================================================================
    // EIP-2612 permit
    // =====================================================================

    function test_Permit() public {
        _mint(alice, 15 * HEIT, TASK);
        uint256 deadline = NOW + 1 hours;
        assertEq(token.nonces(alice), 0);
        (uint8 v, bytes32 r, bytes32 s) = _signPermit(aliceKey, alice, bakery, 5 * HEIT, 0, deadline);

        vm.expectEmit(address(token));
        emit IERC20.Approval(alice, bakery, 5 * HEIT);
        vm.prank(relayer);
        token.permit(alice, bakery, 5 * HEIT, deadline, v, r, s);
        assertEq(token.allowance(alice, bakery), 5 * HEIT);
        assertEq(token.nonces(alice), 1);

        // The spender pulls within the transfer policy: citizen -> shop.
        vm.prank(bakery);
        assertTrue(token.transferFrom(alice, bakery, 5 * HEIT));
        assertEq(token.balanceOf(alice), 10 * HEIT);
        assertEq(token.balanceOf(bakery), 5 * HEIT);
        assertEq(token.allowance(alice, bakery), 0);
    }

    function test_PermitShopWalletRefundsThroughSpender() public {
        _fundBakery(10 * HEIT);
        uint256 deadline = NOW + 1 hours;
        (uint8 v, bytes32 r, bytes32 s) = _signPermit(bakeryKey, bakery, relayer, 3 * HEIT, 0, deadline);
        token.permit(bakery, relayer, 3 * HEIT, deadline, v, r, s);

        // shop -> citizen is within the policy too.
        vm.prank(relayer);
        assertTrue(token.transferFrom(bakery, bob, 3 * HEIT));
        assertEq(token.balanceOf(bob), 3 * HEIT);
        assertEq(token.balanceOf(bakery), 7 * HEIT);
    }

    function test_RevertWhen_PermitTransferFromOutsidePolicy() public {
        _mint(alice, 15 * HEIT, TASK);
        uint256 deadline = NOW + 1 hours;
        (uint8 v, bytes32 r, bytes32 s) = _signPermit(aliceKey, alice, relayer, 5 * HEIT, 0, deadline);
        token.permit(alice, relayer, 5 * HEIT, deadline, v, r, s);

        // An allowance is no way around the policy: not to a citizen, not to an outsider.
        vm.expectRevert(abi.encodeWithSelector(IHeitjeToken.HeitjeTransferNotAllowed.selector, alice, bob));
        vm.prank(relayer);
        // forge-lint: disable-next-line(erc20-unchecked-transfer)
        token.transferFrom(alice, bob, 5 * HEIT);
        vm.expectRevert(abi.encodeWithSelector(IHeitjeToken.HeitjeTransferNotAllowed.selector, alice, outsider));
        vm.prank(relayer);
        // forge-lint: disable-next-line(erc20-unchecked-transfer)
        token.transferFrom(alice, outsider, 5 * HEIT);

        assertEq(token.balanceOf(alice), 15 * HEIT);
        assertEq(token.allowance(alice, relayer), 5 * HEIT);
    }

    function test_RevertWhen_PermitExpired() public {
        uint256 deadline = NOW + 1 hours;
        (uint8 v, bytes32 r, bytes32 s) = _signPermit(aliceKey, alice, bakery, 5 * HEIT, 0, deadline);

        vm.warp(deadline + 1); // the deadline itself is still good
        vm.expectRevert(abi.encodeWithSelector(ERC20Permit.ERC2612ExpiredSignature.selector, deadline));
        token.permit(alice, bakery, 5 * HEIT, deadline, v, r, s);
        assertEq(token.allowance(alice, bakery), 0);
        assertEq(token.nonces(alice), 0);

        vm.warp(deadline);
        token.permit(alice, bakery, 5 * HEIT, deadline, v, r, s);
        assertEq(token.allowance(alice, bakery), 5 * HEIT);
    }

    function test_RevertWhen_PermitReplayed() public {
        _mint(alice, 15 * HEIT, TASK);
        uint256 deadline = NOW + 1 hours;
        (uint8 v, bytes32 r, bytes32 s) = _signPermit(aliceKey, alice, bakery, 5 * HEIT, 0, deadline);
        token.permit(alice, bakery, 5 * HEIT, deadline, v, r, s);
        vm.prank(bakery);
        assertTrue(token.transferFrom(alice, bakery, 5 * HEIT));

        // Replayed, the signature is checked against nonce 1 and recovers some other address.
        bytes32 digestNow = keccak256(
            abi.encodePacked(
                "\x19\x01",
                _domainSeparator(),
                keccak256(abi.encode(PERMIT_TYPEHASH, alice, bakery, 5 * HEIT, 1, deadline))
            )
        );
        address recovered = ecrecover(digestNow, v, r, s);
        vm.expectRevert(abi.encodeWithSelector(ERC20Permit.ERC2612InvalidSigner.selector, recovered, alice));
        token.permit(alice, bakery, 5 * HEIT, deadline, v, r, s);
        assertEq(token.allowance(alice, bakery), 0);
        assertEq(token.nonces(alice), 1);
    }

    function test_RevertWhen_PermitWrongSigner() public {
        uint256 deadline = NOW + 1 hours;
        (uint8 v, bytes32 r, bytes32 s) = _signPermit(bobKey, alice, bakery, 5 * HEIT, 0, deadline);
        vm.expectRevert(abi.encodeWithSelector(ERC20Permit.ERC2612InvalidSigner.selector, bob, alice));
        token.permit(alice, bakery, 5 * HEIT, deadline, v, r, s);
    }

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
