/* Spill file names, and the files that ended runs left behind (see
 * spill.h). No HDF5 here: a leftover is judged by its name, its writer's
 * process and its lock, never by opening it as HDF5. */
#include "spill.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"

#define PREFIX "relay-"
#define SUFFIX ".h5"

static int host_char(int c)
{
    return isalnum(c) || c == '.' || c == '-' || c == '_';
}

static int token_char(int c)
{
    return isalnum(c) || c == '.' || c == '_';
}

void relay__spill_token(char *buf, size_t n, const char *s)
{
    size_t i = 0;
    for (; n && s[i] && i + 1 < n; i++)
        buf[i] = token_char((unsigned char)s[i]) ? s[i] : '_';
    if (n) buf[i] = '\0';
}

#define BOOT_CHARS 8

/* The first BOOT_CHARS hex digits of this boot's id into boot (NUL
 * ended); "" when it cannot be read. */
static void boot_id(char boot[BOOT_CHARS + 1])
{
    boot[0] = '\0';
    int fd = open("/proc/sys/kernel/random/boot_id", O_RDONLY | O_CLOEXEC);
    if (fd < 0) return;
    char id[BOOT_CHARS];
    ssize_t k = read(fd, id, sizeof id);
    close(fd);
    if (k != (ssize_t)sizeof id) return;
    for (int i = 0; i < BOOT_CHARS; i++)
        if (!isxdigit((unsigned char)id[i])) return;
    memcpy(boot, id, BOOT_CHARS);
    boot[BOOT_CHARS] = '\0';
}

void relay__spill_hostname(char *buf, size_t n)
{
    if (n == 0) return;
    char host[256] = "", boot[BOOT_CHARS + 1];
    if (gethostname(host, sizeof host) != 0 || !host[0]) snprintf(host, sizeof host, "unknown");
    host[sizeof host - 1] = '\0';
    boot_id(boot);
    /* Room for ".<boot>" however long the name. */
    size_t room = boot[0] && n > BOOT_CHARS + 2 ? n - BOOT_CHARS - 1 : n, i = 0;
    for (; host[i] && i + 1 < room; i++)
        buf[i] = host_char((unsigned char)host[i]) ? host[i] : '_';
    buf[i] = '\0';
    if (room < n) snprintf(buf + i, n - i, ".%s", boot);
}

/* s[0..len) is 1..max decimal digits. */
static int digits(const char *s, size_t len, size_t max)
{
    if (len == 0 || len > max) return 0;
    for (size_t i = 0; i < len; i++)
        if (!isdigit((unsigned char)s[i])) return 0;
    return 1;
}

static int all_of(const char *s, size_t len, int (*ok)(int))
{
    if (len == 0) return 0;
    for (size_t i = 0; i < len; i++)
        if (!ok((unsigned char)s[i])) return 0;
    return 1;
}

/* The last '-'-separated field of s[0..*len): its start; *len becomes the
 * length of what precedes its '-'. NULL when there is no '-'. */
static const char *last_field(const char *s, size_t *len, size_t *flen)
{
    for (size_t i = *len; i > 0; i--)
        if (s[i - 1] == '-') {
            *flen = *len - i;
            *len = i - 1;
            return s + i;
        }
    return NULL;
}

int relay__spill_name_parse(const char *file, relay__spill_name_t *out)
{
    size_t n = strlen(file), pl = strlen(PREFIX), sl = strlen(SUFFIX);
    if (n <= pl + sl || strncmp(file, PREFIX, pl) || strcmp(file + n - sl, SUFFIX)) return -1;
    const char *body = file + pl;
    size_t len = n - pl - sl, rl, p0l, stl, pidl;
    const char *rank = last_field(body, &len, &rl);
    const char *pid0 = rank ? last_field(body, &len, &p0l) : NULL;
    const char *stamp = pid0 ? last_field(body, &len, &stl) : NULL;
    const char *pid = stamp ? last_field(body, &len, &pidl) : NULL;
    if (!pid || !digits(rank, rl, 7) || !digits(pid0, p0l, 10) || !digits(pid, pidl, 10) ||
        !all_of(stamp, stl, token_char) || !all_of(body, len, host_char))
        return -1;
    size_t jl = (size_t)(rank - 1 - stamp); /* <stamp>-<pid0> */
    if (len >= sizeof out->host || jl >= sizeof out->job) return -1;
    memcpy(out->host, body, len);
    out->host[len] = '\0';
    memcpy(out->job, stamp, jl);
    out->job[jl] = '\0';
    out->pid = strtoll(pid, NULL, 10);
    out->rank = atoi(rank);
    /* A pid_t's range: kill() takes a negative one for a process group. */
    long long p0 = atoll(pid0);
    return out->pid > 0 && out->pid <= INT_MAX && p0 > 0 && p0 <= INT_MAX ? 0 : -1;
}

