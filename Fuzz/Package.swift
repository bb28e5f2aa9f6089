// swift-tools-version: 6.1
// libFuzzer targets for MailStore's parsers and Dsync's frame decoder. Build and run as
// described in README.md; a plain `swift build` cannot link them (libFuzzer provides `main`).
import PackageDescription

let package = Package(
    name: "duplex-fuzz",
    dependencies: [
        .package(name: "duplex", path: ".."),
    ],
    targets: [
        .executableTarget(name: "UidlistFuzzer", dependencies: [.product(name: "MailStore", package: "duplex")]),
        .executableTarget(name: "MaildirFileNameFuzzer", dependencies: [.product(name: "MailStore", package: "duplex")]),
        .executableTarget(name: "ControlFilesFuzzer", dependencies: [.product(name: "MailStore", package: "duplex")]),
        .executableTarget(name: "FrameDecoderFuzzer", dependencies: [.product(name: "Dsync", package: "duplex")]),
    ],
    swiftLanguageModes: [.v6]
)
