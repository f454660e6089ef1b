// swift-tools-version: 6.0
// polar-train: Brenier polar factorization with neural networks, data-parallel over MPI.
// Layout and dependency direction: docs/design.md §2.
import Foundation
import PackageDescription

// The MPI and parallel HDF5 to build against, chosen by environment variables (cluster/README.md,
// "A site with modules"); each build configuration wants its own --scratch-path.
//   POLAR_MPI      openmpi (default): pkg-config packages ompi-c and hdf5-openmpi (Debian's);
//                  mpich: mpich and hdf5-mpich (Debian's libmpich-dev, libhdf5-mpich-dev).
//   POLAR_MPI_PC, POLAR_HDF5_PC, POLAR_BLAS_PC: other pkg-config package names (a site's modules);
//   PKG_CONFIG_PATH (pkg-config's own) says where their .pc files are.
let environment = ProcessInfo.processInfo.environment
let mpiFamily = environment["POLAR_MPI"].flatMap { $0.isEmpty ? nil : $0 } ?? "openmpi"
let defaults: (mpi: String, hdf5: String, apt: [String], aptHDF5: [String])
switch mpiFamily {
case "openmpi": defaults = ("ompi-c", "hdf5-openmpi", ["libopenmpi-dev", "openmpi-bin"], ["libhdf5-openmpi-dev"])
case "mpich": defaults = ("mpich", "hdf5-mpich", ["libmpich-dev", "mpich"], ["libhdf5-mpich-dev"])
default: fatalError("POLAR_MPI is '\(mpiFamily)'; it must be openmpi or mpich")
}
func pkgConfigName(_ variable: String, _ fallback: String) -> String {
  environment[variable].flatMap { $0.isEmpty ? nil : $0 } ?? fallback
}

let package = Package(
  name: "polar-train",
  products: [
    .executable(name: "polar-train", targets: ["polar-train"]),
  ],
  dependencies: [
    .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
    .package(url: "https://github.com/apple/swift-numerics", from: "1.1.0"),
    .package(url: "https://github.com/LebJe/TOMLKit", from: "0.6.0"),
  ],
  targets: [
    // System libraries, found through pkg-config. The parallel HDF5 is named explicitly: hdf5.pc
    // is an alternatives link that may point to the serial build.
    .systemLibrary(name: "CMPI", pkgConfig: pkgConfigName("POLAR_MPI_PC", defaults.mpi),
                   providers: [.apt(defaults.apt)]),
    .systemLibrary(name: "CHDF5", pkgConfig: pkgConfigName("POLAR_HDF5_PC", defaults.hdf5),
                   providers: [.apt(defaults.aptHDF5)]),
    .systemLibrary(name: "CBLAS", pkgConfig: pkgConfigName("POLAR_BLAS_PC", "openblas"),
                   providers: [.apt(["libopenblas-dev"])]),
    // Handles that are C macros (MPI_COMM_WORLD, H5P_DEFAULT, ...) returned by tiny functions.
    .target(name: "CShims", dependencies: ["CMPI", "CHDF5"]),

    // Loops that need AVX2 (chosen at run time) to run at the machine's rate.
    .target(name: "CKernels"),
    // Counting malloc wrappers (the training step's allocation check); linked with PolarTrain.
    .target(name: "CAllocationCount"),

    .target(name: "SwiftMPI", dependencies: ["CMPI", "CShims", "CKernels"]),
    .target(name: "ParallelHDF5", dependencies: ["CHDF5", "CShims", "SwiftMPI"]),
    .target(name: "PolarCore", dependencies: [
      "CBLAS", .product(name: "RealModule", package: "swift-numerics"),
    ]),
    .target(name: "PolarTrain", dependencies: [
      "SwiftMPI", "CAllocationCount", "ParallelHDF5", "PolarCore", .product(name: "TOMLKit", package: "TOMLKit"),
    ]),
    .executableTarget(name: "polar-train", dependencies: [
      "PolarTrain", "SwiftMPI", "ParallelHDF5",
      .product(name: "ArgumentParser", package: "swift-argument-parser"),
    ]),

    // The kernel benchmarks of launch/bench (one process, one core).
    .executableTarget(name: "polar-bench", dependencies: ["PolarCore"]),
    // The W2-benchmark instances of issue 17 (generator and scorer; a benchmark tool, not installed).
    .executableTarget(name: "polar-quality", dependencies: [
      "PolarCore", "ParallelHDF5",
      .product(name: "ArgumentParser", package: "swift-argument-parser"),
    ]),

    // Programs the tests run under mpirun (1..4 ranks); not installed.
    .executableTarget(name: "mpi-checks", dependencies: ["SwiftMPI", "ParallelHDF5", "CAllocationCount"],
                      path: "Tests/MPIChecks"),
    .testTarget(name: "SwiftMPITests", dependencies: ["SwiftMPI", "CKernels", "TestSupport", "mpi-checks"]),
    .testTarget(name: "ParallelHDF5Tests",
                dependencies: ["ParallelHDF5", "TestSupport", "mpi-checks"]),
    .testTarget(name: "PolarCoreTests", dependencies: ["PolarCore"]),
    .testTarget(name: "QualityTests", dependencies: ["polar-quality", "polar-train", "PolarCore", "ParallelHDF5", "TestSupport"]),
    .testTarget(name: "PolarTrainTests",
                dependencies: ["PolarTrain", "ParallelHDF5", "PolarCore", "TestSupport", "polar-train"]),
    .target(name: "TestSupport", path: "Tests/TestSupport"),
  ]
)
