// Errors as values. HDF5's automatic error printing is switched off once; after a failed call the
// library's error stack is read (H5Ewalk2) and turned into an HDF5Error naming the file, the
// object path and HDF5's own message.
import CHDF5
import CShims

public struct HDF5Error: Error, CustomStringConvertible, Sendable {
  /// The file involved (its path as given by the caller).
  public let file: String
  /// The object path inside the file ("/" for the file itself).
  public let object: String
  /// What we were doing, e.g. "open dataset".
  public let operation: String
  /// HDF5's message (innermost error-stack entry), or our own check's message.
  public let message: String

  public init(file: String, object: String, operation: String, message: String) {
    self.file = file
    self.object = object
    self.operation = operation
    self.message = message
  }

  public var description: String {
    object.isEmpty || object == "/"
      ? "\(file): cannot \(operation): \(message)"
      : "\(file): \(object): cannot \(operation): \(message)"
  }
}

enum HDF5Library {
  /// Switches off automatic error printing, once per process (H5Eset_auto2 with no callback).
  static let quiet: Void = {
    _ = H5open()
    _ = H5Eset_auto2(pt_h5e_default(), nil, nil)
  }()

  /// Reads and clears the default error stack: "outer description: inner description".
  static func takeErrorMessage() -> String {
    final class Collected { var descriptions: [String] = [] }
    let collected = Collected()
    let unmanaged = Unmanaged.passRetained(collected)
    defer { unmanaged.release() }
    _ = H5Ewalk2(
      pt_h5e_default(), H5E_WALK_DOWNWARD,
      { _, entry, context in
        guard let entry, let context else { return 0 }
        let box = Unmanaged<Collected>.fromOpaque(context).takeUnretainedValue()
        if let desc = entry.pointee.desc { box.descriptions.append(String(cString: desc)) }
        return 0
      }, unmanaged.toOpaque())
    _ = H5Eclear2(pt_h5e_default())
    let d = collected.descriptions.filter { !$0.isEmpty }
    guard let inner = d.last else { return "HDF5 call failed (no message on the error stack)" }
    if let outer = d.first, outer != inner { return "\(outer) (\(inner))" }
    return inner
  }
}

/// Context for error messages: which file and object an operation is about.
public struct ErrorContext: Sendable {
  let file: String
  let object: String

  func error(_ operation: String, _ message: String? = nil) -> HDF5Error {
    HDF5Error(
      file: file, object: object, operation: operation,
      message: message ?? HDF5Library.takeErrorMessage())
  }

  /// Throws unless an herr_t/htri_t status is non-negative.
  @discardableResult
  func check<I: BinaryInteger>(_ operation: String, _ status: I) throws(HDF5Error) -> I {
    if status < 0 { throw error(operation) }
    return status
  }

  /// Throws unless an identifier is valid (non-negative).
  func id(_ operation: String, _ id: hid_t) throws(HDF5Error) -> hid_t {
    if id < 0 { throw error(operation) }
    return id
  }
}
