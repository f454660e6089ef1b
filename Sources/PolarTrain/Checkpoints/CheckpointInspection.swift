// Checking a checkpoint in one process, without MPI-IO: what `polar-train inspect` prints, and
// what rank 0 checks before the ranks read a file collectively on resume (so a damaged file is
// refused on every rank alike, never half-opened by some of them). Every problem is one line:
// "<what>: <what is wrong>".
import Foundation
import ParallelHDF5
import PolarCore

public struct CheckpointInspection: Sendable {
  public struct NetworkSummary: Sendable {
    public var name: String
    public var parameters: Int
    public var blocks: Int
    public var adamStep: Int
  }

  public var path: String
  /// Root attributes other than config and metrics, as text.
  public var attributes: [(name: String, value: String)] = []
  public var stage = ""
  public var step = 0
  public var config: Config?
  public var configText = ""
  /// metrics.jsonl as it was when the checkpoint was written.
  public var metrics = ""
  public var networks: [NetworkSummary] = []
  public var storedChecksum = ""
  public var computedChecksum = ""
  public var problems: [String] = []
  public var isValid: Bool { problems.isEmpty }

  /// The checksum verdict, as `inspect` prints it.
  public var checksumVerdict: String {
    if computedChecksum.isEmpty { return "not computed (the data could not be read)" }
    return storedChecksum == computedChecksum
      ? "ok (\(storedChecksum))"
      : "MISMATCH: stored \(storedChecksum), computed \(computedChecksum)"
  }
}

extension Checkpoint {
  /// Reads and checks everything in `path`: format, version, attributes, the configuration,
  /// every network's datasets and shapes against the configuration, and the checksum.
  public static func inspect(_ path: String) -> CheckpointInspection {
    var r = CheckpointInspection(path: path)
    var isDirectory: ObjCBool = false
    guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
      r.problems.append("\(path): no such file")
      return r
    }
    if isDirectory.boolValue {
      r.problems.append("\(path): is a directory, not a checkpoint file")
      return r
    }
    // A FIFO or a device would block or never end an HDF5 open.
    var info = stat()
    guard stat(path, &info) == 0, info.st_mode & S_IFMT == S_IFREG else {
      r.problems.append("\(path): not a regular file, not a checkpoint file")
      return r
    }
    let file: File
    do {
      file = try File.open(path)
    } catch {
      r.problems.append("\(path): cannot open as HDF5 (truncated or not HDF5): \(error)")
      return r
    }
    defer { try? file.close() }
    func text(_ name: String) -> String? { try? file.stringAttribute(name) }
    func integer(_ name: String) -> Int64? { try? file.scalarAttribute(name, as: Int64.self) }
    guard let format = text("format"), format == Checkpoint.format else {
      r.problems.append("\(path): attribute format: \(text("format").map { "\"\($0)\"" } ?? "missing"), expected \"\(Checkpoint.format)\"")
      return r
    }
    guard let version = integer("version"), version == Checkpoint.version else {
      r.problems.append("\(path): attribute version: \(integer("version").map(String.init) ?? "missing"), this program reads \(Checkpoint.version)")
      return r
    }
    for name in ["stage", "created", "checksum", "program"] {
      if let v = text(name) { r.attributes.append((name, v)) } else { r.problems.append("\(path): attribute \(name): missing") }
    }
    for name in ["version", "step", "seed", "world_size", "rollbacks"] {
      if let v = integer(name) { r.attributes.append((name, String(v))) } else { r.problems.append("\(path): attribute \(name): missing") }
    }
    if let s = try? file.scalarAttribute("lr_scale", as: Double.self) {
      r.attributes.append(("lr_scale", "\(s)"))
    } else {
      r.problems.append("\(path): attribute lr_scale: missing")
    }
    r.stage = text("stage") ?? ""
    r.step = Int(integer("step") ?? 0)
    r.storedChecksum = text("checksum") ?? ""
    r.metrics = text("metrics") ?? ""
    r.configText = text("config") ?? ""
    var config = Config()
    do {
      try config.apply(toml: r.configText, source: "\(path) (attribute config)")
      r.config = config
    } catch {
      r.problems.append("\(error)")
      return r
    }
    r.problems += attributeProblems(
      path, stage: r.stage, step: integer("step"), rollbacks: integer("rollbacks"),
      worldSize: integer("world_size"),
      lrScale: try? file.scalarAttribute("lr_scale", as: Double.self), config: config)
    // The networks the stored configuration describes must fit in memory before they are laid out.
    let budget = MemoryBudget.cached ?? MemoryBudget.local()
    if let excess = budget.excess(total(MemoryEstimate.networkState(config).map(\.bytes))) {
      r.problems.append("\(path): attribute config: its networks \(excess)")
      return r
    }
    // Every network: params, adam/m, adam/v of the length the configuration's layout needs.
    let nets = Networks(config)
    // (An unknown stage is one of the problems above; the checksum does not cover the stage.)
    var state = TrainState(stage: Stage(rawValue: r.stage) ?? .potential, step: r.step, networks: [:])
    for name in Networks.names {
      let expected = nets.layout(name)
      do {
        let params = try file.dataset("\(name)/params").read(as: Float.self)
        var st = NetworkState(params: params)
        st.adam.m = try file.dataset("\(name)/adam/m").read(as: Float.self)
        st.adam.v = try file.dataset("\(name)/adam/v").read(as: Float.self)
        st.adam.t = Int(try file.dataset("\(name)/adam/t").read(as: Int64.self).first ?? -1)
        let offsets = try file.dataset("\(name)/layout/offsets").read(as: Int64.self)
        for (what, v) in [("params", params), ("adam/m", st.adam.m), ("adam/v", st.adam.v)] where v.count != expected.count {
          r.problems.append("\(path): dataset \(name)/\(what): \(v.count) values, the configuration's \(name) network has \(expected.count)")
        }
        if offsets != expected.blocks.map({ Int64($0.offset) }) {
          r.problems.append("\(path): dataset \(name)/layout/offsets: does not match the configuration's \(name) network")
        }
        r.problems += stateProblems(path, network: name.rawValue, st)
        r.networks.append(.init(name: name.rawValue, parameters: params.count, blocks: offsets.count, adamStep: st.adam.t))
        state.networks[name] = st
      } catch {
        r.problems.append("\(error)")
      }
    }
    guard state.networks.count == Networks.names.count else { return r }
    r.computedChecksum = String(state.checksum, radix: 16)
    if r.computedChecksum != r.storedChecksum {
      r.problems.append("\(path): checksum: stored \(r.storedChecksum), computed \(r.computedChecksum) (the data changed after writing)")
    }
    return r
  }
}
