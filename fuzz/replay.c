/* A main for the fuzz targets without libFuzzer: runs each saved input
 * once, so that inputs that once crashed stay fixed (make fuzz-replay).
 * Arguments are files or folders; a folder's files run in name order. */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fuzz.h"
#include "util/mem.h"

static int run_file(const char *path) {
    FILE *file = fopen(path, "rb");
    if (!file) {
        fprintf(stderr, "replay: cannot open %s: %s\n", path, strerror(errno));
        return -1;
    }
    size_t cap = 4096;
    size_t len = 0;
    uint8_t *data = ei_xmalloc(cap);
    size_t n;
    while ((n = fread(data + len, 1, cap - len, file)) > 0) {
        len += n;
        if (len == cap) {
            cap *= 2;
            data = ei_xrealloc(data, cap);
        }
    }
    fclose(file);

    /* An exact-size copy, so that reading past the input is caught. */
    uint8_t *input = ei_xmalloc(len ? len : 1);
    memcpy(input, data, len);
    free(data);
    LLVMFuzzerTestOneInput(input, len);
    free(input);
    return 0;
}

static int compare_names(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Runs every regular file of dir. Returns how many ran, or -1. */
static int run_folder(const char *dir_path) {
    DIR *dir = opendir(dir_path);
    if (!dir) {
        fprintf(stderr, "replay: cannot open %s: %s\n", dir_path, strerror(errno));
        return -1;
    }
    char **names = NULL;
    size_t count = 0;
    struct dirent *entry;
    while ((entry = readdir(dir)) != NULL) {
        if (entry->d_name[0] == '.') continue;
        names = ei_xrealloc(names, (count + 1) * sizeof(*names));
        names[count++] = ei_xstrdup(entry->d_name);
    }
    closedir(dir);
    qsort(names, count, sizeof(*names), compare_names);

    int ran = 0;
    for (size_t i = 0; i < count; i++) {
        char path[4096];
        snprintf(path, sizeof(path), "%s/%s", dir_path, names[i]);
        struct stat st;
        if (stat(path, &st) == 0 && S_ISREG(st.st_mode)) {
            if (run_file(path) != 0) ran = -1;
            else if (ran >= 0) ran++;
        }
        free(names[i]);
    }
    free(names);
    return ran;
}

int main(int argc, char **argv) {
    LLVMFuzzerInitialize(&argc, &argv);
    int total = 0;
    for (int i = 1; i < argc; i++) {
        struct stat st;
        if (stat(argv[i], &st) != 0) {
            fprintf(stderr, "replay: %s does not exist\n", argv[i]);
            return 1;
        }
        int ran = S_ISDIR(st.st_mode) ? run_folder(argv[i]) : run_file(argv[i]) == 0;
        if (ran < 0) return 1;
        total += ran;
    }
    printf("replay %s: %d inputs passed\n", argv[0], total);
    return 0;
}
