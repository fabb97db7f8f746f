// SPDX-License-Identifier: EUPL-1.2
pragma solidity ^0.8.24;

import {HeitjeToken} from "../src/HeitjeToken.sol";
import {IHeitjeToken} from "../src/IHeitjeToken.sol";
import {Test, TestBase} from "./utils/Test.sol";

/// @notice What the invariant fuzzer drives: a small town of actors (citizens,
/// shops, some unregistered) doing what the service does, each call made as the
/// right role holder or account. Calls the contract refuses are caught and
/// counted for nothing; every successful state change updates the ghost totals
/// the invariants compare with the token.
contract HeitjeHandler is TestBase {
    uint256 internal constant ACTORS = 8;
    uint256 internal constant MAX_REWARD = 1e15; // base units (10^13 HEIT), far above real rewards

    HeitjeToken public immutable token;
    address internal immutable minter;
    address internal immutable registrar;

    address[] internal _actors;
    mapping(address actor => uint256) internal _keys;

    // ----- ghosts -----
    uint256 public ghostMinted; // sum of successful reward amounts
    uint256 public ghostRedeemed; // sum of successful redemption amounts
    uint256 public ghostMintCount; // number of successful mintReward calls
    uint256 public ghostRedemptionCount; // number of successful redemptions
    uint256 public ghostForbiddenMoves; // transfers outside policy that succeeded (must stay 0)
    bytes32[] internal _rewardedTaskRefs; // distinct taskRefs rewarded, in order
    mapping(bytes32 taskRef => bool) internal _seenTaskRef;
    uint256 internal _taskCounter;
    uint256 internal _nonceCounter;

    constructor(HeitjeToken token_, address minter_, address registrar_) {
        token = token_;
        minter = minter_;
        registrar = registrar_;
        // Actors 0-3 start as citizens, 4-6 as shops, 7 unregistered.
        for (uint256 i; i < ACTORS; ++i) {
            uint256 key = 0xC171_0000 + i;
            address actor = vm.addr(key);
            _actors.push(actor);
            _keys[actor] = key;
            IHeitjeToken.AccountKind kind = i < 4
                ? IHeitjeToken.AccountKind.Citizen
                : i < 7 ? IHeitjeToken.AccountKind.Shop : IHeitjeToken.AccountKind.None;
            if (kind != IHeitjeToken.AccountKind.None) {
                vm.prank(registrar);
                token.registerAccount(actor, kind);
            }
        }
    }

    // =====================================================================
    // actions (the fuzzer's targets)
    // =====================================================================

    /// @dev The registrar (re)registers an actor; refused when its kind changes while it holds HEIT.
    function registerAccount(uint256 actorSeed, uint256 kindSeed) external {
        address actor = _actors[actorSeed % ACTORS];
        IHeitjeToken.AccountKind kind = IHeitjeToken.AccountKind(kindSeed % 3);
        vm.prank(registrar);
        try token.registerAccount(actor, kind) {} catch {}
    }

    /// @dev The minter rewards a citizen for a task never seen before.
    function mintRewardFresh(uint256 citizenSeed, uint256 amount) external {
        bytes32 taskRef = keccak256(abi.encode("task", ++_taskCounter));
        _mintReward(citizenSeed, amount, taskRef);
    }

    /// @dev The minter retries a task that was rewarded already (the outbox resending): must be refused.
    function mintRewardRepeat(uint256 citizenSeed, uint256 amount, uint256 refSeed) external {
        if (_rewardedTaskRefs.length == 0) return;
        _mintReward(citizenSeed, amount, _rewardedTaskRefs[refSeed % _rewardedTaskRefs.length]);
    }

    /// @dev A citizen pays a shop, directly or through a signed EIP-3009 authorization.
    function pay(uint256 citizenSeed, uint256 shopSeed, uint256 amount, bool signed) external {
        _move(
            _pick(citizenSeed, IHeitjeToken.AccountKind.Citizen),
            _pick(shopSeed, IHeitjeToken.AccountKind.Shop),
            amount,
            signed
        );
    }

    /// @dev A shop refunds a citizen, directly or through a signed EIP-3009 authorization.
    function refund(uint256 shopSeed, uint256 citizenSeed, uint256 amount, bool signed) external {
        _move(
            _pick(shopSeed, IHeitjeToken.AccountKind.Shop),
            _pick(citizenSeed, IHeitjeToken.AccountKind.Citizen),
            amount,
            signed
        );
    }

    /// @dev Any actor tries to move HEIT to any other actor; only citizen <-> shop may succeed.
    function tryAnyTransfer(uint256 fromSeed, uint256 toSeed, uint256 amount) external {
        address from = _actors[fromSeed % ACTORS];
        address to = _actors[toSeed % ACTORS];
        amount = bound(amount, 0, token.balanceOf(from));
        IHeitjeToken.AccountKind kf = token.accountKind(from);
        IHeitjeToken.AccountKind kt = token.accountKind(to);
        bool allowed = (kf == IHeitjeToken.AccountKind.Citizen && kt == IHeitjeToken.AccountKind.Shop)
            || (kf == IHeitjeToken.AccountKind.Shop && kt == IHeitjeToken.AccountKind.Citizen);
        vm.prank(from);
        try token.transfer(to, amount) {
            if (!allowed) ++ghostForbiddenMoves;
        } catch {}
    }

    /// @dev A shop redeems part of its balance, directly or through a signed authorization.
    function redeem(uint256 shopSeed, uint256 amount, bool signed) external {
        address shop = _pick(shopSeed, IHeitjeToken.AccountKind.Shop);
        if (shop == address(0)) return;
        uint256 balance = token.balanceOf(shop);
        if (balance == 0) return;
        amount = bound(amount, 1, balance);

        bool ok;
        if (signed) {
            bytes32 nonce = keccak256(abi.encode("redeem", ++_nonceCounter));
            uint256 validBefore = block.timestamp + 1 hours;
            bytes32 structHash =
                keccak256(abi.encode(token.REDEEM_WITH_AUTHORIZATION_TYPEHASH(), shop, amount, 0, validBefore, nonce));
            (uint8 v, bytes32 r, bytes32 s) = vm.sign(_keys[shop], _digest(structHash));
            try token.redeemWithAuthorization(shop, amount, 0, validBefore, nonce, v, r, s) {
                ok = true;
            } catch {}
        } else {
            vm.prank(shop);
            try token.redeem(amount) {
                ok = true;
            } catch {}
        }
        if (ok) {
            ghostRedeemed += amount;
            ++ghostRedemptionCount;
        }
    }

    // =====================================================================
    // views for the invariants
    // =====================================================================

    function actors() external view returns (address[] memory) {
        return _actors;
    }

    function rewardedTaskRefs() external view returns (bytes32[] memory) {
        return _rewardedTaskRefs;
    }

    // =====================================================================
    // internals
    // =====================================================================

    function _mintReward(uint256 citizenSeed, uint256 amount, bytes32 taskRef) internal {
        address citizen = _pick(citizenSeed, IHeitjeToken.AccountKind.Citizen);
        if (citizen == address(0)) return;
        amount = bound(amount, 1, MAX_REWARD);
        vm.prank(minter);
        try token.mintReward(citizen, amount, taskRef) {
            ghostMinted += amount;
            ++ghostMintCount;
            if (!_seenTaskRef[taskRef]) {
                _seenTaskRef[taskRef] = true;
                _rewardedTaskRefs.push(taskRef);
            }
        } catch {}
    }

    function _move(address from, address to, uint256 amount, bool signed) internal {
        if (from == address(0) || to == address(0)) return;
        amount = bound(amount, 0, token.balanceOf(from));
        if (signed) {
            bytes32 nonce = keccak256(abi.encode("pay", ++_nonceCounter));
            uint256 validBefore = block.timestamp + 1 hours;
            bytes32 structHash = keccak256(
                abi.encode(token.TRANSFER_WITH_AUTHORIZATION_TYPEHASH(), from, to, amount, 0, validBefore, nonce)
            );
            (uint8 v, bytes32 r, bytes32 s) = vm.sign(_keys[from], _digest(structHash));
            try token.transferWithAuthorization(from, to, amount, 0, validBefore, nonce, v, r, s) {} catch {}
        } else {
            vm.prank(from);
            try token.transfer(to, amount) {} catch {}
        }
    }

    /// @dev The first actor of `kind` at or after `seed`, or address(0) when there is none.
    function _pick(uint256 seed, IHeitjeToken.AccountKind kind) internal view returns (address) {
        for (uint256 i; i < ACTORS; ++i) {
            address actor = _actors[(seed % ACTORS + i) % ACTORS];
            if (token.accountKind(actor) == kind) return actor;
        }
        return address(0);
    }

    function _digest(bytes32 structHash) internal view returns (bytes32) {
        return keccak256(abi.encodePacked("\x19\x01", token.DOMAIN_SEPARATOR(), structHash));
    }
}