int relay__spill_name_make(char *buf, size_t n, const relay__spill_name_t *s)
{
    int w = snprintf(buf, n, PREFIX "%s-%lld-%s-%d" SUFFIX, s->host, s->pid, s->job, s->rank);
    relay__spill_name_t back;
    if (w < 0 || (size_t)w >= n || relay__spill_name_parse(buf, &back) != 0) return -1;
    /* It must read back as what it was made of. */
    if (strcmp(back.host, s->host) || strcmp(back.job, s->job) || back.pid != s->pid ||
        back.rank != s->rank)
        return -1;
    return 0;
}

/* ---------------------------------------------------------------------- */
/* Leftovers                                                                */
/* ---------------------------------------------------------------------- */

/* Whether process pid is known to be gone. Another user's live process
 * answers EPERM: not gone. */
static int gone(long long pid)
{
    return kill((pid_t)pid, 0) != 0 && errno == ESRCH;
}

/* Whether anybody holds a lock on fd's file: relay's (an open file
 * description lock) or HDF5's (flock, while a program has it open where
 * HDF5 locks files). 1 when provably nobody. */
static int unlocked(int fd)
{
    struct flock l = {.l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = 0, .l_len = 0};
    if (fcntl(fd, F_OFD_GETLK, &l) != 0 || l.l_type != F_UNLCK) return 0;
    return flock(fd, LOCK_EX | LOCK_NB) == 0;
}

/* Remove path when nobody holds a lock on it. 1 when removed. */
static int remove_unlocked(const char *path, const struct stat *seen)
{
    int fd = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0) return 0;
    struct stat st;
    int removed = 0;
    /* The very file looked at, and nobody's. */
    if (fstat(fd, &st) == 0 && st.st_ino == seen->st_ino && st.st_dev == seen->st_dev &&
        unlocked(fd))
        removed = unlink(path) == 0;
    close(fd);
    return removed;
}

static double mib(uint64_t bytes)
{
    return (double)bytes / (1024.0 * 1024.0);
}

void relay__spill_clean(const char *dir, const char *job, int remove, relay__spill_clean_t *out)
{
    memset(out, 0, sizeof *out);
    char host[RELAY__SPILL_HOST_MAX], path[4400];
    relay__spill_hostname(host, sizeof host);
    DIR *d = opendir(dir);
    if (!d) return; /* relay__spill_init checked it: someone removed it since */
    struct dirent *e;
    while ((e = readdir(d))) {
        size_t n = strlen(e->d_name);
        if (strncmp(e->d_name, PREFIX, strlen(PREFIX)) || n < strlen(SUFFIX) ||
            strcmp(e->d_name + n - strlen(SUFFIX), SUFFIX))
            continue;
        relay__spill_name_t s;
        int ours = relay__spill_name_parse(e->d_name, &s) == 0;
        if (ours && !strcmp(s.job, job)) continue; /* this job's */
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        struct stat st;
        if (lstat(path, &st) != 0 || !S_ISREG(st.st_mode)) continue;
        /* Kept (RELAY_SPILL_KEEP leaves files read-only), another host's
         * (its processes cannot be seen from here) or a live process's:
         * not provably stale. */
        int stale = ours && !strcmp(s.host, host) && (st.st_mode & S_IWUSR) && gone(s.pid);
        if (stale && remove && remove_unlocked(path, &st)) {
            out->removed++;
            out->removed_bytes += (uint64_t)st.st_size;
        } else {
            out->others++;
            out->other_bytes += (uint64_t)st.st_size;
        }
    }
    closedir(d);
    if (out->removed)
        relay__log(RELAY__LOG_INFO,
                   "removed %u stale spill file(s) (%.1f MiB) of ended runs on this host from %s",
                   out->removed, mib(out->removed_bytes), dir);
    if (out->others)
        relay__log(RELAY__LOG_WARN,
                   "%u spill file(s) (%.1f MiB) from other runs in %s: remove them when no relay "
                   "job uses %s",
                   out->others, mib(out->other_bytes), dir, dir);
}
