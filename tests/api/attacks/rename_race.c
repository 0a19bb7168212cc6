/* The non-inotify race of review finding 2: DIR holds COUNT regular files of SIZE bytes; the
 * loop renames over every one of them an absolute symlink to TARGET (the sidecar's registry
 * Secret, whose size is SIZE, so a reader that stat'ed the regular file reads all of it), then
 * a regular file again (a hard link of a spare copy, so a flip costs two system calls), round
 * after round: each name flips about every few tens of milliseconds. A path-based reader whose lstat and open straddle a rename reads the
 * sidecar's file. Runs SECONDS, then stops; writes READY once the files exist and it races. */
#include <fcntl.h>
#include <sys/stat.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static void regular(const char *path, int size, int i) {
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0) { perror(path); exit(1); }
    char data[65536];
    if (size > (int)sizeof data) size = sizeof data;
    memset(data, 'o', size);
    int n = snprintf(data, size, "own file %d", i);
    if (n < size) data[n] = 'o';
    if (write(fd, data, size) != size) { perror("write"); exit(1); }
    close(fd);
}

/* Writes the number of swaps so far to PROGRESS (READY with ".progress"), so that a test can
 * tell that the race ran while the save walked, whatever the save caught. */
static void progress(const char *ready, long swaps) {
    char path[4096], tmp[4096];
    snprintf(path, sizeof path, "%s.progress", ready);
    snprintf(tmp, sizeof tmp, "%s.progress.tmp", ready);
    FILE *f = fopen(tmp, "w");
    if (!f) return;
    fprintf(f, "%ld\n", swaps);
    fclose(f);
    rename(tmp, path);
}

int main(int argc, char **argv) {
    if (argc != 7) {
        fprintf(stderr, "usage: rename_race DIR COUNT SIZE TARGET SECONDS READY\n");
        return 2;
    }
    const char *dir = argv[1], *target = argv[4], *ready = argv[6];
    int count = atoi(argv[2]), size = atoi(argv[3]), seconds = atoi(argv[5]);
    char path[4096], spare[4096], tmp[4096];
    snprintf(spare, sizeof spare, "%s.spare", dir);
    mkdir(spare, 0755);
    for (int i = 0; i < count; i++) {
        snprintf(path, sizeof path, "%s.spare/f%05d", dir, i);
        regular(path, size, i);
        snprintf(tmp, sizeof tmp, "%s/f%05d", dir, i);
        if (link(path, tmp) != 0) { perror("link"); return 1; }
    }
    FILE *r = fopen(ready, "w");
    if (r) { fprintf(r, "racing %d files of %d bytes\n", count, size); fclose(r); }
    time_t end = time(NULL) + seconds;
    long swaps = 0;
    snprintf(tmp, sizeof tmp, "%s/.tmp", dir);
    progress(ready, 0);
    while (time(NULL) < end) {
        for (int i = 0; i < count; i++) {
            snprintf(path, sizeof path, "%s/f%05d", dir, i);
            unlink(tmp);
            if (symlink(target, tmp) == 0 && rename(tmp, path) == 0) swaps++;
        }
        for (int i = 0; i < count; i++) {
            snprintf(path, sizeof path, "%s/f%05d", dir, i);
            snprintf(spare, sizeof spare, "%s.spare/f%05d", dir, i);
            unlink(tmp);
            if (link(spare, tmp) == 0) rename(tmp, path);
        }
        progress(ready, swaps);
    }
    printf("%ld swaps\n", swaps);
    return 0;
}
