// SPDX-License-Identifier: EUPL-1.2
pragma solidity ^0.8.24;

/// @title A minimal test base over forge's own cheatcodes
/// @notice forge-std is not reachable offline, so this file declares just what
/// our tests use: the cheatcodes (`Vm`), assertions, `bound`, and the
/// invariant-target plumbing that forge reads (`targetContracts()`,
/// `targetSelectors()`). Signatures match forge's cheatcode interface; a
/// cheatcode not declared here is simply not available to the tests.

/// @notice The forge cheatcodes used by our tests (subset of forge-std's `Vm`).
interface Vm {
    /// An event recorded by `recordLogs`.
    struct Log {
        bytes32[] topics;
        bytes data;
        address emitter;
    }

    // ----- caller, time, chain -----
    function prank(address msgSender) external;
    function startPrank(address msgSender) external;
    function stopPrank() external;
    function warp(uint256 newTimestamp) external;
    function chainId(uint256 newChainId) external;

    // ----- expectations -----
    function expectRevert() external;
    function expectRevert(bytes4 revertData) external;
    function expectRevert(bytes calldata revertData) external;
    /// Checks topic 1..3 and data as flagged, and the emitter, of the next event.
    function expectEmit(bool checkTopic1, bool checkTopic2, bool checkTopic3, bool checkData, address emitter) external;
    /// Checks every topic, the data and the emitter of the next event.
    function expectEmit(address emitter) external;
    /// Records every event emitted from now on, for `getRecordedLogs`.
    function recordLogs() external;
    /// The events recorded since `recordLogs` (or the last read), and clears them.
    function getRecordedLogs() external returns (Log[] memory logs);

    // ----- keys and signatures -----
    function addr(uint256 privateKey) external pure returns (address keyAddr);
    function sign(uint256 privateKey, bytes32 digest) external pure returns (uint8 v, bytes32 r, bytes32 s);

    // ----- gas -----
    /// Stop charging gas (set-up loops that would pass the test's gas limit).
    function pauseGasMetering() external;
    /// Charge gas again.
    function resumeGasMetering() external;

    // ----- fuzzing and debugging -----
    function assume(bool condition) external pure;
    function label(address account, string calldata newLabel) external;

    // ----- assertions (revert with a readable "assertion failed: ..." message) -----
    function assertTrue(bool condition, string calldata message) external pure;
    function assertFalse(bool condition, string calldata message) external pure;
    function assertEq(bool left, bool right, string calldata message) external pure;
    function assertEq(uint256 left, uint256 right, string calldata message) external pure;
    function assertEq(address left, address right, string calldata message) external pure;
    function assertEq(bytes32 left, bytes32 right, string calldata message) external pure;
    function assertEq(string calldata left, string calldata right, string calldata message) external pure;
    function assertLe(uint256 left, uint256 right, string calldata message) external pure;
    function assertGe(uint256 left, uint256 right, string calldata message) external pure;
}

/// @notice `vm` and `bound`, for tests and for the handlers that tests drive.
abstract contract TestBase {
    /// @dev The cheatcode address forge answers at.
    Vm internal constant vm = Vm(address(uint160(uint256(keccak256("hevm cheat code")))));

    /// @dev Map any `x` into [min, max]. Values already inside are kept, and the
    /// edges of uint256 (0..3, max-3..max) land on the edges of the range, so
    /// the fuzzer's favourite values still reach the boundaries (as forge-std).
    function bound(uint256 x, uint256 min, uint256 max) internal pure returns (uint256) {
        require(min <= max, "bound: min > max");
        if (x >= min && x <= max) return x;
        uint256 size = max - min + 1; // cannot overflow: [min, max] is not all of uint256 here
        if (x <= 3 && size > x) return min + x;
        if (x >= type(uint256).max - 3 && size > type(uint256).max - x) return max - (type(uint256).max - x);
        if (x > max) {
            uint256 rem = (x - max) % size;
            return rem == 0 ? max : min + rem - 1;
        }
        uint256 remBelow = (min - x) % size;
        return remBelow == 0 ? min : max - remBelow + 1;
    }
}

/// @notice Base of every test contract: assertions, named keys, invariant targets.
abstract contract Test is TestBase {
    /// @dev One entry of `targetSelectors()`: fuzz only `selectors` of `addr`.
    struct FuzzSelector {
        address addr;
        bytes4[] selectors;
    }

    address[] private _targetedContracts;
    FuzzSelector[] private _targetedSelectors;

    // ----- assertions -----

    function assertTrue(bool condition) internal pure {
        vm.assertTrue(condition, "expected true");
    }

    function assertTrue(bool condition, string memory message) internal pure {
        vm.assertTrue(condition, message);
    }

    function assertFalse(bool condition) internal pure {
        vm.assertFalse(condition, "expected false");
    }

    function assertFalse(bool condition, string memory message) internal pure {
        vm.assertFalse(condition, message);
    }

    function assertEq(bool left, bool right) internal pure {
        vm.assertEq(left, right, "bool mismatch");
    }

    function assertEq(bool left, bool right, string memory message) internal pure {
        vm.assertEq(left, right, message);
    }

    function assertEq(uint256 left, uint256 right) internal pure {
        vm.assertEq(left, right, "uint mismatch");
    }

    function assertEq(uint256 left, uint256 right, string memory message) internal pure {
        vm.assertEq(left, right, message);
    }

    function assertEq(address left, address right) internal pure {
        vm.assertEq(left, right, "address mismatch");
    }

    function assertEq(address left, address right, string memory message) internal pure {
        vm.assertEq(left, right, message);
    }

    function assertEq(bytes32 left, bytes32 right) internal pure {
        vm.assertEq(left, right, "bytes32 mismatch");
    }

    function assertEq(bytes32 left, bytes32 right, string memory message) internal pure {
        vm.assertEq(left, right, message);
    }

    function assertLe(uint256 left, uint256 right, string memory message) internal pure {
        vm.assertLe(left, right, message);
    }

    function assertGe(uint256 left, uint256 right, string memory message) internal pure {
        vm.assertGe(left, right, message);
    }

    function assertEq(string memory left, string memory right) internal pure {
        vm.assertEq(left, right, "string mismatch");
    }

    // ----- named accounts -----

    /// @dev A deterministic private key and its address, labelled `name` in traces.
    function makeAddrAndKey(string memory name) internal returns (address account, uint256 privateKey) {
        privateKey = uint256(keccak256(bytes(name)));
        account = vm.addr(privateKey);
        vm.label(account, name);
    }

    /// @dev A deterministic address labelled `name` in traces.
    function makeAddr(string memory name) internal returns (address account) {
        (account,) = makeAddrAndKey(name);
    }

    // ----- invariant targets (read by forge before an invariant run) -----

    /// @dev Let the invariant fuzzer call `target` (only the targeted contracts, when any are set).
    function targetContract(address target) internal {
        _targetedContracts.push(target);
    }

    /// @dev Let the invariant fuzzer call only `selector.selectors` of `selector.addr`.
    function targetSelector(FuzzSelector memory selector) internal {
        _targetedSelectors.push(selector);
    }

    /// @notice Contracts the invariant fuzzer calls; read by forge.
    function targetContracts() public view returns (address[] memory) {
        return _targetedContracts;
    }

    /// @notice Functions the invariant fuzzer calls; read by forge.
    function targetSelectors() public view returns (FuzzSelector[] memory) {
        return _targetedSelectors;
    }
}
