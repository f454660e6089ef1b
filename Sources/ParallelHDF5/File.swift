// File: an HDF5 file opened serially or through MPI-IO on a communicator. Closing a parallel file
// is collective, so it is an explicit `close()` called by every rank at the same point; deinit
// only checks that it happened (docs/design.md §2).
import CHDF5
import CShims
import Foundation
import SwiftMPI
import Synchronization

public final class File: Location {
  public let path: String
  public let access: FileAccess
  let id: hid_t
  public private(set) var isOpen = true

  public enum Mode: Sendable { case readOnly, readWrite }

  private init(path: String, access: FileAccess, id: hid_t) {
    self.path = path
    self.access = access
    self.id = id
  }

  /// True when opened through MPI-IO (create/open/close and metadata changes are collective).
  public var isParallel: Bool { access.communicator != nil }

  /// Creates a file; an existing file is truncated when `overwrite`, refused otherwise.
  public static func create(
    _ path: String, access: FileAccess = .serial,
    overwrite: Bool = true
  ) throws(HDF5Error) -> File {
    HDF5Library.quiet
    let ctx = ErrorContext(file: path, object: "/")
    let fapl = try access.make(ctx)
    let flags = overwrite ? pt_h5f_acc_trunc() : pt_h5f_acc_excl()
    let id = try ctx.id("create file", H5Fcreate(path, flags, pt_h5p_default(), fapl.id))
    return File(path: path, access: access, id: id)
  }

  /// Opens an existing file.
  public static func open(
    _ path: String, mode: Mode = .readOnly,
    access: FileAccess = .serial
  ) throws(HDF5Error) -> File {
    HDF5Library.quiet
    let ctx = ErrorContext(file: path, object: "/")
    guard FileManager.default.fileExists(atPath: path) else {
      throw ctx.error("open file", "no such file")
    }
    let fapl = try access.make(ctx)
    let flags = mode == .readOnly ? pt_h5f_acc_rdonly() : pt_h5f_acc_rdwr()
    let id = try ctx.id("open file", H5Fopen(path, flags, fapl.id))
    return File(path: path, access: access, id: id)
  }

  /// Flushes and closes the file (collective for a parallel file). Closing twice is a no-op.
  public func close() throws(HDF5Error) {
    guard isOpen else { return }
    isOpen = false
    let status = H5Fclose(id)
    if status < 0 && isParallel { _ = File.abandonedCount.add(1, ordering: .relaxed) }
    try ErrorContext(file: path, object: "/").check("close file", status)
  }

  private static let abandonedCount = Atomic<Int>(0)

  /// Parallel files HDF5 could not close (a disk that filled up during the write): the library
  /// keeps them and tries to close them again inside MPI_Finalize, where it crashes. A program
  /// that has any should end without finalising MPI (`MPIEnvironment.run`'s `finalize`).
  public static var abandoned: Int { abandonedCount.load(ordering: .relaxed) }

  /// Flushes buffers to the file (collective for a parallel file).
  public func flush() throws(HDF5Error) {
    try ErrorContext(file: path, object: "/").check("flush file", H5Fflush(id, H5F_SCOPE_GLOBAL))
  }

  deinit {
    guard isOpen else { return }
    if isParallel {
      // A collective close from ARC could deadlock (ranks release at different times): leave the
      // handle open and say so. MPI_Finalize still flushes nothing we did not write.
      MPIEnvironment.printError(
        "ParallelHDF5: \(path) was not closed with close(); "
          + "call close() on every rank")
    } else {
      H5Fclose(id)
    }
  }

  // Location
  public var locationID: hid_t { id }
  public var file: File { self }
  public var objectPath: String { "/" }
}

/// Library facts for `doctor` and the tests.
public enum HDF5Info {
  /// H5get_libversion, e.g. "1.10.8".
  public static var version: String {
    var major: UInt32 = 0, minor: UInt32 = 0, release: UInt32 = 0
    _ = H5get_libversion(&major, &minor, &release)
    return "\(major).\(minor).\(release)"
  }

  /// Whether this HDF5 was built with parallel (MPI-IO) support.
  public static var isParallel: Bool { pt_h5_have_parallel() != 0 }

  /// Counts of open HDF5 identifiers, to detect handle leaks.
  public struct OpenCounts: Equatable, Sendable {
    public var files = 0, objects = 0, dataspaces = 0, datatypes = 0, propertyLists = 0,
      attributes = 0
    public var total: Int { files + objects + dataspaces + datatypes + propertyLists + attributes }
  }

  public static func openCounts() -> OpenCounts {
    HDF5Library.quiet
    func members(_ t: H5I_type_t) -> Int {
      var n: hsize_t = 0
      _ = H5Inmembers(t, &n)
      return Int(n)
    }
    var c = OpenCounts()
    c.files = members(H5I_FILE)
    c.objects = members(H5I_GROUP) + members(H5I_DATASET)
    c.dataspaces = members(H5I_DATASPACE)
    c.datatypes = members(H5I_DATATYPE)
    c.propertyLists = members(H5I_GENPROP_LST)
    c.attributes = members(H5I_ATTR)
    return c
  }
}

extension HDF5Info {
  /// Whether an MPI-IO file access list can be made (false when a serial libhdf5 got linked:
  /// H5Pset_fapl_mpio then fails with "not a file access list", docs/design.md §3).
  public static func mpioAccessWorks(_ communicator: Communicator) -> Bool {
    HDF5Library.quiet
    let ctx = ErrorContext(file: "(doctor)", object: "/")
    do {
      _ = try FileAccess.mpio(communicator).make(ctx)
      return true
    } catch {
      return false
    }
  }
}
