import ConduitTestSupport
import Foundation
import SQLKit
import Testing

@testable import Store

@Suite("Store: agents' versions and projects")
struct AgentPlatformStoreTests {
    @Test(
        "an agent's declaration gets one number however many nodes record it at once; a new content the next number; a content seen before its old number",
        arguments: Backend.allCases)
    func agentVersions(backend: Backend) async throws {
        try await TestDatabase.with(backend) { store in
            let numbers = try await withThrowingTaskGroup(of: Int64.self) { group in
                for _ in 0..<8 {
                    group.addTask {
                        try await store.agentVersions.record(agent: "architect", contentHash: "h1", declaration: #"{"a":1}"#).version
                    }
                }
                return try await group.reduce(into: [Int64]()) { $0.append($1) }
            }
            #expect(Set(numbers) == [1])
            // Two new contents at once: each gets a number of its own.
            async let second = store.agentVersions.record(agent: "architect", contentHash: "h2", declaration: #"{"a":2}"#)
            async let third = store.agentVersions.record(agent: "architect", contentHash: "h3", declaration: #"{"a":3}"#)
            #expect(Set([try await second.version, try await third.version]) == [2, 3])
            #expect(try await store.agentVersions.record(agent: "architect", contentHash: "h1", declaration: #"{"a":1}"#).version == 1)
            #expect(try await store.agentVersions.record(agent: "reviewer", contentHash: "h1", declaration: #"{"a":1}"#).version == 1)
            #expect(try await store.agentVersions.list(agent: "architect").map(\.version) == [3, 2, 1])
            #expect(try await store.agentVersions.find(agent: "architect", version: 1)?.declaration == #"{"a":1}"#)
        }
    }

    @Test(
        "of two moves of one project from the same version exactly one happens; the history and the event record it; another team's project does not move",
        arguments: Backend.allCases)
    func transitions(backend: Backend) async throws {
        try await TestDatabase.withTeams(backend) { store, team, other in
            let project = try await store.projects.create(
                teamID: team.id, name: "Checkout", description: "", domain: "base", state: "discovery"
            ) { NewEvent(topic: "project.created", payload: #"{"project_id":"\#($0)"}"#) }
            #expect(project.version == 1 && project.state == "discovery")
            #expect(try await store.projects.find(project.id, teamID: other.id) == nil)
            #expect(
                try await store.projects.transition(
                    project.id, teamID: other.id, at: 1, to: "specification", reason: "",
                    event: NewEvent(topic: "project.transitioned", payload: "{}"))
                    == nil)
            let moves = try await withThrowingTaskGroup(of: Bool.self) { group in
                for target in ["specification", "planning"] {
                    group.addTask {
                        try await store.projects.transition(
                            project.id, teamID: team.id, at: 1, to: target, reason: "go",
                            event: NewEvent(topic: "project.transitioned", payload: "{}")) != nil
                    }
                }
                return try await group.reduce(into: [Bool]()) { $0.append($1) }
            }
            #expect(moves.count { $0 } == 1)
            let moved = try #require(try await store.projects.find(project.id, teamID: team.id))
            #expect(moved.version == 2)
            let history = try await store.projects.transitions(of: project.id, teamID: team.id)
            #expect(try await store.projects.transitions(of: project.id, teamID: other.id).isEmpty)
            #expect(
                history.count == 1 && history[0].fromState == "discovery" && history[0].toState == moved.state && history[0].version == 2)
            let events = try await store.events.list(teamID: team.id, after: 0, limit: 10).map(\.topic)
            #expect(events.filter { $0.hasPrefix("project.") } == ["project.created", "project.transitioned"])
            #expect(try await store.projects.list(teamID: team.id, limit: 10).map(\.id) == [project.id])
            #expect(try await store.projects.list(teamID: team.id, state: "discovery", limit: 10).isEmpty)
            #expect(try await store.projects.list(teamID: other.id, limit: 10).isEmpty)
        }
    }

    @Test(
        "a specification has at most one current version however many promotions run at once; of two versions written from one base only one is kept; a stale expectation of the current version is refused",
        arguments: Backend.allCases)
    func specifications(backend: Backend) async throws {
        try await TestDatabase.withTeams(backend) { store, team, other in
            let project = try await store.projects.create(teamID: team.id, name: "p", description: "", domain: "base", state: "discovery") {
                NewEvent(topic: "project.created", payload: #"{"project_id":"\#($0)"}"#)
            }
            let specification = try await store.specifications.create(
                projectID: project.id, teamID: team.id, key: "requirements", title: "Requirements"
            ) { NewEvent(topic: "specification.created", payload: #"{"specification_id":"\#($0)"}"#) }
            #expect(try await store.specifications.find(specification.id, teamID: other.id) == nil)
            await #expect(throws: StoreError.self) {
                _ = try await store.specifications.create(projectID: project.id, teamID: team.id, key: "requirements", title: "again") {
                    _ in
                    NewEvent(topic: "specification.created", payload: "{}")
                }
            }
            func draft(_ text: String) -> NewSpecificationVersion {
                NewSpecificationVersion(body: text, sections: ["overview"], summary: "")
            }
            let event: @Sendable (Int64) -> NewEvent = { _ in NewEvent(topic: "specification.version_created", payload: "{}") }
            _ = try await store.specifications.write(draft("one"), to: specification, base: nil, event: event)
            // Two writers from version 1: one is kept, the other told the newest.
            let outcomes = try await withThrowingTaskGroup(of: Int64?.self) { group in
                for text in ["two a", "two b"] {
                    group.addTask {
                        do {
                            return try await store.specifications.write(draft(text), to: specification, base: 1, event: event).version
                        } catch SpecificationConflict.staleBase(let latest) {
                            return -(latest ?? 0)
                        }
                    }
                }
                return try await group.reduce(into: [Int64?]()) { $0.append($1) }
            }
            #expect(Set(outcomes) == [2, -2], "\(outcomes)")
            _ = try await store.specifications.write(draft("three"), to: specification, base: 2, event: event)

            // Three promotions at once, of three versions: each wins in turn, and one version is current at the end.
            try await withThrowingTaskGroup(of: Void.self) { group in
                for version in Int64(1)...3 {
                    group.addTask {
                        _ = try await store.specifications.promote(version, of: specification, expectingCurrent: nil) { _ in [] }
                    }
                }
                try await group.waitForAll()
            }
            let versions = try await store.specifications.versions(of: specification)
            #expect(versions.count { $0.status == .current } == 1)
            #expect(versions.count { $0.status == .superseded } == 2)
            let current = try #require(versions.first { $0.status == .current }).version
            #expect(try await store.specifications.find(specification.id, teamID: team.id)?.currentVersion == current)
            #expect(
                try await store.projects.currentSpecificationSections(projectID: project.id, teamID: team.id, key: "requirements") == [
                    "overview"
                ])
            #expect(
                try await store.projects.currentSpecificationSections(projectID: project.id, teamID: other.id, key: "requirements") == nil)
            await #expect(throws: SpecificationConflict.staleCurrent(current: current)) {
                _ = try await store.specifications.promote(1, of: specification, expectingCurrent: .some(nil)) { _ in [] }
            }
            // The database itself refuses a second current version.
            await #expect(throws: (any Error).self) {
                try await store.transaction { sql in
                    try await sql.raw(
                        "UPDATE specification_versions SET status = 'current' WHERE specification_id = \(bind: specification.id)"
                    ).run()
                }
            }
            #expect(try await store.specifications.promote(9, of: specification, expectingCurrent: nil) { _ in [] } == nil)
        }
    }

    @Test(
        "of turns asked at once one runs and the rest are refused (reject) or queued in order (enqueue); a queued turn starts only when its place comes; a turn cancelled only while queued is not stopped once it runs; ending a session cancels its queue; a turn its node left running is failed",
        arguments: Backend.allCases)
    func sessions(backend: Backend) async throws {
        try await TestDatabase.withTeams(backend) { store, team, other in
            let project = try await store.projects.create(teamID: team.id, name: "p", description: "", domain: "base", state: "discovery") {
                NewEvent(topic: "project.created", payload: #"{"project_id":"\#($0)"}"#)
            }
            func session(_ concurrency: String) async throws -> AgentSession {
                try await store.agentSessions.create(
                    projectID: project.id, teamID: team.id, title: "", concurrency: concurrency, pinned: ["a": 1]
                ) {
                    NewEvent(topic: "session.created", payload: #"{"session_id":"\#($0)"}"#)
                }
            }
            let note: @Sendable (Turn) -> NewEvent = { NewEvent(topic: "turn.\($0.status)", payload: "{}") }
            let minute: Int64 = 60_000
            func start(_ session: AgentSession, enqueue: Bool, key: String? = nil, staleAfter: Int64 = minute, now: Int64 = StoreTime.now())
                async throws -> TurnStart
            {
                try await store.agentSessions.start(
                    NewTurn(input: "hi", agent: "a", agentVersion: 1, routing: "{}", idempotencyKey: key), in: session, enqueue: enqueue,
                    staleAfter: staleAfter, events: { turn, _ in [note(turn)] }, abandoned: note, now: now)
            }

            let rejecting = try await session("reject")
            #expect(try await store.agentSessions.find(rejecting.id, teamID: other.id) == nil)
            let outcomes = try await withThrowingTaskGroup(of: TurnStart.self) { group in
                for _ in 0..<6 { group.addTask { try await start(rejecting, enqueue: false) } }
                return try await group.reduce(into: [TurnStart]()) { $0.append($1) }
            }
            let running = outcomes.compactMap { if case .started(let turn) = $0 { turn } else { nil } }
            #expect(running.count == 1, "\(outcomes)")
            #expect(outcomes.allSatisfy { if case .busy(let active) = $0 { active == running.first?.id } else { true } })

            let enqueuing = try await session("enqueue")
            let all = try await withThrowingTaskGroup(of: TurnStart.self) { group in
                for _ in 0..<4 { group.addTask { try await start(enqueuing, enqueue: true) } }
                return try await group.reduce(into: [TurnStart]()) { $0.append($1) }
            }
            let queued = all.compactMap { if case .queued(let turn, let position) = $0 { (turn, position) } else { nil } }.sorted {
                $0.0.seq < $1.0.seq
            }
            #expect(queued.count == 3 && queued.map(\.1) == [1, 2, 3], "\(all)")
            let first = try #require(all.compactMap { if case .started(let turn) = $0 { turn } else { nil } }.first)
            let claim: @Sendable (Turn) async throws -> Turn? = { turn in
                try await store.agentSessions.claim(turn, staleAfter: minute, events: { [note($0)] }, abandoned: note)
            }
            #expect(try await claim(queued[1].0) == nil, "not its place: one runs, one is ahead")
            _ = try await store.agentSessions.finish(
                first.id, as: "completed", output: "done", promptTokens: 1, completionTokens: 2, costUSD: 0.5, error: nil, event: note)
            #expect(try await claim(queued[1].0) == nil, "the first queued is ahead of it")
            let next = try #require(try await claim(queued[0].0))
            #expect(next.status == "running")
            // Cancelled only while queued: once it runs, it is not.
            #expect(
                try await store.agentSessions.finish(
                    next.id, as: "cancelled", from: ["queued"], output: "", promptTokens: nil, completionTokens: nil, costUSD: nil,
                    error: nil,
                    event: note) == nil)
            #expect(try await store.agentSessions.turn(next.id, sessionID: enqueuing.id, teamID: team.id)?.status == "running")
            #expect(try await store.agentSessions.find(enqueuing.id, teamID: team.id)?.activeAgent == "a", "the completed turn's agent")

            #expect(
                try await store.agentSessions.end(
                    enqueuing.id, teamID: team.id, event: NewEvent(topic: "session.ended", payload: "{}"), cancelled: note))
            #expect(
                !(try await store.agentSessions.end(
                    enqueuing.id, teamID: team.id, event: NewEvent(topic: "session.ended", payload: "{}"), cancelled: note)))
            let after = try await store.agentSessions.turns(of: enqueuing.id, teamID: team.id)
            #expect(after.map(\.status) == ["completed", "running", "cancelled", "cancelled"], "\(after.map(\.status))")
            #expect(try await start(enqueuing, enqueue: true) == .ended)

            // A turn left running by a node that stopped is failed once it is stale; the next then runs.
            let later = StoreTime.now() + 2 * minute
            let recovered = try await start(rejecting, enqueue: false, now: later)
            guard case .started = recovered else {
                Issue.record("\(recovered)")
                return
            }
            #expect(
                try await store.agentSessions.turn(try #require(running.first).id, sessionID: rejecting.id, teamID: team.id)?.status
                    == "failed")
            let topics = try await store.events.list(teamID: team.id, limit: 1000).map(\.topic)
            #expect(topics.filter { $0 == "turn.cancelled" }.count == 2 && topics.contains("turn.failed"), "\(topics)")
            // A queued turn whose waiter is gone is cancelled by the periodic sweep, the running one left alone.
            let waiting = try await session("enqueue")
            let base = StoreTime.now()
            _ = try await start(waiting, enqueue: true, now: base)
            guard case .queued(let orphan, _) = try await start(waiting, enqueue: true, now: base) else {
                Issue.record("not queued")
                return
            }
            try await store.agentSessions.sweepAll(
                staleAfter: 10 * minute, abandoned: note, now: base + AgentSessionsRepository.abandonedAfter / 2)
            #expect(
                try await store.agentSessions.turn(orphan.id, sessionID: waiting.id, teamID: team.id)?.status == "queued",
                "heard of recently enough")
            try await store.agentSessions.sweepAll(
                staleAfter: 10 * minute, abandoned: note, now: base + AgentSessionsRepository.abandonedAfter + 1)
            #expect(try await store.agentSessions.unfinished(of: waiting.id, teamID: team.id).map(\.status) == ["running"])

            // The same key, the same turn.
            let keyed = try await start(rejecting, enqueue: true, key: "k", now: later)
            #expect(
                try await start(rejecting, enqueue: true, key: "k", now: later)
                    == .replayed({ if case .queued(let turn, _) = keyed { turn } else { first } }()))
        }
    }
}
