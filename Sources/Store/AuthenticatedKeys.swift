import Synchronization

/// Keys recently found by their secret, with their team's limits, so that a key's next requests are
/// authenticated without reading the store (a query, and a thread hop, on every request otherwise).
/// What this process changes of a key or a team's limits is forgotten at once; a change made by another
/// node (or by `conduit keys` beside a running server) is seen within `lifetime`. Expiry is still checked
/// at every request, against the key as found.
public final class AuthenticatedKeys: Sendable {
    /// How long a key found stays trusted; zero keeps none. Set by the server from `auth.key_cache_seconds`.
    public var lifetime: Duration {
        get { Duration.milliseconds(lifetimeMilliseconds.load(ordering: .relaxed)) }
        set { lifetimeMilliseconds.store(Int64(newValue / .milliseconds(1)), ordering: .relaxed) }
    }
    private let lifetimeMilliseconds = Atomic<Int64>(0)
    private let entries = Mutex<[String: Entry]>([:])
    /// Most keys kept: past it, the oldest half goes (a key that comes back is read again).
    static let capacity = 10_000

    struct Entry {
        var key: APIKey
        var teamLimits: Limits
        var foundAt: Int64
    }

    init() {}

    func find(secretHash: String, now: Int64) -> (key: APIKey, teamLimits: Limits)? {
        let lifetime = lifetimeMilliseconds.load(ordering: .relaxed)
        guard lifetime > 0 else { return nil }
        return entries.withLock { entries in
            guard let entry = entries[secretHash] else { return nil }
            guard now - entry.foundAt < lifetime else {
                entries[secretHash] = nil
                return nil
            }
            return (entry.key, entry.teamLimits)
        }
    }

    func keep(_ key: APIKey, teamLimits: Limits, secretHash: String, now: Int64) {
        guard lifetimeMilliseconds.load(ordering: .relaxed) > 0 else { return }
        entries.withLock { entries in
            if entries.count >= Self.capacity {
                let oldest = entries.sorted { $0.value.foundAt < $1.value.foundAt }.prefix(Self.capacity / 2).map(\.key)
                for hash in oldest { entries[hash] = nil }
            }
            entries[secretHash] = Entry(key: key, teamLimits: teamLimits, foundAt: now)
        }
    }

    /// Records that `keyID` was used at `now`, so that the kept key does not ask for the write again.
    func used(_ keyID: String, at now: Int64) {
        entries.withLock { entries in
            for (hash, entry) in entries where entry.key.id == keyID { entries[hash]?.key.lastUsedAt = now }
        }
    }

    /// Forgets the key `keyID` (revoked, rotated, its limits changed).
    func forget(keyID: String) {
        entries.withLock { entries in entries = entries.filter { $0.value.key.id != keyID } }
    }

    /// Forgets every key (a team's limits changed).
    func forgetAll() {
        entries.withLock { $0.removeAll() }
    }
}
