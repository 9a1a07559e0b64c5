/* Process metrics from /proc (Linux), with the names and meanings that the
 * Prometheus client libraries give them. */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "metrics/metrics.h"

/* The fields of /proc/self/stat that the metrics need (proc(5)). */
typedef struct process_stat {
    unsigned long long utime_ticks;
    unsigned long long stime_ticks;
    unsigned long long start_ticks; /* after boot */
    unsigned long long virtual_bytes;
    long long resident_pages;
} process_stat;

static int read_stat(process_stat *stat) {
    char text[1024];
    FILE *file = fopen("/proc/self/stat", "r");
    if (!file) return -1;
    size_t len = fread(text, 1, sizeof(text) - 1, file);
    fclose(file);
    text[len] = '\0';

    /* The command name (field 2) is in parentheses and may contain spaces
     * and parentheses itself, so the fields are counted from the last ')'. */
    char *after_name = strrchr(text, ')');
    if (!after_name) return -1;
    int fields = sscanf(after_name + 1,
                        " %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu %*d %*d %*d %*d "
                        "%*d %*d %llu %llu %lld",
                        &stat->utime_ticks, &stat->stime_ticks, &stat->start_ticks,
                        &stat->virtual_bytes, &stat->resident_pages);
    return fields == 5 ? 0 : -1;
}

/* Returns the boot time in seconds since the epoch, from /proc/stat. */
static long long read_boot_time(void) {
    char line[256];
    long long boot_time = -1;
    FILE *file = fopen("/proc/stat", "r");
    if (!file) return -1;
    while (fgets(line, sizeof(line), file))
        if (sscanf(line, "btime %lld", &boot_time) == 1) break;
    fclose(file);
    return boot_time;
}

/* Returns the number of open file descriptors, not counting the one that
 * reads the list. */
static long count_open_fds(void) {
    DIR *dir = opendir("/proc/self/fd");
    if (!dir) return -1;
    long count = 0;
    int own_fd = dirfd(dir);
    struct dirent *entry;
    while ((entry = readdir(dir))) {
        if (entry->d_name[0] == '.') continue;
        if (atoi(entry->d_name) == own_fd) continue;
        count++;
    }
    closedir(dir);
    return count;
}

void ei_metrics_write_process(ei_buf *out) {
    process_stat stat;
    double ticks = (double)sysconf(_SC_CLK_TCK);
    double page_size = (double)sysconf(_SC_PAGESIZE);

    if (read_stat(&stat) == 0 && ticks > 0) {
        ei_metrics_write_counter(out, "process_cpu_seconds_total",
                                 "Total user and system CPU time spent in seconds.",
                                 (double)(stat.utime_ticks + stat.stime_ticks) / ticks);
        ei_metrics_write_gauge(out, "process_virtual_memory_bytes",
                               "Virtual memory size in bytes.", (double)stat.virtual_bytes);
        ei_metrics_write_gauge(out, "process_resident_memory_bytes",
                               "Resident memory size in bytes.",
                               (double)stat.resident_pages * page_size);
        long long boot_time = read_boot_time();
        if (boot_time >= 0)
            ei_metrics_write_gauge(out, "process_start_time_seconds",
                                   "Start time of the process since unix epoch in seconds.",
                                   (double)boot_time + (double)stat.start_ticks / ticks);
    }

    long open_fds = count_open_fds();
    if (open_fds >= 0)
        ei_metrics_write_gauge(out, "process_open_fds", "Number of open file descriptors.",
                               (double)open_fds);
    struct rlimit limit;
    if (getrlimit(RLIMIT_NOFILE, &limit) == 0 && limit.rlim_cur != RLIM_INFINITY)
        ei_metrics_write_gauge(out, "process_max_fds",
                               "Maximum number of open file descriptors.",
                               (double)limit.rlim_cur);
}
