// CShims: the handles Swift cannot import because they are C macros (casts of addresses of
// library globals, or expressions that call H5open). No API of its own (docs/design.md §2).
#pragma once
#include <mpi.h>
#include <hdf5.h>

// MPI predefined handles.
MPI_Comm pt_mpi_comm_world(void);
MPI_Comm pt_mpi_comm_self(void);
MPI_Comm pt_mpi_comm_null(void);
MPI_Datatype pt_mpi_float(void);
MPI_Datatype pt_mpi_double(void);
MPI_Datatype pt_mpi_int32(void);
MPI_Datatype pt_mpi_int64(void);
MPI_Datatype pt_mpi_uint8(void);
MPI_Datatype pt_mpi_int16(void);
MPI_Datatype pt_mpi_char(void);
MPI_Op pt_mpi_sum(void);
MPI_Op pt_mpi_max(void);
MPI_Op pt_mpi_min(void);
MPI_Info pt_mpi_info_null(void);
MPI_Errhandler pt_mpi_errors_return(void);
int pt_mpi_undefined(void);
int pt_mpi_max_error_string(void);
int pt_mpi_max_library_version_string(void);
int pt_mpi_max_processor_name(void);
void *pt_mpi_in_place(void);
// The MPI family the program was compiled against: "Open MPI", "MPICH" (and its derivatives,
// which define MPICH_VERSION), or "unknown".
const char *pt_mpi_family(void);

// The calls with a handle out-parameter, returning the handle by value (MPI_COMM_NULL on error,
// the code in *error), so that Swift never spells a handle's representation: Open MPI's handles
// are pointers (imported as optionals), MPICH's are ints.
MPI_Comm pt_mpi_comm_split(MPI_Comm comm, int color, int key, int *error);
MPI_Comm pt_mpi_comm_split_shared(MPI_Comm comm, int key, int *error);
MPI_Comm pt_mpi_comm_dup(MPI_Comm comm, int *error);
int pt_mpi_comm_free(MPI_Comm comm);
// Nonblocking all-reduce (MPI-3): the request is returned by value (an int in MPICH, a pointer
// in Open MPI), so Swift never spells its representation. Test and wait return the request
// after the call (MPI_REQUEST_NULL once complete).
MPI_Request pt_mpi_request_null(void);
MPI_Request pt_mpi_iallreduce(const void *send, void *recv, int count, MPI_Datatype type, MPI_Op op,
                              MPI_Comm comm, int *error);
MPI_Request pt_mpi_test(MPI_Request request, int *done, int *error);
MPI_Request pt_mpi_wait(MPI_Request request, int *error);

// HDF5 predefined identifiers and flags.
hid_t pt_h5p_default(void);
hid_t pt_h5e_default(void);
hid_t pt_h5s_all(void);
hid_t pt_h5p_file_access(void);
hid_t pt_h5p_dataset_create(void);
hid_t pt_h5p_dataset_xfer(void);
hid_t pt_h5p_link_create(void);
hid_t pt_h5t_native_float(void);
hid_t pt_h5t_native_double(void);
hid_t pt_h5t_native_int32(void);
hid_t pt_h5t_native_int64(void);
hid_t pt_h5t_native_uint8(void);
hid_t pt_h5t_c_s1(void);
unsigned pt_h5f_acc_trunc(void);
unsigned pt_h5f_acc_excl(void);
unsigned pt_h5f_acc_rdonly(void);
unsigned pt_h5f_acc_rdwr(void);
unsigned pt_h5f_obj_all(void);
size_t pt_h5t_variable(void);
int pt_h5_have_parallel(void);
