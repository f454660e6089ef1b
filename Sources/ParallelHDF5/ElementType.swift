// Swift scalars stored in HDF5, and the element kinds a dataset can hold.
import CHDF5
import CShims

public enum ElementType: Equatable, Sendable, CustomStringConvertible {
  case float32, float64, int32, int64, uint8
  /// IEEE half precision and 16-bit integers: read (converted by HDF5) or named in errors.
  case float16, int16
  /// Strings, fixed length (bytes) or variable length (nil).
  case string(length: Int?)
  /// Anything else (compound, other integer widths, ...), with HDF5's class number.
  case other(H5T_class_t.RawValue)

  public var description: String {
    switch self {
    case .float16: "float16"
    case .int16: "int16"
    case .float32: "float32"
    case .float64: "float64"
    case .int32: "int32"
    case .int64: "int64"
    case .uint8: "uint8"
    case .string(let n): n.map { "string[\($0)]" } ?? "string"
    case .other(let c): "HDF5 type class \(c)"
    }
  }

  public var isFloat: Bool { self == .float16 || self == .float32 || self == .float64 }
  public var isInteger: Bool { self == .int16 || self == .int32 || self == .int64 || self == .uint8 }

  /// Classifies an HDF5 datatype identifier.
  init(datatype t: hid_t) {
    let cls = H5Tget_class(t)
    let size = H5Tget_size(t)
    switch cls {
    case H5T_FLOAT: self = size == 2 ? .float16 : size == 4 ? .float32 : size == 8 ? .float64 : .other(cls.rawValue)
    case H5T_INTEGER:
      let signed = H5Tget_sign(t) == H5T_SGN_2
      switch (size, signed) {
      case (2, true): self = .int16
      case (4, true): self = .int32
      case (8, true): self = .int64
      case (1, false): self = .uint8
      default: self = .other(cls.rawValue)
      }
    case H5T_STRING: self = H5Tis_variable_str(t) > 0 ? .string(length: nil) : .string(length: size)
    default: self = .other(cls.rawValue)
    }
  }
}

/// A Swift scalar with a native HDF5 type.
public protocol HDF5Scalar: BitwiseCopyable, Sendable {
  static var hdf5Type: hid_t { get }
  static var elementType: ElementType { get }
  static var zero: Self { get }
}

extension Float: HDF5Scalar {
  public static var hdf5Type: hid_t { pt_h5t_native_float() }
  public static var elementType: ElementType { .float32 }
}
extension Double: HDF5Scalar {
  public static var hdf5Type: hid_t { pt_h5t_native_double() }
  public static var elementType: ElementType { .float64 }
}
extension Int32: HDF5Scalar {
  public static var hdf5Type: hid_t { pt_h5t_native_int32() }
  public static var elementType: ElementType { .int32 }
}
extension Int64: HDF5Scalar {
  public static var hdf5Type: hid_t { pt_h5t_native_int64() }
  public static var elementType: ElementType { .int64 }
}
extension UInt8: HDF5Scalar {
  public static var hdf5Type: hid_t { pt_h5t_native_uint8() }
  public static var elementType: ElementType { .uint8 }
}

/// Reading converts between float widths (a field file may be float32 or float64, docs/design.md §4)
/// and between integer widths, never between numbers and strings or floats and integers.
func compatible(stored: ElementType, requested: ElementType) -> Bool {
  if stored == requested { return true }
  if stored.isFloat && requested.isFloat { return true }
  if stored.isInteger && requested.isInteger { return true }
  return false
}

/// IEEE 754 binary16 (1 sign, 5 exponent, 10 mantissa bits, bias 15), little-endian (caller closes).
func float16Type() -> hid_t {
  let t = H5Tcopy(pt_h5t_native_float())
  H5Tset_fields(t, 15, 10, 5, 0, 10)
  H5Tset_size(t, 2)
  H5Tset_ebias(t, 15)
  return t
}

/// Signed 16-bit integer (caller closes).
func int16Type() -> hid_t {
  let t = H5Tcopy(pt_h5t_native_int32())
  H5Tset_size(t, 2)
  return t
}

/// Variable-length UTF-8 string datatype (caller closes).
func variableStringType() -> hid_t {
  let t = H5Tcopy(pt_h5t_c_s1())
  H5Tset_size(t, pt_h5t_variable())
  H5Tset_cset(t, H5T_CSET_UTF8)
  return t
}

/// Fixed-length UTF-8 string datatype of `length` bytes, null padded (caller closes).
func fixedStringType(_ length: Int) -> hid_t {
  let t = H5Tcopy(pt_h5t_c_s1())
  H5Tset_size(t, max(1, length))
  H5Tset_strpad(t, H5T_STR_NULLPAD)
  H5Tset_cset(t, H5T_CSET_UTF8)
  return t
}
