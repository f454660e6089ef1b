import Foundation
import ParallelHDF5
import TestSupport
import Testing

/// Runs `polar-train train` under mpirun into a fresh directory; returns the run and its directory.
func train(ranks: Int, _ settings: [String], tag: String, config: String? = nil, timeout: Double = 600) throws -> (RunResult, URL) {
  let dir = try Programs.temporaryDirectory(tag).appendingPathComponent("run")
  let args = ["train", "--quiet", "--output", dir.path] + (config.map { ["--config", $0] } ?? []) + settings.flatMap { ["--set", $0] }
  return (try Programs.mpirun(ranks, "polar-train", args, timeout: timeout), dir)
}

/// report/metrics.json of a finished run.
func reportMetrics(_ run: URL) throws -> [String: Double] {
  let data = try Data(contentsOf: run.appendingPathComponent("report/metrics.json"))
  return try JSONSerialization.jsonObject(with: data) as? [String: Double] ?? [:]
}

/// The newest checkpoint of a run (checkpoints/latest).
func latestCheckpoint(_ run: URL, directory: URL? = nil) throws -> String {
  let dir = directory ?? run.appendingPathComponent("checkpoints")
  let name = try String(contentsOf: dir.appendingPathComponent("latest"), encoding: .utf8)
    .trimmingCharacters(in: .whitespacesAndNewlines)
  return dir.appendingPathComponent(name).path
}

/// The run id in a run directory's marker (.polar-train-run).
func runID(_ run: URL) throws -> String {
  let text = try String(contentsOf: run.appendingPathComponent(".polar-train-run"), encoding: .utf8)
  guard let line = text.split(separator: "\n").first(where: { $0.hasPrefix("run_id") }),
    let id = line.split(separator: "\"").dropFirst().first
  else { throw TestFailure("no run_id in \(run.path)") }
  return String(id)
}

/// Every network's parameters in a checkpoint, as raw Float32 bit patterns.
func checkpointParameters(_ path: String) throws -> [String: [UInt32]] {
  let f = try File.open(path)
  defer { try? f.close() }
  var out = [String: [UInt32]]()
  for name in ["potential", "amortizer", "map", "inverse"] where f.exists(name) {
    out[name] = try f.dataset("\(name)/params").read(as: Float.self).map(\.bitPattern)
  }
  return out
}

/// One `polar-train:` line on stderr containing `message`, the status, and < 10 s.
func expectRefused(_ r: RunResult, _ status: Int32, _ message: String, _ what: String) {
  #expect(r.status == status, "\(what): \(r.combined)")
  #expect(r.seconds < 10, "\(what): \(r.seconds) s")
  let lines = r.stderr.split(separator: "\n").filter { $0.hasPrefix("polar-train:") }
  #expect(lines.count == 1 && lines.first?.contains(message) == true, "\(what): \(r.stderr)")
}
