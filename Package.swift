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
        // The BLAS C API: OpenBLAS on Linux, Accelerate on Apple platforms.
        .systemLibrary(
            name: "CBLAS",
            pkgConfig: "openblas",
            providers: [.apt(["libopenblas-dev"]), .brew(["openblas"])]
        ),
        // Matrix-product kernels of our own, in C for the x86 vector instructions Swift has no
        // portable access to. Always optimized: an unoptimized kernel is an order of magnitude slower.
        .target(
            name: "CKernels",
            cSettings: [.unsafeFlags(["-O3"])]
        ),
        // Text in, vectors out. Depends on nothing of the server.
        .target(
            name: "ModelRuntime",
            dependencies: [
                "CKernels",
                .target(name: "CBLAS", condition: .when(platforms: [.linux])),
            ],
            // Optimized in debug builds too: unoptimized SIMD code is two orders of magnitude slower,
            // which would make every test that runs the model crawl.
            swiftSettings: swiftSettings + [.unsafeFlags(["-O"], .when(configuration: .debug))],
            linkerSettings: [.linkedFramework("Accelerate", .when(platforms: [.macOS]))]
        ),
        // Persistence: one schema and one SQL code path over SQLite (default) and PostgreSQL.
        .target(
            name: "Store",
            dependencies: [
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "HummingbirdBcrypt", package: "hummingbird-auth"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOPosix", package: "swift-nio"),
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
        // (ConduitEmbeddings, ConduitInsights, ConduitEvents, ConduitAdmin) → ConduitJobs → ConduitCore → Store.
        // scripts/check-layers holds the same arrows and fails CI on an import against them.

        // What every feature builds on: request context, the one error mapping, middleware, auth, limits,
        // usage, telemetry, wire helpers and the Feature seam.
        .target(
            name: "ConduitCore",
            dependencies: [
                "Store",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "CoreMetrics", package: "swift-metrics"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "OTel", package: "swift-otel"),
                .product(name: "Prometheus", package: "swift-prometheus"),
            ] + server,
            swiftSettings: swiftSettings
        ),
        // The durable job queue as infrastructure: the runner every node with workers runs, and /v1/jobs.
        .target(name: "ConduitJobs", dependencies: ["ConduitCore", "Store"] + server, swiftSettings: swiftSettings),
        // Local embedding models: catalog, scheduler, /v1/embeddings, /v1/tokenize, /v1/models, batch embedding jobs.
        // The only part of the server that imports ModelRuntime.
        .target(
            name: "ConduitEmbeddings",
            dependencies: [
                "ConduitCore", "ModelRuntime", "Store",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "CoreMetrics", package: "swift-metrics"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "NIOPosix", package: "swift-nio"),
            ] + server,
            swiftSettings: swiftSettings
        ),
        // Conversations analysed into insights by declared pipelines.
        .target(
            name: "ConduitInsights",
            dependencies: [
                "ConduitCore", "ConduitEmbeddings", "Store",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "CoreMetrics", package: "swift-metrics"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Yams", package: "Yams"),
            ] + server,
            swiftSettings: swiftSettings
        ),
        // The outbox delivered to the teams' webhooks.
        .target(
            name: "ConduitEvents",
            dependencies: [
                "ConduitCore", "Store",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "NIOPosix", package: "swift-nio"),
            ] + server,
            swiftSettings: swiftSettings
        ),
        // Teams, users, keys and usage reports; logins.
        .target(name: "ConduitAdmin", dependencies: ["ConduitCore", "Store"] + server, swiftSettings: swiftSettings),
        // The composition root: configuration and which features a node runs.
        .target(
            name: "Conduit",
            dependencies: [
                "ConduitAdmin", "ConduitCore", "ConduitEmbeddings", "ConduitEvents", "ConduitInsights", "ConduitJobs", "Store",
                .product(name: "Configuration", package: "swift-configuration"),
                .product(name: "CoreMetrics", package: "swift-metrics"),
                .product(name: "SystemPackage", package: "swift-system"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
                .product(name: "Yams", package: "Yams"),
            ] + server,
            swiftSettings: swiftSettings
        ),
        .executableTarget(
            name: "ConduitCLI",
            dependencies: [
                "Conduit", "ConduitCore", "ConduitEmbeddings", "ConduitJobs", "Store",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Tracing", package: "swift-distributed-tracing"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
            ],
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
                "Conduit", "ConduitAdmin", "ConduitCore", "ConduitEmbeddings", "ConduitEvents", "ConduitInsights", "ConduitJobs",
                "ConduitTestSupport",
                "Store",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "HummingbirdTesting", package: "hummingbird"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "SQLKit", package: "sql-kit"),
            ],
            swiftSettings: swiftSettings
        ),
    ],
    swiftLanguageModes: [.v6]
)
