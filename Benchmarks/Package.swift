// swift-tools-version: 6.1
// A package of its own, so the main build and CI never compile the benchmark tools.
import PackageDescription

let package = Package(
    name: "keelson-benchmarks",
    platforms: [.macOS(.v15)],
    dependencies: [
        .package(name: "keelson", path: ".."),
        .package(url: "https://github.com/swift-server/async-http-client", from: "1.37.0"),
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
    ],
    targets: [
        .executableTarget(
            name: "keelson-bench",
            dependencies: [
                .product(name: "KeelsonStoreForBenchmarks", package: "keelson"),
                .product(name: "KeelsonKubeletForBenchmarks", package: "keelson"),
                .product(name: "KeelsonStatsForBenchmarks", package: "keelson"),
                .product(name: "KeelsonProxyForBenchmarks", package: "keelson"),
                .product(name: "KeelsonAPIServerForBenchmarks", package: "keelson"),
                .product(name: "KeelsonClientForBenchmarks", package: "keelson"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
            ],
            swiftSettings: [.enableUpcomingFeature("ExistentialAny")]
        ),
    ]
)
