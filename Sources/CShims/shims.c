#include "CShims.h"

MPI_Comm pt_mpi_comm_world(void) { return MPI_COMM_WORLD; }
MPI_Comm pt_mpi_comm_self(void) { return MPI_COMM_SELF; }
MPI_Comm pt_mpi_comm_null(void) { return MPI_COMM_NULL; }
MPI_Datatype pt_mpi_float(void) { return MPI_FLOAT; }
MPI_Datatype pt_mpi_double(void) { return MPI_DOUBLE; }
MPI_Datatype pt_mpi_int32(void) { return MPI_INT32_T; }
MPI_Datatype pt_mpi_int64(void) { return MPI_INT64_T; }
MPI_Datatype pt_mpi_uint8(void) { return MPI_UINT8_T; }
MPI_Datatype pt_mpi_int16(void) { return MPI_INT16_T; }
MPI_Datatype pt_mpi_char(void) { return MPI_CHAR; }
MPI_Op pt_mpi_sum(void) { return MPI_SUM; }
MPI_Op pt_mpi_max(void) { return MPI_MAX; }
MPI_Op pt_mpi_min(void) { return MPI_MIN; }
MPI_Info pt_mpi_info_null(void) { return MPI_INFO_NULL; }
MPI_Errhandler pt_mpi_errors_return(void) { return MPI_ERRORS_RETURN; }
int pt_mpi_undefined(void) { return MPI_UNDEFINED; }
int pt_mpi_max_error_string(void) { return MPI_MAX_ERROR_STRING; }
int pt_mpi_max_library_version_string(void) { return MPI_MAX_LIBRARY_VERSION_STRING; }
int pt_mpi_max_processor_name(void) { return MPI_MAX_PROCESSOR_NAME; }
void *pt_mpi_in_place(void) { return MPI_IN_PLACE; }

const char *pt_mpi_family(void) {
#if defined(OPEN_MPI)
  return "Open MPI";
#elif defined(MPICH_VERSION)
  return "MPICH";
#else
  return "unknown";
#endif
}

MPI_Comm pt_mpi_comm_split(MPI_Comm comm, int color, int key, int *error) {
  MPI_Comm out = MPI_COMM_NULL;
  *error = MPI_Comm_split(comm, color, key, &out);
  return *error == MPI_SUCCESS ? out : MPI_COMM_NULL;
}

MPI_Comm pt_mpi_comm_split_shared(MPI_Comm comm, int key, int *error) {
  MPI_Comm out = MPI_COMM_NULL;
  *error = MPI_Comm_split_type(comm, MPI_COMM_TYPE_SHARED, key, MPI_INFO_NULL, &out);
  return *error == MPI_SUCCESS ? out : MPI_COMM_NULL;
}

MPI_Comm pt_mpi_comm_dup(MPI_Comm comm, int *error) {
  MPI_Comm out = MPI_COMM_NULL;
  *error = MPI_Comm_dup(comm, &out);
  return *error == MPI_SUCCESS ? out : MPI_COMM_NULL;
}

int pt_mpi_comm_free(MPI_Comm comm) { return MPI_Comm_free(&comm); }

MPI_Request pt_mpi_request_null(void) { return MPI_REQUEST_NULL; }

MPI_Request pt_mpi_iallreduce(const void *send, void *recv, int count, MPI_Datatype type, MPI_Op op,
                              MPI_Comm comm, int *error) {
  MPI_Request r = MPI_REQUEST_NULL;
  *error = MPI_Iallreduce(send, recv, count, type, op, comm, &r);
  return r;
}

MPI_Request pt_mpi_test(MPI_Request request, int *done, int *error) {
  *done = 0;
  *error = MPI_Test(&request, done, MPI_STATUS_IGNORE);
  return request;
}

MPI_Request pt_mpi_wait(MPI_Request request, int *error) {
  *error = MPI_Wait(&request, MPI_STATUS_IGNORE);
  return request;
}

hid_t pt_h5p_default(void) { return H5P_DEFAULT; }
hid_t pt_h5e_default(void) { return H5E_DEFAULT; }
hid_t pt_h5s_all(void) { return H5S_ALL; }
hid_t pt_h5p_file_access(void) { return H5P_FILE_ACCESS; }
hid_t pt_h5p_dataset_create(void) { return H5P_DATASET_CREATE; }
hid_t pt_h5p_dataset_xfer(void) { return H5P_DATASET_XFER; }
hid_t pt_h5p_link_create(void) { return H5P_LINK_CREATE; }
hid_t pt_h5t_native_float(void) { return H5T_NATIVE_FLOAT; }
hid_t pt_h5t_native_double(void) { return H5T_NATIVE_DOUBLE; }
hid_t pt_h5t_native_int32(void) { return H5T_NATIVE_INT32; }
hid_t pt_h5t_native_int64(void) { return H5T_NATIVE_INT64; }
hid_t pt_h5t_native_uint8(void) { return H5T_NATIVE_UINT8; }
hid_t pt_h5t_c_s1(void) { return H5T_C_S1; }
unsigned pt_h5f_acc_trunc(void) { return H5F_ACC_TRUNC; }
unsigned pt_h5f_acc_excl(void) { return H5F_ACC_EXCL; }
unsigned pt_h5f_acc_rdonly(void) { return H5F_ACC_RDONLY; }
unsigned pt_h5f_acc_rdwr(void) { return H5F_ACC_RDWR; }
unsigned pt_h5f_obj_all(void) { return H5F_OBJ_ALL; }
size_t pt_h5t_variable(void) { return H5T_VARIABLE; }
int pt_h5_have_parallel(void) {
#ifdef H5_HAVE_PARALLEL
  return 1;
#else
  return 0;
#endif
}
