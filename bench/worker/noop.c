/*
 * The benchmark's task: does nothing but note when it started and when it ended, on the
 * system-wide monotonic clock, so that the gap between two tasks on one slot is seen from
 * the tasks' side (it includes the worker's spawn of the next process).
 *   noop <dir> [sleep-microseconds]   appends "<index> <start-ns> <end-ns>" to <dir>/slot-<slot>.log
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

static long long now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (long long) t.tv_sec * 1000000000LL + t.tv_nsec;
}

int main(int argc, char **argv) {
  long long start = now();
  if (argc < 2) {
    return 2;
  }
  if (argc > 2) {
    long us = atol(argv[2]);
    if (us > 0) {
      usleep((useconds_t) us);
    }
  }
  const char *slot = getenv("TRAINQ_TASK_SLOT");
  const char *index = getenv("TRAINQ_TASK_INDEX");
  char path[4096];
  snprintf(path, sizeof path, "%s/slot-%s.log", argv[1], slot ? slot : "x");
  int fd = open(path, O_WRONLY | O_APPEND | O_CREAT, 0644);
  if (fd < 0) {
    return 3;
  }
  char line[128];
  long long end = now();
  int n = snprintf(line, sizeof line, "%s %lld %lld\n", index ? index : "-1", start, end);
  return write(fd, line, (size_t) n) == n ? 0 : 4;
}
