/*
 * The dispatch benchmark's task, as a GPU user's program would be started: one process per task.
 * It notes its own start and end on the system-wide monotonic clock, so that the idle gap between
 * two tasks on one slot is measured from the tasks' side (it includes the spawn of the next one).
 *
 *   bench-task <log-dir> <workload>
 *
 * appends "<index> <start-ns> <end-ns>" to <log-dir>/slot-<slot>.log, where <index> is
 * TRAINQ_TASK_INDEX and <slot> is CUDA_VISIBLE_DEVICES (fixed per slot), else TRAINQ_TASK_SLOT.
 * The task's duration comes from the workload and the index; workload.py holds the same rules
 * for the Python peers, and its self-test checks that both agree.
 */
#include <fcntl.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static long long now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (long long) t.tv_sec * 1000000000LL + t.tv_nsec;
}

static void pause_us(long long us) {
  if (us <= 0) {
    return;
  }
  struct timespec t = {(time_t) (us / 1000000), (long) (us % 1000000) * 1000L};
  while (nanosleep(&t, &t) != 0) {
  }
}

/* splitmix64: a deterministic spread of task indexes over [0, 1) */
static double unit(uint64_t index) {
  uint64_t z = index + 0x9E3779B97F4A7C15ULL;
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
  z = z ^ (z >> 31);
  return (double) (z >> 11) * (1.0 / 9007199254740992.0);
}

/* microseconds of work for a task of the workload; keep in step with workload.py */
static long long work_us(const char *workload, long index) {
  if (strcmp(workload, "noop") == 0) {
    return 0;
  }
  if (strcmp(workload, "tail") == 0) {
    /* Pareto, alpha 1.5, from 100 ms, capped at 3 s */
    double d = 100000.0 / pow(1.0 - unit((uint64_t) index), 1.0 / 1.5);
    return d > 3000000.0 ? 3000000LL : (long long) d;
  }
  if (strncmp(workload, "sleep:", 6) == 0) {
    return atoll(workload + 6);
  }
  if (strncmp(workload, "heavy:", 6) == 0) {
    /* heavy:<init-us>:<work-us> */
    const char *w = strchr(workload + 6, ':');
    return w ? atoll(w + 1) : 0;
  }
  return -1;
}

/* microseconds of initialisation a fresh process pays before its first task (heavy:<init-us>:<work-us>) */
static long long init_us(const char *workload) {
  return strncmp(workload, "heavy:", 6) == 0 ? atoll(workload + 6) : 0;
}

int main(int argc, char **argv) {
  long long start = now();
  if (argc < 3) {
    fprintf(stderr, "usage: bench-task <log-dir> <workload>\n");
    return 2;
  }
  const char *index = getenv("TRAINQ_TASK_INDEX");
  const char *slot = getenv("CUDA_VISIBLE_DEVICES");
  if (slot == NULL || *slot == '\0') {
    slot = getenv("TRAINQ_TASK_SLOT");
  }
  long i = index ? atol(index) : -1;
  long long work = work_us(argv[2], i);
  if (work < 0) {
    fprintf(stderr, "bench-task: unknown workload %s\n", argv[2]);
    return 2;
  }
  /* a process per task pays the initialisation every time */
  pause_us(init_us(argv[2]));
  pause_us(work);
  char path[4096];
  snprintf(path, sizeof path, "%s/slot-%s.log", argv[1], slot ? slot : "x");
  int fd = open(path, O_WRONLY | O_APPEND | O_CREAT, 0644);
  if (fd < 0) {
    return 3;
  }
  char line[128];
  long long end = now();
  int n = snprintf(line, sizeof line, "%ld %lld %lld\n", i, start, end);
  return write(fd, line, (size_t) n) == n ? 0 : 4;
}
