// swift-tools-version:6.1
import PackageDescription

let package = Package(
    name: "genred",
    platforms: [.macOS(.v13)],
    products: [
        .executable(name: "genred", targets: ["genred"]),
        .library(name: "GenredKit", targets: ["GenredKit"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/groue/GRDB.swift", from: "7.0.0"),
        .package(url: "https://github.com/LebJe/TOMLKit", from: "0.6.0"),
        // Without the ConfigurationSupport trait: genred reads its own config, and swift-configuration
        // is a large build.
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.0.0", traits: ["FullFoundation"]),
        .package(url: "https://github.com/apple/swift-log", from: "1.5.0"),
    ],
    targets: [
        // One thin target per native library: a module map and a shim header.
        .systemLibrary(name: "CSndFile", pkgConfig: "sndfile", providers: [.apt(["libsndfile1-dev"])]),
        .systemLibrary(name: "CMPG123", pkgConfig: "libmpg123", providers: [.apt(["libmpg123-dev"])]),
        // libopus's single-stream decoder and libogg's page reader, for plain Ogg Opus (OggOpusSource).
        .systemLibrary(name: "COpus", pkgConfig: "opus", providers: [.apt(["libopus-dev", "libogg-dev"])]),
        .systemLibrary(name: "CFFTW", pkgConfig: "fftw3f", providers: [.apt(["libfftw3-dev"])]),
        .systemLibrary(name: "CSoxr", pkgConfig: "soxr", providers: [.apt(["libsoxr-dev"])]),
        .systemLibrary(name: "COpenBLAS", pkgConfig: "openblas", providers: [.apt(["libopenblas-dev"])]),
        .systemLibrary(name: "CInotifyTools", providers: [.apt(["libinotifytools0-dev"])]),
        .systemLibrary(name: "CCrypto", pkgConfig: "libcrypto", providers: [.apt(["libssl-dev"])]),
        .systemLibrary(name: "CLibPQ", pkgConfig: "libpq", providers: [.apt(["libpq-dev"])]),
        // Linux calls Swift cannot make directly (syscall wrappers, statfs).
        .target(name: "CGenredLinux"),
        // oneDNN (libdnnl-dev) for the reduced-precision products; OpenMP is its thread runtime.
        .target(name: "CGenredDNNL", linkerSettings: [.linkedLibrary("dnnl"), .linkedLibrary("gomp")]),
        // TagLib's PropertyMap API is C++ only in TagLib 1.13: a small shim gives it a C face.
        .target(
            name: "CTagLib",
            linkerSettings: [.linkedLibrary("tag"), .linkedLibrary("stdc++")]
        ),

        // GenredKit is three targets with floors: the engine (audio in, analysis out), the library
        // (store, tags, queries, learn, map, config) over it, and the services (daemon, workers,
        // systemd, doctor) over both. `GenredKit` re-exports the three for the front ends.
        .target(
            name: "GenredEngine",
            dependencies: ["CSndFile", "CMPG123", "COpus", "CFFTW", "CSoxr", "COpenBLAS", "CGenredLinux", "CCrypto", "CGenredDNNL"]
        ),
        .target(
            name: "GenredLibrary",
            dependencies: [
                "GenredEngine", "COpenBLAS", "CTagLib", "CLibPQ", "CGenredLinux", "CFFTW",
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "TOMLKit", package: "TOMLKit"),
            ],
            // FFTW in double precision, for the map's interpolated repulsion (CFFTW links the float library).
            linkerSettings: [.linkedLibrary("fftw3")]
        ),
        .target(
            name: "GenredServices",
            dependencies: ["GenredEngine", "GenredLibrary", "CInotifyTools", "CGenredLinux"]
        ),
        .target(name: "GenredKit", dependencies: ["GenredEngine", "GenredLibrary", "GenredServices"]),

        // The HTTP front end (`genred serve`): kept apart so GenredKit stays free of NIO.
        .target(
            name: "GenredServer",
            dependencies: [
                "GenredKit",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "Logging", package: "swift-log"),
            ],
            exclude: ["Web"],
            plugins: ["EmbedWebPage"]
        ),
        // The web page is Web/index.html in GenredServer, made a Swift string at build time.
        .executableTarget(name: "genred-embed", path: "Sources/genred-embed"),
        .plugin(name: "EmbedWebPage", capability: .buildTool(), dependencies: ["genred-embed"]),


        // Front-end.
        .executableTarget(
            name: "genred",
            dependencies: [
                "GenredKit",
                "GenredServer",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),

        // What both test targets share: synthetic audio and the encoders' command lines.
        .target(name: "GenredTestSupport", dependencies: ["GenredKit"], path: "Tests/GenredTestSupport"),
        .testTarget(
            name: "GenredKitTests",
            dependencies: ["GenredKit", "GenredEngine", "GenredLibrary", "GenredServices", "GenredTestSupport"],
            resources: [.copy("Fixtures")]
        ),
        .testTarget(
            name: "GenredEndToEndTests",
            dependencies: ["genred", "GenredKit", "GenredEngine", "GenredLibrary", "GenredServices", "GenredTestSupport"]
        ),
        // The server's routes answered in process, without a socket.
        .testTarget(
            name: "GenredServerTests",
            dependencies: ["GenredServer", "GenredKit", .product(name: "Hummingbird", package: "hummingbird")]
        ),
    ],
    swiftLanguageModes: [.v6]
)
