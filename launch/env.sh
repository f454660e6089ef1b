# Sourced by the launchers: how polar-train runs under Open MPI on this kind of machine.
# Root is allowed (containers and CI run as root); more ranks than cores are allowed;
# OpenBLAS runs one thread per rank (docs/design.md §3).
export OMPI_ALLOW_RUN_AS_ROOT=1
export OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
export OPENBLAS_NUM_THREADS=${OPENBLAS_NUM_THREADS:-1}
export OMPI_MCA_rmaps_base_oversubscribe=${OMPI_MCA_rmaps_base_oversubscribe:-1}
# A container without a high-speed network: shared memory and loopback TCP only.
export OMPI_MCA_btl=${OMPI_MCA_btl:-self,vader,tcp}
export OMPI_MCA_btl_vader_single_copy_mechanism=${OMPI_MCA_btl_vader_single_copy_mechanism:-none}
