// swift-tools-version: 6.1
import PackageDescription

let package = Package(
    name: "duplex",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "duplex", targets: ["duplex"]),
        .library(name: "MailStore", targets: ["MailStore"]),
        .library(name: "Dsync", targets: ["Dsync"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-crypto", from: "3.12.3"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.3"),
    ],
    targets: [
        .target(
            name: "MailStore",
            dependencies: [
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Crypto", package: "swift-crypto"),
            ]
        ),
        .target(
            name: "Dsync",
            dependencies: [
                "MailStore",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "NIOCore", package: "swift-nio"),
            ]
        ),
        .target(
            name: "DuplexCLI",
            dependencies: [
                "MailStore",
                "Dsync",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .executableTarget(
            name: "duplex",
            dependencies: ["DuplexCLI"]
        ),
        .target(
            name: "MailStoreTestSupport",
            dependencies: ["MailStore"],
            path: "Tests/MailStoreTestSupport"
        ),
        .testTarget(
            name: "MailStoreTests",
            dependencies: ["MailStore", "MailStoreTestSupport"]
        ),
        .testTarget(
            name: "DsyncTests",
            dependencies: [
                "Dsync",
                "MailStore",
                "MailStoreTestSupport",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOEmbedded", package: "swift-nio"),
                .product(name: "NIOTestUtils", package: "swift-nio"),
            ]
        ),
        .testTarget(
            name: "DuplexCLITests",
            dependencies: ["duplex", "DuplexCLI", "MailStore", "MailStoreTestSupport"]
        ),
    ],
    swiftLanguageModes: [.v6]
)
