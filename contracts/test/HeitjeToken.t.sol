// SPDX-License-Identifier: EUPL-1.2
pragma solidity ^0.8.24;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {IERC20Errors} from "@openzeppelin/contracts/interfaces/draft-IERC6093.sol";
import {IAccessControl} from "@openzeppelin/contracts/access/IAccessControl.sol";
import {Pausable} from "@openzeppelin/contracts/utils/Pausable.sol";
import {HeitjeToken} from "../src/HeitjeToken.sol";
import {IHeitjeToken} from "../src/IHeitjeToken.sol";
import {Test} from "./utils/Test.sol";

/// @notice Unit and fuzz tests of HeitjeToken: registry, rewards, payments,
/// redemption, EIP-3009 authorizations and pause.
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
    /// @dev secp256k1 group order, for the high-s (malleable) signature test.
    uint256 internal constant SECP256K1_N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141;

    uint256 internal constant NOW = 1_700_000_000;
    uint256 internal constant HEIT = 100; // base units per HEIT (2 decimals)
    bytes32 internal constant TASK = keccak256("task: paint waste bin 17");

    HeitjeToken internal token;

    address internal admin;
    address internal minter;
    address internal registrar;
    address internal pauser;
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
        relayer = makeAddr("relayer");
        stranger = makeAddr("stranger");
        (alice, aliceKey) = makeAddrAndKey("alice");
        (bob, bobKey) = makeAddrAndKey("bob");
        (bakery, bakeryKey) = makeAddrAndKey("bakery");
        (florist, floristKey) = makeAddrAndKey("florist");
        (outsider, outsiderKey) = makeAddrAndKey("outsider");

        token = new HeitjeToken(admin, minter, registrar, pauser);

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
        assertFalse(token.hasRole(token.MINTER_ROLE(), admin));
        assertFalse(token.hasRole(token.REGISTRAR_ROLE(), minter));
        assertFalse(token.hasRole(token.PAUSER_ROLE(), registrar));
        assertEq(token.MINTER_ROLE(), keccak256("MINTER_ROLE"));
        assertEq(token.REGISTRAR_ROLE(), keccak256("REGISTRAR_ROLE"));
        assertEq(token.PAUSER_ROLE(), keccak256("PAUSER_ROLE"));
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
