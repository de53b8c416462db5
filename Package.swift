// swift-tools-version:6.1
import PackageDescription

let swiftSettings: [SwiftSetting] = [
    .enableUpcomingFeature("ExistentialAny"),
    .enableUpcomingFeature("MemberImportVisibility"),
]

/// What every server target uses: HTTP, logging, tracing, lifecycle.
let server: [Target.Dependency] = [
    .product(name: "HTTPTypes", package: "swift-http-types"),
    .product(name: "Hummingbird", package: "hummingbird"),
    .product(name: "Logging", package: "swift-log"),
    .product(name: "NIOCore", package: "swift-nio"),
    .product(name: "NIOHTTP1", package: "swift-nio"),
    .product(name: "NIOHTTPTypes", package: "swift-nio-extras"),
    .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
    .product(name: "Tracing", package: "swift-distributed-tracing"),
]

let asyncHTTPClient: Target.Dependency = .product(name: "AsyncHTTPClient", package: "async-http-client")
let coreMetrics: Target.Dependency = .product(name: "CoreMetrics", package: "swift-metrics")
let crypto: Target.Dependency = .product(name: "Crypto", package: "swift-crypto")
let nioPosix: Target.Dependency = .product(name: "NIOPosix", package: "swift-nio")
let otel: Target.Dependency = .product(name: "OTel", package: "swift-otel")
let prometheus: Target.Dependency = .product(name: "Prometheus", package: "swift-prometheus")
let yams: Target.Dependency = .product(name: "Yams", package: "Yams")
/// The WebSocket engine of hummingbird-websocket, which Conduit's own HTTP channel runs.
let webSocket: [Target.Dependency] = [
    .product(name: "NIOHTTPTypesHTTP1", package: "swift-nio-extras"), .product(name: "NIOWebSocket", package: "swift-nio"),
    .product(name: "WSCore", package: "swift-websocket"),
]

/// A target of the server: its own dependencies and what every server target uses.
func serverTarget(_ name: String, _ dependencies: [Target.Dependency], resources: [Resource]? = nil) -> Target {
    .target(name: name, dependencies: dependencies + server, resources: resources, swiftSettings: swiftSettings)
}

