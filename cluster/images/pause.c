/*
 * The pod sandbox's "pause" process, built by container_maker_testcluster.images with
 * gcc -static (no base image can be pulled here). It holds the pod's namespaces open, reaps
 * zombies (it is PID 1 when the pod shares its process namespace), and exits on SIGTERM or
 * SIGINT, which PID 1 would otherwise ignore.
 */
#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

static void stop(int sig) { (void)sig; _exit(0); }

static void reap(int sig) {
  (void)sig;
  while (waitpid(-1, NULL, WNOHANG) > 0) {
  }
}

int main(void) {
  struct sigaction term = {.sa_handler = stop};
  struct sigaction child = {.sa_handler = reap, .sa_flags = SA_NOCLDSTOP};
  sigaction(SIGTERM, &term, NULL);
  sigaction(SIGINT, &term, NULL);
  sigaction(SIGCHLD, &child, NULL);
  for (;;) pause();
}
