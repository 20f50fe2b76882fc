// SPDX-License-Identifier: UNLICENSED
pragma solidity 0.8.37;

/// @title BetLedger: an append-only audit trail of settled big wins.
/// @notice Each win is keyed by SHA-256(betSlipId) and stored once, forever. Amounts are integer
///         kobo (1 NGN = 100 kobo), so the chain never sees a fraction.
/// @dev Self-contained on purpose (no imports): the whole trust surface is this file.
///
/// Storage: one slot per record, laid out as
///     [ recorder: address (160) | recordedAt: uint40 (40) | amount: uint56 (56) ] = 256 bits.
///   - uint56 kobo tops out at ~7.2e16 kobo = ~720 trillion naira: far beyond any single win.
///   - uint40 seconds lasts until the year 36812.
///   - recorder is never the zero address (it is msg.sender), so `recorder != 0` means "exists";
///     a zero amount is therefore still distinguishable from "absent".
///
/// Batch semantics: `recordBets` SKIPS hashes that are already recorded (including a repeat
/// inside the same batch) without emitting anything for them, so one retried bet cannot block
/// the rest of a batch; it returns how many it recorded. `recordBet` (single) reverts with
/// AlreadyRecorded, because a caller recording one bet wants to know. A zero hash or an
/// oversized amount reverts the whole batch: those are caller bugs, not benign retries.
contract BetLedger {
    struct Record {
        uint56 amount;
        uint40 recordedAt;
        address recorder;
    }

    /// Both counters in one slot so a batch pays for one stats write, not one per bet.
    struct Stats {
        uint128 totalBets;
        uint128 totalAmount;
    }

    error AlreadyRecorded(bytes32 betHash);
    error LengthMismatch();
    error ZeroHash();
    error Unauthorized(address caller);
    error AmountTooLarge();
    error ZeroAddress();

    event BetRecorded(bytes32 indexed betHash, uint256 amount, address indexed recorder);
    event RecorderGranted(address indexed account, address indexed admin);
    event RecorderRevoked(address indexed account, address indexed admin);
    event AdminTransferStarted(address indexed admin, address indexed pendingAdmin);
    event AdminTransferred(address indexed previousAdmin, address indexed newAdmin);

    address public admin;
    address public pendingAdmin;
    mapping(address account => bool) public isRecorder;
    mapping(bytes32 betHash => Record) private _records;
    Stats private _stats;

    modifier onlyAdmin() {
        if (msg.sender != admin) revert Unauthorized(msg.sender);
        _;
    }

    modifier onlyRecorder() {
        if (!isRecorder[msg.sender]) revert Unauthorized(msg.sender);
        _;
    }

    constructor() {
        admin = msg.sender;
        emit AdminTransferred(address(0), msg.sender);
    }

    // ---------------------------------------------------------------- roles

    function grantRecorder(address account) external onlyAdmin {
        if (account == address(0)) revert ZeroAddress();
        isRecorder[account] = true;
        emit RecorderGranted(account, msg.sender);
    }

    function revokeRecorder(address account) external onlyAdmin {
        isRecorder[account] = false;
        emit RecorderRevoked(account, msg.sender);
    }

    /// Two steps: the new admin must accept, so a mistyped address cannot strand the role.
    function transferAdmin(address newAdmin) external onlyAdmin {
        if (newAdmin == address(0)) revert ZeroAddress();
        pendingAdmin = newAdmin;
        emit AdminTransferStarted(msg.sender, newAdmin);
    }

    function acceptAdmin() external {
        if (msg.sender != pendingAdmin) revert Unauthorized(msg.sender);
        emit AdminTransferred(admin, msg.sender);
        admin = msg.sender;
        pendingAdmin = address(0);
    }

    // ---------------------------------------------------------------- writes

    /// @return sequence The 1-based position of this bet among all recorded bets.
    function recordBet(bytes32 betHash, uint256 winAmount)
        external
        onlyRecorder
        returns (uint256 sequence)
    {
        if (!_store(betHash, winAmount)) revert AlreadyRecorded(betHash);
        Stats memory s = _stats;
        unchecked {
            // Cannot overflow: totalBets < 2^128 writes, totalAmount < 2^128 / 2^56 records.
            s.totalBets += 1;
            s.totalAmount += uint128(winAmount);
        }
        _stats = s;
        return s.totalBets;
    }

    /// @return recorded How many bets were newly recorded (duplicates are skipped).
    function recordBets(bytes32[] calldata hashes, uint256[] calldata amounts)
        external
        onlyRecorder
        returns (uint256 recorded)
    {
        uint256 n = hashes.length;
        if (n != amounts.length) revert LengthMismatch();
        uint256 added;
        for (uint256 i; i < n;) {
            uint256 amount = amounts[i];
            if (_store(hashes[i], amount)) {
                unchecked {
                    ++recorded;
                    added += amount; // < n * 2^56: cannot overflow
                }
            }
            unchecked {
                ++i;
            }
        }
        if (recorded != 0) {
            Stats memory s = _stats;
            unchecked {
                s.totalBets += uint128(recorded);
                s.totalAmount += uint128(added);
            }
            _stats = s;
        }
    }

    /// Writes one record; false when the hash is already recorded (nothing written or emitted).
    function _store(bytes32 betHash, uint256 amount) private returns (bool) {
        if (betHash == bytes32(0)) revert ZeroHash();
        if (amount > type(uint56).max) revert AmountTooLarge();
        if (_records[betHash].recorder != address(0)) return false;
        _records[betHash] = Record({
            amount: uint56(amount),
            recordedAt: uint40(block.timestamp),
            recorder: msg.sender
        });
        emit BetRecorded(betHash, amount, msg.sender);
        return true;
    }

    // ---------------------------------------------------------------- reads

    /// Unknown hashes read as (0, 0, address(0)); use betExists to tell them apart.
    function getBetRecord(bytes32 betHash)
        external
        view
        returns (uint256 amount, uint256 recordedAt, address recorder)
    {
        Record memory r = _records[betHash];
        return (r.amount, r.recordedAt, r.recorder);
    }

    function betExists(bytes32 betHash) external view returns (bool) {
        return _records[betHash].recorder != address(0);
    }

    function getStats() external view returns (uint256 totalBets, uint256 totalAmount) {
        Stats memory s = _stats;
        return (s.totalBets, s.totalAmount);
    }
}
