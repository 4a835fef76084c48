/* A main for fuzz_dispatch.c without libFuzzer, so that any compiler's
 * build replays the inputs of crashes/ (the CTest test fuzz_regressions of
 * the usual build):
 *
 *   fuzz_replay PATH...    files, or directories whose files (README.md
 *                          aside) are all replayed, in name order
 *
 * Each input runs once through LLVMFuzzerTestOneInput, as libFuzzer runs a
 * file given on its command line. A crash kills the process (under
 * RELAY_SANITIZE, AddressSanitizer and UBSan report it first, and
 * LeakSanitizer checks for leaks at exit); an input that runs longer than
 * REPLAY_TIMEOUT_S is a hang, and SIGALRM ends the process. The input
 * about to run is printed first, so the log names the culprit. Exit 0
 * when every input ran. */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define REPLAY_TIMEOUT_S 10

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int replay_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f) return perror(path), -1;
    uint8_t *data = NULL;
    size_t size = 0, cap = 0, n;
    do {
        if (size == cap) {
            cap = cap ? cap * 2 : 4096;
            uint8_t *d = realloc(data, cap);
            if (!d) abort();
            data = d;
        }
        n = fread(data + size, 1, cap - size, f);
        size += n;
    } while (n > 0);
    int err = ferror(f);
    fclose(f);
    if (err) {
        free(data);
        return perror(path), -1;
    }
    printf("fuzz_replay: %s (%zu bytes)\n", path, size);
    fflush(stdout);
    alarm(REPLAY_TIMEOUT_S);
    LLVMFuzzerTestOneInput(data, size);
    alarm(0);
    free(data);
    return 0;
}

static int by_name(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static int replay_dir(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d) return perror(dir), -1;
    char **names = NULL;
    size_t n = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.' || strcmp(e->d_name, "README.md") == 0) continue;
        char **v = realloc(names, (n + 1) * sizeof *names);
        if (!v || !(v[n] = malloc(strlen(dir) + strlen(e->d_name) + 2))) abort();
        names = v;
        sprintf(names[n++], "%s/%s", dir, e->d_name);
    }
    closedir(d);
    qsort(names, n, sizeof *names, by_name);
    int rc = n ? 0 : (fprintf(stderr, "fuzz_replay: no input in %s\n", dir), -1);
    for (size_t i = 0; i < n; i++) {
        if (replay_file(names[i]) != 0) rc = -1;
        free(names[i]);
    }
    free(names);
    return rc;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: fuzz_replay PATH...\n");
        return 2;
    }
    LLVMFuzzerInitialize(&argc, &argv);
    int rc = 0;
    for (int i = 1; i < argc; i++) {
        struct stat st;
        if (stat(argv[i], &st) != 0) {
            perror(argv[i]);
            rc = 1;
        } else if ((S_ISDIR(st.st_mode) ? replay_dir(argv[i]) : replay_file(argv[i])) != 0) {
            rc = 1;
        }
    }
    printf("fuzz_replay: %s\n", rc ? "FAILED" : "every input ran clean");
    return rc;
}