let package = Package(
    name: "conduit",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "conduit", targets: ["ConduitCLI"]),
        .library(name: "ModelRuntime", targets: ["ModelRuntime"]),
        .library(name: "Conduit", targets: ["Conduit"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-configuration.git", from: "1.4.0", traits: [.defaults, "YAML"]),
        .package(url: "https://github.com/apple/swift-crypto.git", from: "3.12.3"),
        .package(url: "https://github.com/apple/swift-distributed-tracing.git", from: "1.7.3"),
        .package(url: "https://github.com/apple/swift-http-types.git", from: "1.8.0"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-metrics.git", from: "2.13.0"),
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-nio-extras.git", from: "1.35.2"),
        .package(url: "https://github.com/apple/swift-nio-ssl.git", from: "2.37.6"),
        .package(url: "https://github.com/hummingbird-project/hummingbird.git", from: "2.28.1"),
        .package(url: "https://github.com/jpsim/Yams.git", from: "6.2.2"),
        .package(url: "https://github.com/hummingbird-project/hummingbird-auth.git", from: "2.5.0"),
        .package(url: "https://github.com/hummingbird-project/swift-websocket.git", from: "1.6.2"),
        .package(url: "https://github.com/swift-server/async-http-client.git", from: "1.37.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus.git", from: "2.4.1"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.13.0"),
        // OTLP over HTTP only: the gRPC exporter would add gRPC and HTTP/2 to every build.
        .package(url: "https://github.com/swift-otel/swift-otel.git", from: "1.6.0", traits: ["OTLPHTTP"]),
        .package(url: "https://github.com/apple/swift-system.git", from: "1.8.1"),
        .package(url: "https://github.com/vapor/postgres-kit.git", from: "2.17.0"),
        .package(url: "https://github.com/vapor/postgres-nio.git", from: "1.33.2"),
        .package(url: "https://github.com/vapor/sql-kit.git", from: "3.36.0"),
        .package(url: "https://github.com/vapor/sqlite-kit.git", from: "4.5.2"),
    ],
    targets: [
        // The encoder's kernels (dense-layer product, attention), in C: written once over vectors
        // and built for each instruction set (AVX-512, AVX2, generic), chosen at run time. Always
        // optimized: an unoptimized kernel is an order of magnitude slower.
        .target(
            name: "CKernels",
            cSettings: [.unsafeFlags(["-O3"])]
        ),
        // Text in, vectors out. Depends on nothing of the server.
        .target(
            name: "ModelRuntime",
            dependencies: ["CKernels"],
            // Optimized in debug builds too: unoptimized SIMD code is two orders of magnitude slower,
            // which would make every test that runs the model crawl.
            swiftSettings: swiftSettings + [.unsafeFlags(["-O"], .when(configuration: .debug))]
        ),
        // Classifiers fitted on vectors (the insights analyzer's, on the embedding model's). Optimized in
        // debug builds too, for the reason above: a fit takes milliseconds optimized, a minute not.
        .target(
            name: "VectorClassifiers",
            swiftSettings: swiftSettings + [.unsafeFlags(["-O"], .when(configuration: .debug))]
        ),
        // Persistence: one schema and one SQL code path over SQLite (default) and PostgreSQL.
        .target(
            name: "Store",
            dependencies: [
                crypto, nioPosix,
                .product(name: "HummingbirdBcrypt", package: "hummingbird-auth"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "PostgresKit", package: "postgres-kit"),
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "SQLKit", package: "sql-kit"),
                .product(name: "SQLiteKit", package: "sqlite-kit"),
                .product(name: "Tracing", package: "swift-distributed-tracing"),
            ],
            swiftSettings: swiftSettings
        ),
        // MARK: The server, in layers. Arrows point one way: ConduitCLI → Conduit (composition root) → features
        // (ConduitEmbeddings, ConduitInsights, ConduitEvents, ConduitAdmin) and ConduitJobs → ConduitCore → Store.
        // scripts/check-layers holds the same arrows and fails CI on an import against them.

        // What every feature builds on: request context, the one error mapping, middleware, auth, limits,
        // usage, telemetry, wire helpers and the Feature seam.
        serverTarget("ConduitCore", ["Store", asyncHTTPClient, coreMetrics, crypto, nioPosix, otel, prometheus, yams] + webSocket),
        // The durable job queue as infrastructure: the runner every node with workers runs, and /v1/jobs.
        serverTarget("ConduitJobs", ["ConduitCore", "Store"]),
        // Local embedding models: catalog, scheduler, /v1/embeddings, /v1/tokenize, /v1/models, batch embedding jobs.
        // The only part of the server that imports ModelRuntime.
        serverTarget("ConduitEmbeddings", ["ConduitCore", "ModelRuntime", "Store", asyncHTTPClient, coreMetrics, crypto, nioPosix]),
        // Conversations analysed into insights by declared pipelines.
        serverTarget(
            "ConduitInsights",
            ["ConduitChat", "ConduitCore", "ConduitEmbeddings", "Store", "VectorClassifiers", asyncHTTPClient, coreMetrics, crypto, yams],
            // The examples the built-in pipelines learn from, compiled in.
            resources: [.embedInCode("Examples/support-examples.jsonl")]),
        // The gateway to model providers: /v1/chat/completions, deployments, routing, retries, fallbacks, breakers.
        serverTarget("ConduitChat", ["ConduitCore", "Store", asyncHTTPClient, coreMetrics, crypto, nioPosix, yams]),
        // The outbox delivered to the teams' webhooks.
        serverTarget("ConduitEvents", ["ConduitCore", "Store", asyncHTTPClient, crypto, nioPosix] + webSocket),
        // Teams, users, keys and usage reports; logins.
        serverTarget("ConduitAdmin", ["ConduitCore", "Store"]),
        // The agent platform: agents and domains declared in files, the router, projects, sessions, specifications.
        serverTarget("ConduitAgents", ["ConduitChat", "ConduitCore", "ConduitEmbeddings", "Store", crypto, yams]),
        // The composition root: configuration and which features a node runs; the API's OpenAPI document,
        // compiled in (served at /openapi.json).
        serverTarget(
            "Conduit",
            [
                "ConduitAdmin", "ConduitAgents", "ConduitChat", "ConduitCore", "ConduitEmbeddings", "ConduitEvents", "ConduitInsights",
                "ConduitJobs", "Store", .product(name: "Configuration", package: "swift-configuration"), coreMetrics,
                .product(name: "SystemPackage", package: "swift-system"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"), yams,
            ],
            resources: [.embedInCode("OpenAPI/openapi.json")]),
        .executableTarget(
            name: "ConduitCLI",
            dependencies: [
                "Conduit", "ConduitCore", "ConduitEmbeddings", "ConduitJobs", "ModelRuntime", "Store", asyncHTTPClient,
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"), nioPosix,
            ] + server,
            swiftSettings: swiftSettings
        ),
        // Fixtures shared by the test targets: the default model and the reference vectors.
        .target(
            name: "ConduitTestSupport",
            dependencies: [
                "ModelRuntime",
                "Store",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "SQLKit", package: "sql-kit"),
            ],
            path: "Tests/ConduitTestSupport",
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "ModelRuntimeTests",
            dependencies: ["ModelRuntime", "ConduitTestSupport"],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "StoreTests",
            dependencies: [
                "Store",
                "ConduitTestSupport",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "SQLKit", package: "sql-kit"),
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "ConduitTests",
            dependencies: [
                "Conduit", "ConduitAdmin", "ConduitAgents", "ConduitChat", "ConduitCore", "ConduitEmbeddings", "ConduitEvents",
                "ConduitInsights", "VectorClassifiers",
                "ConduitJobs", "ConduitTestSupport", "Store", asyncHTTPClient, crypto, nioPosix,
                .product(name: "HummingbirdTesting", package: "hummingbird"),
                .product(name: "InMemoryTracing", package: "swift-distributed-tracing"),
                .product(name: "SQLKit", package: "sql-kit"),
                .product(name: "WSClient", package: "swift-websocket"),
            ],
            swiftSettings: swiftSettings
        ),
    ],
    swiftLanguageModes: [.v6]
)
