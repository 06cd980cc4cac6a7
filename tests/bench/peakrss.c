/* peakrss.c - runs a command and records its wall time and peak resident
 * set size, for the anetc benchmark (GNU time is not everywhere, and BSD
 * time reports in other units).
 *
 *   peakrss -o FILE COMMAND [ARG...]
 *
 * writes "SECONDS KIB" to FILE and exits with the command's status. */
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static double now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

int main(int argc, char **argv) {
  if (argc < 4 || strcmp(argv[1], "-o") != 0) {
    fputs("usage: peakrss -o FILE COMMAND [ARG...]\n", stderr);
    return 2;
  }
  double t0 = now();
  pid_t pid = fork();
  if (pid < 0) {
    perror("peakrss: fork");
    return 1;
  }
  if (pid == 0) {
    execvp(argv[3], argv + 3);
    perror(argv[3]);
    _exit(127);
  }
  int st;
  if (waitpid(pid, &st, 0) != pid) {
    perror("peakrss: waitpid");
    return 1;
  }
  double secs = now() - t0;
  struct rusage ru;
  getrusage(RUSAGE_CHILDREN, &ru);
  long kib = ru.ru_maxrss;
#ifdef __APPLE__
  kib /= 1024;   /* bytes there, KiB on Linux and the BSDs */
#endif
  FILE *f = fopen(argv[2], "w");
  if (!f || fprintf(f, "%.6f %ld\n", secs, kib) < 0 || fclose(f) != 0) {
    perror(argv[2]);
    return 1;
  }
  return WIFEXITED(st) ? WEXITSTATUS(st) : 1;
}
