// Location: the file root or a group; creates and opens groups and datasets by path.
import CHDF5
import CShims

public protocol Location: AnyObject {
  var locationID: hid_t { get }
  var file: File { get }
  /// Absolute path of this object inside the file.
  var objectPath: String { get }
}

public final class Group: Location {
  public let file: File
  public let objectPath: String
  let id: hid_t

  init(file: File, path: String, id: hid_t) {
    self.file = file
    self.objectPath = path
    self.id = id
  }

  public var locationID: hid_t { id }

  deinit { if H5Iis_valid(id) > 0 { H5Gclose(id) } }
}

func join(_ base: String, _ name: String) -> String {
  if name.hasPrefix("/") { return name }
  return base == "/" ? "/" + name : base + "/" + name
}

extension Location {
  func context(_ name: String = "") -> ErrorContext {
    ErrorContext(file: file.path, object: name.isEmpty ? objectPath : join(objectPath, name))
  }

  /// Whether a link `name` (a path relative to this location; one level or nested) exists.
  public func exists(_ name: String) -> Bool {
    HDF5Library.quiet
    var prefix = name.hasPrefix("/") ? "/" : ""
    for part in name.split(separator: "/") {
      prefix += (prefix.isEmpty || prefix.hasSuffix("/") ? "" : "/") + part
      if H5Lexists(locationID, prefix, pt_h5p_default()) <= 0 {
        _ = H5Eclear2(pt_h5e_default())
        return false
      }
    }
    return true
  }

  /// Removes the link `name` (a dataset or group; the space is not reclaimed). Collective for a
  /// parallel file.
  public func remove(_ name: String) throws(HDF5Error) {
    try context(name).check("remove link", H5Ldelete(locationID, name, pt_h5p_default()))
  }

  /// Creates a group (intermediate groups too). Collective for a parallel file.
  @discardableResult
  public func createGroup(_ name: String) throws(HDF5Error) -> Group {
    let ctx = context(name)
    let lcpl = PropertyList(class: pt_h5p_link_create())
    try ctx.check("set intermediate groups", H5Pset_create_intermediate_group(lcpl.id, 1))
    let id = try ctx.id(
      "create group",
      H5Gcreate2(locationID, name, lcpl.id, pt_h5p_default(), pt_h5p_default()))
    return Group(file: file, path: ctx.object, id: id)
  }

  /// Opens an existing group.
  public func group(_ name: String) throws(HDF5Error) -> Group {
    let ctx = context(name)
    guard exists(name) else { throw ctx.error("open group", "no such group") }
    let id = try ctx.id("open group", H5Gopen2(locationID, name, pt_h5p_default()))
    return Group(file: file, path: ctx.object, id: id)
  }

  /// Creates a dataset of `shape` holding `type` (intermediate groups are created). Collective for
  /// a parallel file: every rank passes the same arguments.
  @discardableResult
  public func createDataset(
    _ name: String, type: ElementType, shape: [Int],
    creation: DatasetCreation = DatasetCreation()
  ) throws(HDF5Error) -> Dataset {
    let ctx = context(name)
    guard shape.allSatisfy({ $0 >= 0 }) else {
      throw ctx.error("create dataset", "negative extent in shape \(shape)")
    }
    let dims = shape.map { hsize_t($0) }
    let space = H5Screate_simple(Int32(dims.count), dims, nil)
    _ = try ctx.id("create dataspace", space)
    defer { H5Sclose(space) }
    let (datatype, owned) = try fileType(type, ctx)
    defer { if owned { H5Tclose(datatype) } }
    let dcpl = try creation.make(ctx)
    let lcpl = PropertyList(class: pt_h5p_link_create())
    try ctx.check("set intermediate groups", H5Pset_create_intermediate_group(lcpl.id, 1))
    let id = try ctx.id(
      "create dataset",
      H5Dcreate2(locationID, name, datatype, space, lcpl.id, dcpl.id, pt_h5p_default()))
    return Dataset(file: file, path: ctx.object, id: id)
  }

  /// Opens an existing dataset.
  public func dataset(_ name: String) throws(HDF5Error) -> Dataset {
    let ctx = context(name)
    guard exists(name) else { throw ctx.error("open dataset", "no such dataset") }
    let id = try ctx.id("open dataset", H5Dopen2(locationID, name, pt_h5p_default()))
    return Dataset(file: file, path: ctx.object, id: id)
  }

  /// Names of the links directly below this location, in name order.
  public func memberNames() throws(HDF5Error) -> [String] {
    let names = Names()
    let box = Unmanaged.passRetained(names)
    defer { box.release() }
    var idx: hsize_t = 0
    try context().check(
      "list members",
      H5Literate(
        locationID, H5_INDEX_NAME, H5_ITER_INC, &idx,
        {
          _, name, _, data in
          if let name, let data {
            Unmanaged<Names>.fromOpaque(data).takeUnretainedValue().list.append(String(cString: name))
          }
          return 0
        }, box.toOpaque()))
    return names.list
  }
}

/// The datatype stored in the file for an element type; `owned` if the caller must close it.
func fileType(_ type: ElementType, _ ctx: ErrorContext) throws(HDF5Error) -> (hid_t, Bool) {
  switch type {
  case .float32: (pt_h5t_native_float(), false)
  case .float64: (pt_h5t_native_double(), false)
  case .int32: (pt_h5t_native_int32(), false)
  case .int64: (pt_h5t_native_int64(), false)
  case .uint8: (pt_h5t_native_uint8(), false)
  case .float16: (float16Type(), true)
  case .int16: (int16Type(), true)
  case .string(let length): (length.map(fixedStringType) ?? variableStringType(), true)
  case .other: throw ctx.error("create", "cannot create objects of \(type)")
  }
}

private final class Names { var list: [String] = [] }
