// Attributes on files, groups and datasets: scalars, arrays and UTF-8 strings. In a parallel
// file, writing an attribute is collective: every rank writes the same value.
import CHDF5
import CShims
import Foundation

public protocol AttributeHolder {
  var attributeTarget: hid_t { get }
  var attributeContext: ErrorContext { get }
}

extension File: AttributeHolder {}
extension Group: AttributeHolder {}
extension Location {
  public var attributeTarget: hid_t { locationID }
  public var attributeContext: ErrorContext { context() }
}
extension Dataset: AttributeHolder {
  public var attributeTarget: hid_t { id }
  public var attributeContext: ErrorContext { ctx }
}

extension AttributeHolder {
  public func hasAttribute(_ name: String) -> Bool {
    HDF5Library.quiet
    return H5Aexists(attributeTarget, name) > 0
  }

  /// Names of all attributes, in name order.
  public func attributeNames() throws(HDF5Error) -> [String] {
    var info = H5O_info_t()
    try attributeContext.check("get object info", H5Oget_info2(attributeTarget, &info, UInt32(H5O_INFO_NUM_ATTRS)))
    var names = [String]()
    for i in 0 ..< info.num_attrs {
      let len = H5Aget_name_by_idx(
        attributeTarget, ".", H5_INDEX_NAME, H5_ITER_INC, i, nil, 0,
        pt_h5p_default())
      try attributeContext.check("get attribute name", len)
      var buffer = [CChar](repeating: 0, count: Int(len) + 1)
      H5Aget_name_by_idx(
        attributeTarget, ".", H5_INDEX_NAME, H5_ITER_INC, i, &buffer, buffer.count,
        pt_h5p_default())
      names.append(String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self))
    }
    return names
  }

  /// Creates (replacing any existing) an attribute and writes it through `write`.
  private func create(
    _ name: String, type: hid_t, count: Int?,
    _ write: (hid_t, hid_t) -> herr_t
  ) throws(HDF5Error) {
    HDF5Library.quiet
    let ctx = attributeContext
    let op = "write attribute '\(name)'"
    if H5Aexists(attributeTarget, name) > 0 {
      try ctx.check(op, H5Adelete(attributeTarget, name))
    }
    let space: hid_t
    if let count {
      var dims = [hsize_t(count)]
      space = H5Screate_simple(1, &dims, nil)
    } else {
      space = H5Screate(H5S_SCALAR)
    }
    _ = try ctx.id(op, space)
    defer { H5Sclose(space) }
    let attr = try ctx.id(
      op,
      H5Acreate2(
        attributeTarget, name, type, space, pt_h5p_default(),
        pt_h5p_default()))
    defer { H5Aclose(attr) }
    try ctx.check(op, write(attr, type))
  }

  /// Opens an attribute and runs `body` with it, its type and its element count.
  private func open<R>(
    _ name: String, _ body: (hid_t, ElementType, Int) throws(HDF5Error) -> R
  )
    throws(HDF5Error) -> R
  {
    HDF5Library.quiet
    let ctx = attributeContext
    let op = "read attribute '\(name)'"
    guard H5Aexists(attributeTarget, name) > 0 else {
      _ = H5Eclear2(pt_h5e_default())
      throw ctx.error(op, "no such attribute")
    }
    let attr = try ctx.id(op, H5Aopen(attributeTarget, name, pt_h5p_default()))
    defer { H5Aclose(attr) }
    let t = H5Aget_type(attr)
    defer { H5Tclose(t) }
    let space = H5Aget_space(attr)
    defer { H5Sclose(space) }
    return try body(attr, ElementType(datatype: t), Int(H5Sget_simple_extent_npoints(space)))
  }

  // MARK: numbers

  public func setAttribute<T: HDF5Scalar>(_ name: String, _ value: T) throws(HDF5Error) {
    var v = value
    try create(name, type: T.hdf5Type, count: nil) { a, t in H5Awrite(a, t, &v) }
  }

  public func setAttribute<T: HDF5Scalar>(_ name: String, _ values: [T]) throws(HDF5Error) {
    try create(name, type: T.hdf5Type, count: values.count) { a, t in H5Awrite(a, t, values) }
  }

  /// All values of a numeric attribute (a scalar gives one).
  public func attribute<T: HDF5Scalar>(_ name: String, as _: T.Type) throws(HDF5Error) -> [T] {
    let ctx = attributeContext
    return try open(name) { (attr, type, n) throws(HDF5Error) in
      guard compatible(stored: type, requested: T.elementType) else {
        throw ctx.error(
          "read attribute '\(name)'",
          "wrong type: attribute holds \(type), asked for \(T.elementType)")
      }
      var out = [T](repeating: T.zero, count: n)
      try ctx.check("read attribute '\(name)'", H5Aread(attr, T.hdf5Type, &out))
      return out
    }
  }

  /// A scalar numeric attribute.
  public func scalarAttribute<T: HDF5Scalar>(_ name: String, as _: T.Type) throws(HDF5Error) -> T {
    let values = try attribute(name, as: T.self)
    guard values.count == 1 else {
      throw attributeContext.error(
        "read attribute '\(name)'",
        "wrong shape: \(values.count) values, expected one")
    }
    return values[0]
  }

  // MARK: strings

  /// A UTF-8 string attribute (variable length, scalar).
  public func setAttribute(_ name: String, _ value: String) throws(HDF5Error) {
    let t = variableStringType()
    defer { H5Tclose(t) }
    let copy = strdup(value)
    defer { free(copy) }
    var pointer: UnsafePointer<CChar>? = copy.map { UnsafePointer($0) }
    try create(name, type: t, count: nil) { a, _ in H5Awrite(a, t, &pointer) }
  }

  /// A string attribute, variable or fixed length.
  public func stringAttribute(_ name: String) throws(HDF5Error) -> String {
    let ctx = attributeContext
    return try open(name) { (attr, type, n) throws(HDF5Error) in
      let op = "read attribute '\(name)'"
      guard case .string(let length) = type, n == 1 else {
        throw ctx.error(op, "wrong type: attribute holds \(n) x \(type), expected one string")
      }
      if let length {
        let t = fixedStringType(length)
        defer { H5Tclose(t) }
        var bytes = [UInt8](repeating: 0, count: length)
        try ctx.check(op, H5Aread(attr, t, &bytes))
        return decodeFixed(bytes[...])
      }
      let t = variableStringType()
      defer { H5Tclose(t) }
      var pointer: UnsafeMutablePointer<CChar>? = nil
      try ctx.check(op, H5Aread(attr, t, &pointer))
      defer { if let pointer { H5free_memory(pointer) } }
      return pointer.map { String(cString: $0) } ?? ""
    }
  }
}
