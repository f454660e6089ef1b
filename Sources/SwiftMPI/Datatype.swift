// Swift scalars that map to MPI datatypes; the collectives are generic over this protocol.
import CMPI
import CShims

public protocol MPIScalar: BitwiseCopyable, Sendable {
  static var mpiDatatype: MPI_Datatype { get }
  static var zero: Self { get }
}

extension Float: MPIScalar {
  public static var mpiDatatype: MPI_Datatype { pt_mpi_float() }
}
extension Double: MPIScalar {
  public static var mpiDatatype: MPI_Datatype { pt_mpi_double() }
}
extension Int32: MPIScalar {
  public static var mpiDatatype: MPI_Datatype { pt_mpi_int32() }
}
extension Int64: MPIScalar {
  public static var mpiDatatype: MPI_Datatype { pt_mpi_int64() }
}
extension Int16: MPIScalar {
  public static var mpiDatatype: MPI_Datatype { pt_mpi_int16() }
}
extension UInt8: MPIScalar {
  public static var mpiDatatype: MPI_Datatype { pt_mpi_uint8() }
}

/// The reduction operations of the collectives.
public enum ReduceOp: Sendable {
  case sum, max, min
  var handle: MPI_Op {
    switch self {
    case .sum: pt_mpi_sum()
    case .max: pt_mpi_max()
    case .min: pt_mpi_min()
    }
  }
}
