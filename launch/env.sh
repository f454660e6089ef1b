# Sourced by the launchers: how polar-train runs under Open MPI (or MPICH) on this kind of machine.
# Root is allowed (containers and CI run as root); more ranks than cores are allowed;
# OpenBLAS runs one thread per rank (docs/design.md §3).
export OMPI_ALLOW_RUN_AS_ROOT=1
export OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
export OPENBLAS_NUM_THREADS=${OPENBLAS_NUM_THREADS:-1}
export OMPI_MCA_rmaps_base_oversubscribe=${OMPI_MCA_rmaps_base_oversubscribe:-1}
# A container without a high-speed network: shared memory and loopback TCP only.
export OMPI_MCA_btl=${OMPI_MCA_btl:-self,vader,tcp}
export OMPI_MCA_btl_vader_single_copy_mechanism=${OMPI_MCA_btl_vader_single_copy_mechanism:-none}

# The launcher of the MPI that polar-train is built with (POLAR_MPI, as for the build;
# launch/train also looks at the binary): Open MPI's mpirun, or MPICH's hydra (Debian calls it
# mpiexec.mpich; elsewhere mpiexec). POLAR_MPIRUN names another.
if [[ "${POLAR_MPI:-openmpi}" == mpich ]]; then
  polar_mpirun=${POLAR_MPIRUN:-$(command -v mpiexec.mpich || echo mpiexec)}
else
  polar_mpirun=${POLAR_MPIRUN:-mpirun}
fi
