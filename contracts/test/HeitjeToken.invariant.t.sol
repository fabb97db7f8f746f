// SPDX-License-Identifier: EUPL-1.2
pragma solidity ^0.8.24;

import {HeitjeToken} from "../src/HeitjeToken.sol";
import {IHeitjeToken} from "../src/IHeitjeToken.sol";
import {Test, TestBase} from "./utils/Test.sol";

/// @notice What the invariant fuzzer drives: a small town of actors (citizens,
/// shops, some unregistered) doing what the service does, each call made as the
/// right role holder or account. Calls the contract refuses are caught and
/// counted for nothing; every successful state change updates the ghost totals
/// the invariants compare with the token. Where the rules decide an outcome
/// (rewards, settlements, recoveries, periods), the handler predicts it from its
/// ghosts first and counts every surprise, both ways.
contract HeitjeHandler is TestBase {
    uint256 internal constant ACTORS = 8; // at the start; recovery adds fresh accounts
    uint256 internal constant MAX_ACTORS = 16;
    uint256 internal constant MAX_REWARD = 1e15; // base units (10^13 HEIT), far above real rewards
    uint256 internal constant MAX_BATCH = 8;
    uint256 internal constant MAX_SETTLEMENT = 6;
    /// @dev The first period (opened here, at deployment): budget and cap far above what the run can mint.
    uint256 internal constant FIRST_BUDGET = type(uint128).max;
    uint256 internal constant FIRST_CAP = type(uint128).max;

    /// @dev A reward period as the handler opened it, and what it minted in it.
    struct GhostPeriod {
        uint64 start;
        uint256 budget;
        uint256 cap;
        uint256 minted;
    }

    /// @dev A settlement batch as the handler recorded it.
    struct GhostBatch {
        bytes32 batchId;
        uint256 redemptions;
        uint256 totalUnits;
        uint256 totalCents;
        bytes32 fileHash;
        uint256 parts;
        uint256 lastId;
        bool closed;
    }

    HeitjeToken public immutable token;
    address internal immutable admin;
    address internal immutable minter;
    address internal immutable registrar;
    address internal immutable pauser;
    address internal immutable settler;

    address[] internal _actors;
    mapping(address actor => uint256) internal _keys;

    /// @dev Time as the handler moved it; every action starts by warping here.
    uint256 public currentTime;

    // ----- ghosts: supply and tasks -----
    uint256 public ghostMinted; // sum of successful reward amounts
    uint256 public ghostRedeemed; // sum of successful redemption amounts
    uint256 public ghostMintCount; // number of rewards minted (single or in a batch)
    uint256 public ghostRedemptionCount; // number of successful redemptions
    uint256 public ghostForbiddenMoves; // transfers outside policy that succeeded (must stay 0)
    bytes32[] internal _rewardedTaskRefs; // distinct taskRefs rewarded, in order
    mapping(bytes32 taskRef => bool) internal _seenTaskRef;
    uint256[] internal _redemptionAmounts; // by redemption id - 1

    // ----- ghosts: periods -----
    GhostPeriod[] internal _periods; // by period id - 1
    mapping(uint256 periodId => mapping(address citizen => uint256)) public ghostRewards;

    // ----- ghosts: settlements -----
    mapping(uint256 redemptionId => bytes32 batchId) public ghostSettledIn;
    mapping(bytes32 batchId => uint256 indexPlusOne) internal _batchIndex;
    GhostBatch[] internal _batches;
    uint256 public ghostSettledCount; // redemptions recorded in some settlement
    uint256 public ghostDoubleSettlements; // a redemption recorded a second time (must stay 0)

    // ----- ghosts: pause -----
    bool public ghostPaused;
    uint256 public snapSupply;
    uint256 public snapMinted;
    uint256 public snapRedeemed;
    uint256 public snapRedemptionCount;
    uint256 public snapSettledCount;
    uint256 public snapActorCount;
    mapping(address actor => uint256) public snapBalance;

    // ----- surprises: the contract decided otherwise than the rules (all must stay 0) -----
    uint256 public ghostWrongAccepts; // accepted though the rules refuse it
    uint256 public ghostWrongRefusals; // refused though the rules accept it

    // ----- counters for the run summary -----
    uint256 public ghostBatchMints; // batches minted
    uint256 public ghostRecoveries; // recoveries done
    uint256 public ghostPausedCalls; // actions attempted while paused
    uint256 public ghostRepeatRefusals; // rewards refused for a repeated task reference
    uint256 public ghostLimitRefusals; // rewards refused for the period's budget or the citizen's cap

    uint256 internal _taskCounter;
    uint256 internal _nonceCounter;
    uint256 internal _batchCounter;

    constructor(
        HeitjeToken token_,
        address admin_,
        address minter_,
        address registrar_,
        address pauser_,
        address settler_
    ) {
        token = token_;
        admin = admin_;
        minter = minter_;
        registrar = registrar_;
        pauser = pauser_;
        settler = settler_;
        currentTime = block.timestamp;

        vm.prank(admin);
        token.openRewardPeriod(uint64(block.timestamp), FIRST_BUDGET, FIRST_CAP);
        _periods.push(GhostPeriod({start: uint64(block.timestamp), budget: FIRST_BUDGET, cap: FIRST_CAP, minted: 0}));

        // Actors 0-3 start as citizens, 4-6 as shops, 7 unregistered.
        for (uint256 i; i < ACTORS; ++i) {
            IHeitjeToken.AccountKind kind = i < 4
                ? IHeitjeToken.AccountKind.Citizen
                : i < 7 ? IHeitjeToken.AccountKind.Shop : IHeitjeToken.AccountKind.None;
            _newActor(kind);
        }
    }

    /// @dev Every action runs at the handler's clock.
    modifier useTime() {
        vm.warp(currentTime);
        if (ghostPaused) ++ghostPausedCalls;
        _;
    }

    // =====================================================================
    // actions (the fuzzer's targets)
    // =====================================================================

    /// @dev The registrar (re)registers an actor; refused when its kind changes while it holds HEIT.
    function registerAccount(uint256 actorSeed, uint256 kindSeed) external useTime {
        address actor = _actors[actorSeed % _actors.length];
        IHeitjeToken.AccountKind kind = IHeitjeToken.AccountKind(kindSeed % 3);
        vm.prank(registrar);
        try token.registerAccount(actor, kind) {} catch {}
    }

    /// @dev The minter rewards a citizen for a task never seen before.
    function mintRewardFresh(uint256 citizenSeed, uint256 amount) external useTime {
        bytes32 taskRef = keccak256(abi.encode("task", ++_taskCounter));
        _mintReward(citizenSeed, amount, taskRef);
    }

    /// @dev The minter retries a task that was rewarded already (the outbox resending): must be refused.
    function mintRewardRepeat(uint256 citizenSeed, uint256 amount, uint256 refSeed) external useTime {
        if (_rewardedTaskRefs.length == 0) return;
        _mintReward(citizenSeed, amount, _rewardedTaskRefs[refSeed % _rewardedTaskRefs.length]);
    }

    /// @dev The minter rewards up to MAX_BATCH tasks in one batch; now and then the batch repeats a
    /// task reference inside itself or one rewarded before (then all of it must be refused).
    function mintRewardsBatch(uint256 seed, uint256 n, uint256 repeatSeed) external useTime {
        n = bound(n, 1, MAX_BATCH);
        address[] memory to = new address[](n);
        uint256[] memory amounts = new uint256[](n);
        bytes32[] memory taskRefs = new bytes32[](n);
        for (uint256 i; i < n; ++i) {
            to[i] = _pick(uint256(keccak256(abi.encode(seed, "to", i))), IHeitjeToken.AccountKind.Citizen);
            if (to[i] == address(0)) return;
            amounts[i] = bound(uint256(keccak256(abi.encode(seed, "amount", i))), 1, MAX_REWARD);
            taskRefs[i] = keccak256(abi.encode("task", ++_taskCounter));
        }
        uint256 mode = repeatSeed % 4;
        if (mode == 0 && n > 1) {
            taskRefs[n - 1] = taskRefs[(repeatSeed >> 8) % (n - 1)]; // repeated inside the batch
        } else if (mode == 1 && _rewardedTaskRefs.length > 0) {
            taskRefs[(repeatSeed >> 8) % n] = _rewardedTaskRefs[(repeatSeed >> 16) % _rewardedTaskRefs.length];
        }
        _mintItems(to, amounts, taskRefs, true);
    }

    /// @dev A citizen pays a shop, directly or through a signed EIP-3009 authorization.
    function pay(uint256 citizenSeed, uint256 shopSeed, uint256 amount, bool signed) external useTime {
        _move(
            _pick(citizenSeed, IHeitjeToken.AccountKind.Citizen),
            _pick(shopSeed, IHeitjeToken.AccountKind.Shop),
            amount,
            signed
        );
    }

    /// @dev A shop refunds a citizen, directly or through a signed EIP-3009 authorization.
    function refund(uint256 shopSeed, uint256 citizenSeed, uint256 amount, bool signed) external useTime {
        _move(
            _pick(shopSeed, IHeitjeToken.AccountKind.Shop),
            _pick(citizenSeed, IHeitjeToken.AccountKind.Citizen),
            amount,
            signed
        );
    }

    /// @dev Any actor tries to move HEIT to any other actor; only citizen <-> shop may succeed.
    function tryAnyTransfer(uint256 fromSeed, uint256 toSeed, uint256 amount) external useTime {
        address from = _actors[fromSeed % _actors.length];
        address to = _actors[toSeed % _actors.length];
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
    function redeem(uint256 shopSeed, uint256 amount, bool signed) external useTime {
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
            _redemptionAmounts.push(amount);
        }
    }

    /// @dev The settler records a part of a batch: up to MAX_SETTLEMENT redemption ids as ranges.
    /// By `seed % 4`: a clean ascending subset of the unsettled ids after the batch's last one;
    /// random ranges (settled or not, empty, descending, overlapping); a clean subset plus one id
    /// settled before; a clean subset plus an unknown id (0 or count + 1). The batch is new, an open
    /// one continued, or now and then zero or a closed one; a continued batch now and then names
    /// another file or euro total. The part closes the batch or leaves it open.
    function recordSettlement(uint256 seed, uint256 n, uint256 batchSeed) external useTime {
        uint256 count = ghostRedemptionCount;
        (bytes32 batchId, GhostBatch memory g) = _pickBatch(seed, batchSeed);
        IHeitjeToken.RedemptionRange[] memory ranges = _pickRanges(seed, bound(n, 0, MAX_SETTLEMENT), g.lastId);
        bool last = (seed >> 16) % 2 == 0;

        // What the rules say, from the ghosts.
        bool expectOk = !ghostPaused && batchId != bytes32(0) && !g.closed && ranges.length > 0;
        if (_batchIndex[batchId] != 0) {
            GhostBatch storage known = _batches[_batchIndex[batchId] - 1];
            if (known.fileHash != g.fileHash || known.totalCents != g.totalCents) expectOk = false;
        }
        uint256 previous = g.lastId;
        uint256 ids;
        uint256 units;
        for (uint256 i; i < ranges.length && expectOk; ++i) {
            (uint256 first, uint256 lastId) = (ranges[i].first, ranges[i].last);
            if (first == 0 || first > lastId || first <= previous || lastId > count) {
                expectOk = false;
                break;
            }
            for (uint256 id = first; id <= lastId; ++id) {
                if (ghostSettledIn[id] != bytes32(0)) expectOk = false;
                units += _redemptionAmounts[id - 1];
            }
            ids += lastId - first + 1;
            previous = lastId;
        }

        vm.prank(settler);
        try token.recordSettlementPart(batchId, ranges, g.totalCents, g.fileHash, last) {
            if (!expectOk) ++ghostWrongAccepts;
            _bookPart(batchId, g, ranges, ids, units, last);
        } catch {
            if (expectOk) ++ghostWrongRefusals;
        }
    }

    /// @dev The batch a part goes to, as the settler would send it (its file hash and cents).
    function _pickBatch(uint256 seed, uint256 batchSeed) internal returns (bytes32 batchId, GhostBatch memory g) {
        uint256 kind = batchSeed % 16;
        if (kind == 0) {
            g.fileHash = keccak256(abi.encode(seed, "payment file"));
            return (bytes32(0), g);
        }
        if (kind <= 8 && _batches.length > 0) {
            // An earlier batch: open ones mostly (continue it), closed ones now and then.
            uint256 start = (batchSeed >> 8) % _batches.length;
            uint256 pick = start;
            for (uint256 i; i < _batches.length; ++i) {
                uint256 j = (start + i) % _batches.length;
                if (!_batches[j].closed || kind == 1) {
                    pick = j;
                    break;
                }
            }
            g = _batches[pick];
            if ((seed >> 24) % 8 == 0) g.fileHash = keccak256(abi.encode(seed, "another file"));
            if ((seed >> 24) % 8 == 1) g.totalCents += 1;
            return (g.batchId, g);
        }
        batchId = keccak256(abi.encode("settlement batch", ++_batchCounter));
        g.batchId = batchId;
        g.totalCents = uint256(keccak256(abi.encode(seed, "cents"))) % 1e12;
        g.fileHash = keccak256(abi.encode(seed, "payment file"));
    }

    /// @dev Ranges of up to `n` ids, by `seed % 4` (see `recordSettlement`); clean ids come after `after`.
    function _pickRanges(uint256 seed, uint256 n, uint256 after_)
        internal
        view
        returns (IHeitjeToken.RedemptionRange[] memory ranges)
    {
        uint256 count = ghostRedemptionCount;
        uint256 mode = seed % 4;
        if (mode == 1) {
            ranges = new IHeitjeToken.RedemptionRange[](n);
            for (uint256 i; i < n; ++i) {
                uint256 a = uint256(keccak256(abi.encode(seed, "first", i))) % (count + 2);
                uint256 b = a + uint256(keccak256(abi.encode(seed, "length", i))) % 4;
                if (uint256(keccak256(abi.encode(seed, "swap", i))) % 8 == 0) (a, b) = (b, a);
                ranges[i] = IHeitjeToken.RedemptionRange(a, b);
            }
            return ranges;
        }
        // A clean ascending subset of the open ids after `after_`: consecutive open ids, every
        // other one skipped now and then, merged into ranges where they are adjacent.
        uint256[] memory open = _unsettled();
        uint256[] memory ids = new uint256[](n + 1);
        uint256 k;
        uint256 skip = (seed >> 8) % 3;
        for (uint256 i; i < open.length && k < n; ++i) {
            if (open[i] <= after_ || (skip == 2 && i % 2 == 1)) continue;
            ids[k++] = open[i];
        }
        if (k > 0 && mode == 2 && count > open.length) {
            ids[k++] = _settledId(seed); // one settled before (possibly out of order: also refused)
        } else if (k > 0 && mode == 3) {
            ids[k++] = (seed >> 32) % 2 == 0 ? 0 : count + 1;
        }
        ranges = new IHeitjeToken.RedemptionRange[](k);
        uint256 r;
        for (uint256 i; i < k; ++i) {
            if (r > 0 && ids[i] != 0 && ids[i] == ranges[r - 1].last + 1) {
                ranges[r - 1].last = ids[i];
            } else {
                ranges[r++] = IHeitjeToken.RedemptionRange(ids[i], ids[i]);
            }
        }
        assembly ("memory-safe") {
            mstore(ranges, r)
        }
    }

    /// @dev Book a recorded part in the ghosts.
    function _bookPart(
        bytes32 batchId,
        GhostBatch memory g,
        IHeitjeToken.RedemptionRange[] memory ranges,
        uint256 ids,
        uint256 units,
        bool last
    ) internal {
        for (uint256 i; i < ranges.length; ++i) {
            for (uint256 id = ranges[i].first; id <= ranges[i].last; ++id) {
                if (ghostSettledIn[id] != bytes32(0)) ++ghostDoubleSettlements;
                ghostSettledIn[id] = batchId;
            }
        }
        ghostSettledCount += ids;
        if (_batchIndex[batchId] == 0) {
            _batches.push(g);
            _batchIndex[batchId] = _batches.length;
        }
        GhostBatch storage b = _batches[_batchIndex[batchId] - 1];
        b.redemptions += ids;
        b.totalUnits += units;
        b.parts += 1;
        b.lastId = ranges[ranges.length - 1].last;
        b.closed = last;
    }

    /// @dev The registrar moves an account to a fresh key of the same kind (up to MAX_ACTORS
    /// actors), or, now and then, tries a shape the rules refuse: the same address, another
    /// kind, an unregistered account.
    function recoverAccount(uint256 fromSeed, uint256 mode, uint256 reasonSeed) external useTime {
        address from = _actors[fromSeed % _actors.length];
        IHeitjeToken.AccountKind kind = token.accountKind(from);
        IHeitjeToken.RecoveryReason reason = IHeitjeToken.RecoveryReason(reasonSeed % 3);
        address to;
        bool expectOk;
        if (mode % 4 == 0 || kind == IHeitjeToken.AccountKind.None || _actors.length >= MAX_ACTORS) {
            to = _actors[(mode >> 8) % _actors.length];
            // The contract would merge two registered accounts of the same kind, adding up both
            // citizens' rewards under one address (past the cap on paper, though nothing is minted
            // past it). The service recovers into fresh accounts only, and so does this handler.
            if (to != from && kind != IHeitjeToken.AccountKind.None && token.accountKind(to) == kind) return;
            expectOk = false;
        } else {
            to = _newActor(kind); // registration is allowed while paused
            expectOk = !ghostPaused;
        }

        vm.prank(registrar);
        try token.recoverAccount(from, to, reason) {
            if (!expectOk) ++ghostWrongAccepts;
            uint256 periodId = _ghostCurrentPeriod();
            ghostRewards[periodId][to] += ghostRewards[periodId][from];
            ghostRewards[periodId][from] = 0;
            ++ghostRecoveries;
        } catch {
            if (expectOk) ++ghostWrongRefusals;
        }
    }

    /// @dev The admin opens a period starting within 30 days (sometimes not after the last
    /// one's start: refused), with a budget and a cap that rewards do reach.
    function openPeriod(uint256 delay, uint256 budget, uint256 cap) external useTime {
        uint64 start = uint64(block.timestamp + bound(delay, 0, 30 days));
        budget = bound(budget, 0, 8 * MAX_REWARD);
        cap = bound(cap, 0, 3 * MAX_REWARD);
        bool expectOk = start > _periods[_periods.length - 1].start;
        vm.prank(admin);
        try token.openRewardPeriod(start, budget, cap) returns (uint256 periodId) {
            if (!expectOk || periodId != _periods.length + 1) ++ghostWrongAccepts;
            _periods.push(GhostPeriod({start: start, budget: budget, cap: cap, minted: 0}));
        } catch {
            if (expectOk) ++ghostWrongRefusals;
        }
    }

    /// @dev Time passes (up to 20 days), so opened periods come into force.
    function advanceTime(uint256 secondsToAdd) external {
        currentTime += bound(secondsToAdd, 0, 20 days);
        vm.warp(currentTime);
    }

    /// @dev The pauser pauses now and then (taking a snapshot), and mostly unpauses soon after.
    function togglePause(uint256 seed) external useTime {
        if (ghostPaused) {
            if (seed % 4 == 0) return; // stay paused a little longer
            vm.prank(pauser);
            token.unpause();
            ghostPaused = false;
        } else {
            if (seed % 4 != 0) return;
            vm.prank(pauser);
            token.pause();
            ghostPaused = true;
            _takeSnapshot();
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

    function periodCount() external view returns (uint256) {
        return _periods.length;
    }

    function period(uint256 periodId) external view returns (GhostPeriod memory) {
        return _periods[periodId - 1];
    }

    /// @dev Amounts of the redemptions by id - 1.
    function redemptionAmounts() external view returns (uint256[] memory) {
        return _redemptionAmounts;
    }

    /// @dev Rewards of each actor (in `actors()` order) in period `periodId`.
    function rewardsInPeriod(uint256 periodId) external view returns (uint256[] memory earned) {
        earned = new uint256[](_actors.length);
        for (uint256 i; i < _actors.length; ++i) {
            earned[i] = ghostRewards[periodId][_actors[i]];
        }
    }

    /// @dev The batch that settled each redemption (by id - 1), zero if none.
    function settledIn() external view returns (bytes32[] memory batchIds) {
        batchIds = new bytes32[](ghostRedemptionCount);
        for (uint256 i; i < batchIds.length; ++i) {
            batchIds[i] = ghostSettledIn[i + 1];
        }
    }

    /// @dev Balances of the actors (in `actors()` order) when the pause began; 0 for actors added since.
    function snapBalances() external view returns (uint256[] memory balances) {
        balances = new uint256[](_actors.length);
        for (uint256 i; i < snapActorCount; ++i) {
            balances[i] = snapBalance[_actors[i]];
        }
    }

    function batchCount() external view returns (uint256) {
        return _batches.length;
    }

    function batch(uint256 index) external view returns (GhostBatch memory) {
        return _batches[index];
    }

    /// @dev Redemptions the token says are settled, counted from its own records.
    function settledOnChain() public view returns (uint256 settled) {
        uint256 count = token.redemptionCount();
        for (uint256 id = 1; id <= count; ++id) {
            if (token.settlementOf(id) != bytes32(0)) ++settled;
        }
    }

    // =====================================================================
    // internals
    // =====================================================================

    function _mintReward(uint256 citizenSeed, uint256 amount, bytes32 taskRef) internal {
        address citizen = _pick(citizenSeed, IHeitjeToken.AccountKind.Citizen);
        if (citizen == address(0)) return;
        address[] memory to = new address[](1);
        uint256[] memory amounts = new uint256[](1);
        bytes32[] memory taskRefs = new bytes32[](1);
        (to[0], amounts[0], taskRefs[0]) = (citizen, bound(amount, 1, MAX_REWARD), taskRef);
        _mintItems(to, amounts, taskRefs, false);
    }

    /// @dev One reward (`mintReward`) or a batch (`mintRewards`): predict the outcome from the
    /// ghosts (task refs, period budget, cap per citizen, registry, pause), call, compare, and on
    /// success book every item.
    function _mintItems(address[] memory to, uint256[] memory amounts, bytes32[] memory taskRefs, bool asBatch)
        internal
    {
        uint256 n = to.length;
        uint256 periodId = _ghostCurrentPeriod();
        bool expectOk = !ghostPaused && periodId != 0;
        bool repeated;
        bool overLimit;
        if (expectOk) {
            GhostPeriod storage p = _periods[periodId - 1];
            uint256 periodMinted = p.minted;
            for (uint256 i; i < n && expectOk; ++i) {
                uint256 earned = ghostRewards[periodId][to[i]];
                for (uint256 j; j < i; ++j) {
                    if (taskRefs[j] == taskRefs[i]) repeated = true;
                    if (to[j] == to[i]) earned += amounts[j];
                }
                if (_seenTaskRef[taskRefs[i]]) repeated = true;
                if (amounts[i] > p.budget - periodMinted || earned + amounts[i] > p.cap) overLimit = true;
                if (repeated || overLimit || token.accountKind(to[i]) != IHeitjeToken.AccountKind.Citizen) {
                    expectOk = false;
                }
                periodMinted += amounts[i];
            }
        }

        bool ok;
        vm.prank(minter);
        if (asBatch) {
            try token.mintRewards(to, amounts, taskRefs) {
                ok = true;
            } catch {}
        } else {
            try token.mintReward(to[0], amounts[0], taskRefs[0]) {
                ok = true;
            } catch {}
        }
        if (!ok) {
            if (expectOk) ++ghostWrongRefusals;
            if (repeated) ++ghostRepeatRefusals;
            else if (overLimit) ++ghostLimitRefusals;
            return;
        }
        if (!expectOk) ++ghostWrongAccepts;
        if (asBatch) ++ghostBatchMints;
        for (uint256 i; i < n; ++i) {
            ghostMinted += amounts[i];
            ++ghostMintCount;
            if (periodId != 0) {
                _periods[periodId - 1].minted += amounts[i];
                ghostRewards[periodId][to[i]] += amounts[i];
            }
            if (!_seenTaskRef[taskRefs[i]]) {
                _seenTaskRef[taskRefs[i]] = true;
                _rewardedTaskRefs.push(taskRefs[i]);
            }
        }
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

    /// @dev A new actor with its own key, registered as `kind` unless None.
    function _newActor(IHeitjeToken.AccountKind kind) internal returns (address actor) {
        uint256 key = 0xC171_0000 + _actors.length;
        actor = vm.addr(key);
        _actors.push(actor);
        _keys[actor] = key;
        if (kind != IHeitjeToken.AccountKind.None) {
            vm.prank(registrar);
            token.registerAccount(actor, kind);
        }
    }

    /// @dev The first actor of `kind` at or after `seed`, or address(0) when there is none.
    function _pick(uint256 seed, IHeitjeToken.AccountKind kind) internal view returns (address) {
        uint256 n = _actors.length;
        for (uint256 i; i < n; ++i) {
            address actor = _actors[(seed % n + i) % n];
            if (token.accountKind(actor) == kind) return actor;
        }
        return address(0);
    }

    /// @dev The period in force now by the handler's own records (0 if none).
    function _ghostCurrentPeriod() internal view returns (uint256) {
        for (uint256 i = _periods.length; i > 0; --i) {
            if (_periods[i - 1].start <= block.timestamp) return i;
        }
        return 0;
    }

    /// @dev The id of a settled redemption, chosen by `seed` (there must be one).
    function _settledId(uint256 seed) internal view returns (uint256) {
        uint256 count = ghostRedemptionCount;
        for (uint256 i; i < count; ++i) {
            uint256 id = 1 + (seed + i) % count;
            if (ghostSettledIn[id] != bytes32(0)) return id;
        }
        revert("no settled redemption");
    }

    /// @dev Ids of redemptions not settled yet.
    function _unsettled() internal view returns (uint256[] memory ids) {
        uint256 count = ghostRedemptionCount;
        ids = new uint256[](count);
        uint256 k;
        for (uint256 id = 1; id <= count; ++id) {
            if (ghostSettledIn[id] == bytes32(0)) ids[k++] = id;
        }
        assembly ("memory-safe") {
            mstore(ids, k)
        }
    }

    function _takeSnapshot() internal {
        snapSupply = token.totalSupply();
        snapMinted = token.totalMinted();
        snapRedeemed = token.totalRedeemed();
        snapRedemptionCount = token.redemptionCount();
        snapSettledCount = settledOnChain();
        snapActorCount = _actors.length;
        for (uint256 i; i < _actors.length; ++i) {
            snapBalance[_actors[i]] = token.balanceOf(_actors[i]);
        }
    }

    function _digest(bytes32 structHash) internal view returns (bytes32) {
        return keccak256(abi.encodePacked("\x19\x01", token.DOMAIN_SEPARATOR(), structHash));
    }
}

/// @notice Economic invariants of HeitjeToken under random sequences of
/// registrations, rewards (fresh, repeated, batched), payments, refunds,
/// redemptions, settlements, recoveries, new periods, time and pauses.
contract HeitjeTokenInvariantTest is Test {
    HeitjeToken internal token;
    HeitjeHandler internal handler;

    function setUp() public {
        vm.warp(1_700_000_000);
        address admin = makeAddr("admin");
        address minter = makeAddr("minter");
        address registrar = makeAddr("registrar");
        address pauser = makeAddr("pauser");
        address settler = makeAddr("settler");
        token = new HeitjeToken(2 days, admin, minter, registrar, pauser, settler);
        // The handler opens period 1 (large budget and cap) and registers the actors.
        handler = new HeitjeHandler(token, admin, minter, registrar, pauser, settler);

        bytes4[] memory selectors = new bytes4[](15);
        selectors[0] = HeitjeHandler.registerAccount.selector;
        selectors[1] = HeitjeHandler.mintRewardFresh.selector;
        selectors[2] = HeitjeHandler.mintRewardRepeat.selector;
        selectors[3] = HeitjeHandler.pay.selector;
        selectors[4] = HeitjeHandler.refund.selector;
        selectors[5] = HeitjeHandler.tryAnyTransfer.selector;
        selectors[6] = HeitjeHandler.redeem.selector;
        selectors[7] = HeitjeHandler.redeem.selector; // redemptions twice as likely: they drain supply
        selectors[8] = HeitjeHandler.mintRewardsBatch.selector;
        selectors[9] = HeitjeHandler.recordSettlement.selector;
        selectors[10] = HeitjeHandler.recordSettlement.selector; // settlements need many tries to hit each rule
        selectors[11] = HeitjeHandler.recoverAccount.selector;
        selectors[12] = HeitjeHandler.openPeriod.selector;
        selectors[13] = HeitjeHandler.advanceTime.selector;
        selectors[14] = HeitjeHandler.togglePause.selector;
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

    /// @dev Every coin is in some actor's balance (recovered and fresh accounts included).
    function invariant_SupplyEqualsSumOfBalances() public view {
        address[] memory actors = handler.actors();
        uint256 sum;
        for (uint256 i; i < actors.length; ++i) {
            sum += token.balanceOf(actors[i]);
        }
        assertEq(token.totalSupply(), sum, "supply != sum of balances");
    }

    /// @dev Each reward, single or in a batch, was for a task never rewarded before.
    function invariant_NoTaskRewardedTwice() public view {
        bytes32[] memory refs = handler.rewardedTaskRefs();
        assertEq(handler.ghostMintCount(), refs.length, "more rewards than distinct taskRefs");
        for (uint256 i; i < refs.length; ++i) {
            assertTrue(token.isTaskRewarded(refs[i]), "rewarded taskRef not marked");
        }
    }

    /// @dev No period minted past its budget, no citizen got past the period's cap, and the
    /// token's per-period books match the ghosts (recoveries move a citizen's rewards along).
    function invariant_PeriodBudgetAndCitizenCapKept() public view {
        address[] memory actors = handler.actors();
        uint256 periods = handler.periodCount();
        uint256 mintedInPeriods;
        for (uint256 id = 1; id <= periods; ++id) {
            IHeitjeToken.RewardPeriod memory p = token.rewardPeriod(id);
            HeitjeHandler.GhostPeriod memory g = handler.period(id);
            uint256[] memory ghostEarned = handler.rewardsInPeriod(id);
            assertEq(p.start, g.start, "period start != ghost");
            assertEq(p.budget, g.budget, "period budget != ghost");
            assertEq(p.capPerCitizen, g.cap, "period cap != ghost");
            assertEq(p.minted, g.minted, "period minted != ghost");
            assertLe(p.minted, p.budget, "period budget exceeded");
            uint256 sum;
            for (uint256 i; i < actors.length; ++i) {
                uint256 earned = token.rewardsInPeriod(id, actors[i]);
                assertEq(earned, ghostEarned[i], "rewards in period != ghost");
                assertLe(earned, p.capPerCitizen, "citizen cap exceeded");
                sum += earned;
            }
            assertEq(sum, p.minted, "rewards of citizens != period minted");
            mintedInPeriods += p.minted;
        }
        assertEq(mintedInPeriods, token.totalMinted(), "periods' minted != totalMinted");
    }

    /// @dev Every redemption is recorded in at most one settlement; the records match the ghosts.
    function invariant_NoRedemptionSettledTwice() public view {
        assertEq(handler.ghostDoubleSettlements(), 0, "a redemption was settled twice");
        bytes32[] memory ghostSettledIn = handler.settledIn();
        uint256 count = token.redemptionCount();
        assertEq(count, ghostSettledIn.length, "redemptionCount != ghost count");
        uint256 settled;
        for (uint256 id = 1; id <= count; ++id) {
            bytes32 batchId = token.settlementOf(id);
            assertEq(batchId, ghostSettledIn[id - 1], "settlementOf != ghost");
            if (batchId != bytes32(0)) ++settled;
        }
        assertEq(settled, handler.ghostSettledCount(), "settled redemptions != ghost count");
        uint256 batches = handler.batchCount();
        uint256 inBatches;
        for (uint256 i; i < batches; ++i) {
            HeitjeHandler.GhostBatch memory g = handler.batch(i);
            IHeitjeToken.Settlement memory s = token.settlement(g.batchId);
            assertEq(s.redemptions, g.redemptions, "settlement count != ghost");
            assertEq(s.totalUnits, g.totalUnits, "settlement units != sum of its redemptions");
            assertEq(s.totalCents, g.totalCents, "settlement cents != ghost");
            assertEq(s.fileHash, g.fileHash, "settlement file hash != ghost");
            assertEq(s.parts, g.parts, "settlement parts != ghost");
            assertEq(s.lastId, g.lastId, "settlement last id != ghost");
            assertEq(s.closed, g.closed, "settlement closed != ghost");
            inBatches += s.redemptions;
        }
        assertEq(inBatches, settled, "redemptions in batches != settled redemptions");
    }

    /// @dev Only registered citizens and shops hold HEIT (a recovered account holds none).
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

    /// @dev Redemption ids run 1..count, each as the handler redeemed it, and they add up to totalRedeemed.
    function invariant_RedemptionsAddUp() public view {
        uint256[] memory ghostAmounts = handler.redemptionAmounts();
        uint256 count = token.redemptionCount();
        assertEq(count, handler.ghostRedemptionCount(), "redemptionCount != ghost count");
        assertEq(count, ghostAmounts.length, "redemptionCount != ghost amounts");
        uint256 sum;
        for (uint256 id = 1; id <= count; ++id) {
            uint256 amount = token.redemption(id).amount;
            assertEq(amount, ghostAmounts[id - 1], "redemption amount != ghost");
            sum += amount;
        }
        assertEq(sum, token.totalRedeemed(), "sum of redemptions != totalRedeemed");
    }

    /// @dev While paused, nothing moves: supply, minted, redeemed, every balance and the settled
    /// count are as the snapshot taken when the pause began.
    function invariant_PausedMeansNoStateChange() public view {
        assertEq(token.paused(), handler.ghostPaused(), "paused != ghost");
        if (!token.paused()) return;
        assertEq(token.totalSupply(), handler.snapSupply(), "supply changed while paused");
        assertEq(token.totalMinted(), handler.snapMinted(), "minted changed while paused");
        assertEq(token.totalRedeemed(), handler.snapRedeemed(), "redeemed changed while paused");
        assertEq(token.redemptionCount(), handler.snapRedemptionCount(), "redemptions changed while paused");
        assertEq(handler.settledOnChain(), handler.snapSettledCount(), "settled count changed while paused");
        address[] memory actors = handler.actors();
        uint256[] memory before = handler.snapBalances();
        for (uint256 i; i < actors.length; ++i) {
            assertEq(token.balanceOf(actors[i]), before[i], "balance changed while paused");
        }
    }

    /// @dev The contract accepted and refused exactly what the rules (as the ghosts apply them)
    /// accept and refuse: rewards, batches, settlements, recoveries and new periods.
    function invariant_OutcomesMatchTheRules() public view {
        assertEq(handler.ghostWrongAccepts(), 0, "accepted what the rules refuse");
        assertEq(handler.ghostWrongRefusals(), 0, "refused what the rules accept");
    }
}
