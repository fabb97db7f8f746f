// SPDX-License-Identifier: EUPL-1.2
pragma solidity ^0.8.24;

import {IHeitjeToken} from "../../src/IHeitjeToken.sol";

/// @title BulkRedeemer
/// @notice For benchmarks and tests only, never deployed for real: a shop that makes many
/// redemptions in one transaction (`bench/settle_scale.py` makes 100,000 on anvil this way).
/// The registrar registers it as a shop and a citizen pays it HEIT first.
contract BulkRedeemer {
    /// @notice The token it redeems at.
    IHeitjeToken public immutable token;

    /// @param token_ The token.
    constructor(IHeitjeToken token_) {
        token = token_;
    }

    /// @notice Redeem `n` times, 1 + ((start + i) % 5) base units the i-th time.
    function redeemMany(uint256 n, uint256 start) external {
        for (uint256 i; i < n; ++i) {
            token.redeem(1 + ((start + i) % 5));
        }
    }
}
