/* MPI for the Fortran test without the mpi module: start MPI as relay
 * needs it and hand Fortran the handle of a communicator whose ranks are
 * those of MPI_COMM_WORLD reversed, so a test can see that relay used it. */
#include <mpi.h>
#include <stddef.h>

int ftest_mpi_init(void)
{
    int provided = 0;
    if (MPI_Init_thread(NULL, NULL, MPI_THREAD_MULTIPLE, &provided) != MPI_SUCCESS) return -1;
    return provided == MPI_THREAD_MULTIPLE ? 0 : -1;
}

int ftest_reversed_comm(void)
{
    int rank;
    MPI_Comm comm;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_split(MPI_COMM_WORLD, 0, -rank, &comm);
    return (int)MPI_Comm_c2f(comm);
}

int ftest_world_rank(void)
{
    int rank;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    return rank;
}

int ftest_mpi_finalize(void)
{
    return MPI_Finalize() == MPI_SUCCESS ? 0 : -1;
}
