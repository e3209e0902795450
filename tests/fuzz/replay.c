/* SPDX-License-Identifier: MIT */
/*
 * Description: runs a libFuzzer target without libFuzzer: calls
 * LLVMFuzzerTestOneInput once per file of the directory given as the only
 * argument (a seed corpus, as a regression test). Any compiler builds it.
 */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Read a whole file into a heap block of exactly its size (so that a
 * sanitizer sees any read past the end). Returns 0 or -1. */
static int replay_read(const char *path, uint8_t **data, size_t *size)
{
    FILE *f = fopen(path, "rb");
    struct stat st;
    uint8_t *buf;

    if (f == NULL)
        return -1;
    if (fstat(fileno(f), &st) < 0 || st.st_size < 0) {
        fclose(f);
        return -1;
    }
    buf = malloc(st.st_size > 0 ? (size_t)st.st_size : 1);
    if (buf == NULL ||
        fread(buf, 1, (size_t)st.st_size, f) != (size_t)st.st_size) {
        free(buf);
        fclose(f);
        return -1;
    }
    fclose(f);
    *data = buf;
    *size = (size_t)st.st_size;
    return 0;
}

int main(int argc, char **argv)
{
    DIR *d;
    struct dirent *e;
    size_t count = 0;
    char path[4096];

    if (argc != 2) {
        fprintf(stderr, "usage: %s CORPUS_DIR\n", argv[0]);
        return 2;
    }
    d = opendir(argv[1]);
    if (d == NULL) {
        perror(argv[1]);
        return 1;
    }
    while ((e = readdir(d)) != NULL) {
        struct stat st;
        uint8_t *data;
        size_t size;

        if (e->d_name[0] == '.')
            continue;
        snprintf(path, sizeof(path), "%s/%s", argv[1], e->d_name);
        if (stat(path, &st) < 0 || !S_ISREG(st.st_mode))
            continue;
        if (replay_read(path, &data, &size) < 0) {
            perror(path);
            closedir(d);
            return 1;
        }
        LLVMFuzzerTestOneInput(data, size);
        free(data);
        count++;
    }
    closedir(d);
    printf("%zu inputs from %s\n", count, argv[1]);
    if (count == 0) {
        fprintf(stderr, "%s: no inputs\n", argv[1]);
        return 1;
    }
    return 0;
}
