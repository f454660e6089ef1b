// Property lists as small value types (file access, transfer, dataset creation). Each makes an
// HDF5 property list on demand, owned by a `PropertyList` that closes it.
import CHDF5
import CShims
import SwiftMPI

/// Owns one HDF5 property list identifier.
final class PropertyList {
  let id: hid_t
  init(class cls: hid_t) { id = H5Pcreate(cls) }
  deinit { if id >= 0 { H5Pclose(id) } }
}

/// How a file is accessed: by this process alone, or by every rank of a communicator through
/// MPI-IO (then create, open and close are collective over it).
public enum FileAccess: Sendable {
  case serial
  case mpio(Communicator)

  var communicator: Communicator? {
    if case .mpio(let c) = self { return c }
    return nil
  }

  func make(_ ctx: ErrorContext) throws(HDF5Error) -> PropertyList {
    let p = PropertyList(class: pt_h5p_file_access())
    _ = try ctx.id("create file access list", p.id)
    // With STRONG, closing the file also closes objects still open in it, so `close()` cannot
    // fail because Swift still holds a dataset; their deinit then sees an invalid id.
    try ctx.check("set close degree", H5Pset_fclose_degree(p.id, H5F_CLOSE_STRONG))
    if let comm = communicator {
      try ctx.check("set MPI-IO file access", H5Pset_fapl_mpio(p.id, comm.handle, pt_mpi_info_null()))
    }
    return p
  }
}

/// How a dataset read or write moves data in a parallel file: all ranks together in one MPI-IO
/// call (collective, every rank must call) or each rank on its own (independent).
public enum TransferMode: Sendable {
  case collective, independent
}

/// What actually happened in a parallel transfer (H5Pget_mpio_actual_io_mode and
/// H5Pget_mpio_no_collective_cause). For serial files `parallel` is false.
public struct TransferReport: Sendable, CustomStringConvertible {
  public let parallel: Bool
  public let requested: TransferMode
  /// H5D_mpio_actual_io_mode_t: 0 none, 1 chunk independent, 2 chunk collective, 3 chunk mixed,
  /// 4 contiguous collective.
  public let actualMode: UInt32
  /// Bits of H5D_mpio_no_collective_cause_t on this rank and on any rank (0: none).
  public let localNoCollectiveCause: UInt32
  public let globalNoCollectiveCause: UInt32

  /// True when a collective request was carried out collectively on every rank.
  public var stayedCollective: Bool {
    parallel && requested == .collective && globalNoCollectiveCause == 0 && actualMode != 0
  }

  public var description: String {
    "transfer(parallel: \(parallel), requested: \(requested), actual mode: \(actualMode), "
      + "no-collective cause local \(localNoCollectiveCause) global \(globalNoCollectiveCause))"
  }

  static let serial = TransferReport(
    parallel: false, requested: .independent, actualMode: 0,
    localNoCollectiveCause: 0, globalNoCollectiveCause: 0)
}

func makeTransfer(
  _ mode: TransferMode, parallel: Bool, _ ctx: ErrorContext
) throws(HDF5Error)
  -> PropertyList
{
  let p = PropertyList(class: pt_h5p_dataset_xfer())
  _ = try ctx.id("create transfer list", p.id)
  if parallel {
    let m = mode == .collective ? H5FD_MPIO_COLLECTIVE : H5FD_MPIO_INDEPENDENT
    try ctx.check("set MPI-IO transfer mode", H5Pset_dxpl_mpio(p.id, m))
  }
  return p
}

func report(_ p: PropertyList, _ mode: TransferMode, parallel: Bool) -> TransferReport {
  guard parallel else { return .serial }
  var actual = H5D_MPIO_NO_COLLECTIVE
  var local: UInt32 = 0, global: UInt32 = 0
  _ = H5Pget_mpio_actual_io_mode(p.id, &actual)
  _ = H5Pget_mpio_no_collective_cause(p.id, &local, &global)
  return TransferReport(
    parallel: true, requested: mode, actualMode: actual.rawValue,
    localNoCollectiveCause: local, globalNoCollectiveCause: global)
}

/// Dataset creation: optional chunk shape (needed for compression or extendible datasets).
public struct DatasetCreation: Sendable {
  public var chunk: [Int]?
  /// Whether the dataset's header records its creation and modification times. Off by default,
  /// so that the same data written twice (or by another number of ranks) is the same bytes.
  public var trackTimes: Bool
  public init(chunk: [Int]? = nil, trackTimes: Bool = false) { (self.chunk, self.trackTimes) = (chunk, trackTimes) }

  func make(_ ctx: ErrorContext) throws(HDF5Error) -> PropertyList {
    let p = PropertyList(class: pt_h5p_dataset_create())
    _ = try ctx.id("create dataset creation list", p.id)
    if let chunk {
      let dims = chunk.map { hsize_t($0) }
      try ctx.check("set chunk shape \(chunk)", H5Pset_chunk(p.id, Int32(dims.count), dims))
    }
    _ = try ctx.check("set time tracking", H5Pset_obj_track_times(p.id, trackTimes))
    return p
  }
}
