/// The program's version, printed by `polar-train --version` and stored in checkpoints.
public let polarTrainVersion = "0.1.0"
