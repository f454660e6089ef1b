// Errors as values: every MPI call goes through `check`, which turns a non-success return code
// into an `MPIError` carrying MPI_Error_string's text (the world communicator is set to
// MPI_ERRORS_RETURN by `Environment.initialize`).
import CMPI
import CShims

public struct MPIError: Error, CustomStringConvertible, Sendable {
  /// The MPI function that failed, e.g. "MPI_Allreduce".
  public let function: String
  /// The return code and its error class.
  public let code: Int32
  public let errorClass: Int32
  /// MPI_Error_string of the code.
  public let message: String

  public init(function: String, code: Int32, message: String? = nil) {
    self.function = function
    self.code = code
    var cls: Int32 = 0
    if MPIEnvironment.isInitialized && !MPIEnvironment.isFinalized {
      _ = MPI_Error_class(code, &cls)
    }
    self.errorClass = cls
    self.message = message ?? MPIError.errorString(code)
  }

  public var description: String { "\(function): \(message) (MPI error \(code))" }

  /// MPI_Error_string(code), or a generic text when MPI cannot be asked.
  static func errorString(_ code: Int32) -> String {
    guard MPIEnvironment.isInitialized && !MPIEnvironment.isFinalized else {
      return "MPI error code \(code)"
    }
    var buffer = [CChar](repeating: 0, count: Int(pt_mpi_max_error_string()) + 1)
    var length: Int32 = 0
    guard MPI_Error_string(code, &buffer, &length) == MPI_SUCCESS else {
      return "MPI error code \(code)"
    }
    return String(decoding: buffer.prefix(Int(length)).map { UInt8(bitPattern: $0) }, as: UTF8.self)
  }
}

/// Runs an MPI call and throws `MPIError` unless it returned MPI_SUCCESS.
@inline(__always)
func check(_ function: @autoclosure () -> String, _ code: Int32) throws(MPIError) {
  if code != MPI_SUCCESS { throw MPIError(function: function(), code: code) }
}

/// MPI counts are C ints: refuse buffers that do not fit instead of truncating.
@inline(__always)
func mpiCount(_ n: Int, _ function: String) throws(MPIError) -> Int32 {
  guard n >= 0, n <= Int(Int32.max) else {
    throw MPIError(
      function: function, code: -1,
      message: "count \(n) does not fit in an MPI int (max \(Int32.max))")
  }
  return Int32(n)
}
