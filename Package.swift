// swift-tools-version:6.0
import PackageDescription

let swiftSettings: [SwiftSetting] = [
    .enableUpcomingFeature("ExistentialAny"),
]

/// The proxy's state is confined to event loops and never accessed re-entrantly, so release builds skip the
/// dynamic exclusivity checks (swift_beginAccess), which showed in the per-request profile.
let hotPathSettings: [SwiftSetting] = swiftSettings + [
    .unsafeFlags(["-enforce-exclusivity=unchecked"], .when(configuration: .release)),
]

let package = Package(
    name: "maitre",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "maitred", targets: ["maitred"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        // Already in SwiftNIO's graph: stub_status counters every loop adds to without a lock.
        .package(url: "https://github.com/apple/swift-atomics.git", from: "1.2.0"),
    ],
    targets: [
        // Pure: nginx-dialect lexer, parser, typed model and validation. No NIO.
        .target(name: "MaitreConfig", swiftSettings: swiftSettings),
        // Pure: peers, their state and the selection algorithms. No NIO, no clocks of its own. Hot-path settings:
        // select/release increment loop-confined `PeerCounters` (class fields) on every request.
        .target(name: "MaitreBalancing", swiftSettings: hotPathSettings),
        // Pure: HTTP/1 wire parsing over raw bytes (request and response heads, Host, chunked bodies). No NIO.
        .target(name: "MaitreWire", swiftSettings: hotPathSettings),
        // SwiftNIO: listeners, HTTP proxying, upstream pools.
        .target(
            name: "MaitreProxy",
            dependencies: [
                "MaitreConfig", "MaitreBalancing", "MaitreWire",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Atomics", package: "swift-atomics"),
            ],
            swiftSettings: hotPathSettings
        ),
        // Process: command line, signals, pid file, reload, demo.
        .target(
            name: "MaitreDaemon",
            dependencies: [
                "MaitreConfig", "MaitreProxy",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings
        ),
        .executableTarget(name: "maitred", dependencies: ["MaitreDaemon"], swiftSettings: swiftSettings),

        .testTarget(name: "MaitreConfigTests", dependencies: ["MaitreConfig"], swiftSettings: swiftSettings),
        .testTarget(name: "MaitreBalancingTests", dependencies: ["MaitreBalancing"], swiftSettings: swiftSettings),
        .testTarget(name: "MaitreWireTests", dependencies: ["MaitreWire", "MaitreBalancing"], swiftSettings: swiftSettings),
        .testTarget(
            name: "MaitreProxyTests",
            dependencies: [
                "MaitreProxy", "MaitreConfig", "MaitreBalancing", "MaitreWire",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOEmbedded", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "MaitreIntegrationTests",
            dependencies: [
                "MaitreDaemon", "MaitreProxy", "MaitreConfig",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
            ],
            swiftSettings: swiftSettings
        ),
    ]
)
