// swift-tools-version: 6.1
import PackageDescription

let swiftSettings: [SwiftSetting] = [
    .enableUpcomingFeature("ExistentialAny"),
]

let package = Package(
    name: "keelson",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "keelson", targets: ["keelson"]),
        // For the benchmark package only: the embedded store measured without the API server in front.
        .library(name: "KeelsonStoreForBenchmarks", targets: ["KeelsonStore"]),
    ],
    dependencies: [
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.1"),
        .package(url: "https://github.com/groue/GRDB.swift", from: "7.10.0"),
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
        .package(url: "https://github.com/jpsim/Yams", from: "6.2.2"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
        .package(url: "https://github.com/swift-server/async-http-client", from: "1.37.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
    ],
    targets: [
        .target(
            name: "KeelsonAPI",
            swiftSettings: swiftSettings
        ),
        .target(
            name: "KeelsonStore",
            dependencies: [
                "KeelsonAPI",
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "KeelsonAPIServer",
            dependencies: [
                "KeelsonAPI",
                "KeelsonStore",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "Yams", package: "Yams"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Prometheus", package: "swift-prometheus"),
            ],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "KeelsonClient",
            dependencies: [
                "KeelsonAPI",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Yams", package: "Yams"),
            ],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "KeelsonControllers",
            dependencies: [
                "KeelsonAPI",
                "KeelsonClient",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "KeelsonScheduler",
            dependencies: [
                "KeelsonAPI",
                "KeelsonClient",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "KeelsonKubelet",
            dependencies: [
                "KeelsonAPI",
                "KeelsonClient",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "KeelsonTestKit",
            dependencies: [
                "KeelsonAPI",
                "KeelsonClient",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
            ],
            swiftSettings: swiftSettings
        ),
        .executableTarget(
            name: "keelson",
            dependencies: [
                "KeelsonAPI",
                "KeelsonStore",
                "KeelsonAPIServer",
                "KeelsonClient",
                "KeelsonControllers",
                "KeelsonScheduler",
                "KeelsonKubelet",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(name: "KeelsonAPITests", dependencies: ["KeelsonAPI"], swiftSettings: swiftSettings),
        .testTarget(name: "KeelsonStoreTests", dependencies: ["KeelsonStore"], swiftSettings: swiftSettings),
        .testTarget(
            name: "KeelsonAPIServerTests",
            dependencies: [
                "KeelsonAPIServer",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdTesting", package: "hummingbird"),
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "KeelsonClientTests",
            dependencies: [
                "KeelsonClient", "KeelsonTestKit", .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "ServiceLifecycleTestKit", package: "swift-service-lifecycle"),
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(name: "KeelsonSchedulerTests", dependencies: ["KeelsonScheduler", "KeelsonTestKit"], swiftSettings: swiftSettings),
        .testTarget(name: "KeelsonControllersTests", dependencies: ["KeelsonControllers", "KeelsonTestKit"], swiftSettings: swiftSettings),
        .testTarget(name: "KeelsonE2ETests", dependencies: ["KeelsonAPI", "KeelsonClient"], swiftSettings: swiftSettings),
    ]
)
