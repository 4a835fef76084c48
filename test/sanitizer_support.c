/* Linked into the tests only when RELAY_SANITIZE is ON.
 *
 * Open MPI dlopen()s its MCA components and dlclose()s them in MPI_Finalize;
 * LeakSanitizer reports at exit, when those modules are gone, so their
 * allocations show as "<unknown module>" and no suppression can name them.
 * Keeping every module loaded lets lsan.supp match Open MPI's own leaks by
 * library name while relay's leaks are still reported. */
#include <stddef.h>

int dlclose(void *handle);

int dlclose(void *handle)
{
    (void)handle;
    return 0;
}
