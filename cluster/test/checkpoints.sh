# Sourced by cluster/test/local-slurm and cluster/test/multi-host (each defines `fail MESSAGE`):
# comparing runs' final parameters bit for bit.

# final_checkpoint RUN_DIR: the path of the run's newest checkpoint.
final_checkpoint() { echo "$1/checkpoints/$(cat "$1/checkpoints/latest")"; }

# same_parameters A.h5 B.h5: every network's flat parameter vector is bitwise equal; prints the
# networks compared.
same_parameters() {
  local nets net
  nets=$(h5ls "$1" | awk '$2 == "Group" { print $1 }')
  [[ -n "$nets" ]] || fail "$1: no networks"
  for net in $nets; do
    h5diff -q "$1" "$2" "/$net/params" "/$net/params" || fail "/$net/params differs between $1 and $2"
  done
  echo "$nets" | tr '\n' ' '
}
