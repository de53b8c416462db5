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
    private let entries = Mutex<(found: [String: Entry], generation: Int)>(([:], 0))
    /// Most keys kept: past it, all go (a key that comes back is read again; sorting them to keep some
    /// would hold the lock too long).
    static let capacity = 10_000

    struct Entry {
        var key: APIKey
        var teamLimits: Limits
        var foundAt: Int64
    }

    init() {}

    /// Which forgetting a read of the store started after: a key read before a change of this node is
    /// not kept after it (it may be the row from before the change).
    func generation() -> Int { entries.withLock { $0.generation } }

    func find(secretHash: String, now: Int64) -> (key: APIKey, teamLimits: Limits)? {
        let lifetime = lifetimeMilliseconds.load(ordering: .relaxed)
        guard lifetime > 0 else { return nil }
        return entries.withLock { entries in
            guard let entry = entries.found[secretHash] else { return nil }
            guard now - entry.foundAt < lifetime else {
                entries.found[secretHash] = nil
                return nil
            }
            return (entry.key, entry.teamLimits)
        }
    }

    /// Keeps what a read begun at `generation` found, unless something was forgotten since.
    func keep(_ key: APIKey, teamLimits: Limits, secretHash: String, now: Int64, readAt generation: Int) {
        guard lifetimeMilliseconds.load(ordering: .relaxed) > 0 else { return }
        entries.withLock { entries in
            guard entries.generation == generation else { return }
            if entries.found.count >= Self.capacity { entries.found.removeAll() }
            entries.found[secretHash] = Entry(key: key, teamLimits: teamLimits, foundAt: now)
        }
    }

    /// Records that `keyID` was used at `now`, so that the kept key does not ask for the write again.
    func used(_ keyID: String, at now: Int64) {
        entries.withLock { entries in
            for (hash, entry) in entries.found where entry.key.id == keyID { entries.found[hash]?.key.lastUsedAt = now }
        }
    }

    /// Forgets the key `keyID` (revoked, rotated, its limits changed).
    func forget(keyID: String) {
        entries.withLock { entries in
            entries.found = entries.found.filter { $0.value.key.id != keyID }
            entries.generation += 1
        }
    }

    /// Forgets every key (a team's limits changed).
    func forgetAll() {
        entries.withLock { entries in
            entries.found.removeAll()
            entries.generation += 1
        }
    }
}