/// @notice Economic invariants of HeitjeToken under random sequences of
/// registrations, rewards (fresh and repeated tasks), payments, refunds and
/// redemptions.
contract HeitjeTokenInvariantTest is Test {
    HeitjeToken internal token;
    HeitjeHandler internal handler;

    function setUp() public {
        vm.warp(1_700_000_000);
        address admin = makeAddr("admin");
        address minter = makeAddr("minter");
        address registrar = makeAddr("registrar");
        address pauser = makeAddr("pauser");
        token = new HeitjeToken(admin, minter, registrar, pauser);
        handler = new HeitjeHandler(token, minter, registrar);

        bytes4[] memory selectors = new bytes4[](8);
        selectors[0] = HeitjeHandler.registerAccount.selector;
        selectors[1] = HeitjeHandler.mintRewardFresh.selector;
        selectors[2] = HeitjeHandler.mintRewardRepeat.selector;
        selectors[3] = HeitjeHandler.pay.selector;
        selectors[4] = HeitjeHandler.refund.selector;
        selectors[5] = HeitjeHandler.tryAnyTransfer.selector;
        selectors[6] = HeitjeHandler.redeem.selector;
        selectors[7] = HeitjeHandler.redeem.selector; // redemptions twice as likely: they drain supply
        targetContract(address(handler));
        targetSelector(FuzzSelector({addr: address(handler), selectors: selectors}));
    }

    /// @dev Coins exist only as minted rewards not yet redeemed, by the ghosts and by the token's own totals.
    function invariant_SupplyEqualsMintedMinusRedeemed() public view {
        assertEq(
            token.totalSupply(), handler.ghostMinted() - handler.ghostRedeemed(), "supply != ghost minted - redeemed"
        );
        assertEq(token.totalMinted(), handler.ghostMinted(), "totalMinted != ghost minted");
        assertEq(token.totalRedeemed(), handler.ghostRedeemed(), "totalRedeemed != ghost redeemed");
        assertEq(
            token.totalSupply(), token.totalMinted() - token.totalRedeemed(), "supply != totalMinted - totalRedeemed"
        );
    }

    /// @dev Every coin is in some actor's balance.
    function invariant_SupplyEqualsSumOfBalances() public view {
        address[] memory actors = handler.actors();
        uint256 sum;
        for (uint256 i; i < actors.length; ++i) {
            sum += token.balanceOf(actors[i]);
        }
        assertEq(token.totalSupply(), sum, "supply != sum of balances");
    }

    /// @dev Each successful mint rewarded a task never rewarded before.
    function invariant_NoTaskRewardedTwice() public view {
        bytes32[] memory refs = handler.rewardedTaskRefs();
        assertEq(handler.ghostMintCount(), refs.length, "more mints than distinct taskRefs");
        for (uint256 i; i < refs.length; ++i) {
            assertTrue(token.isTaskRewarded(refs[i]), "rewarded taskRef not marked");
        }
    }

    /// @dev Only registered citizens and shops hold HEIT.
    function invariant_OnlyRegisteredHoldHeit() public view {
        address[] memory actors = handler.actors();
        for (uint256 i; i < actors.length; ++i) {
            if (token.balanceOf(actors[i]) != 0) {
                assertTrue(token.accountKind(actors[i]) != IHeitjeToken.AccountKind.None, "unregistered holder");
            }
        }
    }

    /// @dev Nothing but citizen -> shop and shop -> citizen ever moved HEIT between holders.
    function invariant_OnlyPolicyTransfersSucceed() public view {
        assertEq(handler.ghostForbiddenMoves(), 0, "a transfer outside policy succeeded");
    }

    /// @dev Redemption ids run 1..count, and the records add up to totalRedeemed.
    function invariant_RedemptionsAddUp() public view {
        uint256 count = token.redemptionCount();
        assertEq(count, handler.ghostRedemptionCount(), "redemptionCount != ghost count");
        uint256 sum;
        for (uint256 id = 1; id <= count; ++id) {
            sum += token.redemption(id).amount;
        }
        assertEq(sum, token.totalRedeemed(), "sum of redemptions != totalRedeemed");
    }
}
