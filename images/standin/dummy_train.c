/* The stand-in training program of images/standin: samples/tasks/dummy_train.py in C, so the image
 * needs no Python. Same contract: reads TRAINQ_TASK_INDEX, TRAINQ_TASK_ATTEMPT, TRAINQ_TASK_PARAMS and
 * CUDA_VISIBLE_DEVICES; "trains" DUMMY_SECONDS (default 2) x uniform(0.5, 1.5); fails with exit code 1
 * with probability DUMMY_FAIL_RATE (default 0.2, an application error, retried with backoff); kills its
 * parent, the worker, with SIGKILL with probability DUMMY_CRASH_RATE (default 0.05, an infrastructure
 * failure: the kubelet restarts the worker and the broker redelivers the task). */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

static double env_or(const char *name, double fallback) {
  const char *v = getenv(name);
  return v && *v ? atof(v) : fallback;
}

static double uniform(void) { return (double)random() / ((double)RAND_MAX + 1.0); }

static void sleep_seconds(double s) {
  struct timespec ts = {(time_t)s, (long)((s - (double)(time_t)s) * 1e9)};
  nanosleep(&ts, NULL);
}

int main(void) {
  const char *index = getenv("TRAINQ_TASK_INDEX"), *attempt = getenv("TRAINQ_TASK_ATTEMPT");
  const char *params = getenv("TRAINQ_TASK_PARAMS"), *gpus = getenv("CUDA_VISIBLE_DEVICES");
  if (!index || !attempt) {
    fprintf(stderr, "TRAINQ_TASK_INDEX and TRAINQ_TASK_ATTEMPT must be set\n");
    return 2;
  }
  struct timespec now;
  clock_gettime(CLOCK_REALTIME, &now);
  srandom((unsigned)(now.tv_nsec ^ getpid()));
  printf("model train start: task %s attempt %s params %s gpus [%s]\n", index, attempt, params ? params : "{}",
         gpus ? gpus : "");
  fflush(stdout);
  if (uniform() < env_or("DUMMY_CRASH_RATE", 0.05)) {
    printf("simulated system failure: killing the worker\n");
    fflush(stdout);
    kill(getppid(), SIGKILL);
    sleep_seconds(5);
  }
  sleep_seconds((0.5 + uniform()) * env_or("DUMMY_SECONDS", 2));
  if (uniform() < env_or("DUMMY_FAIL_RATE", 0.2)) {
    fprintf(stderr, "simulated training error (loss is NaN)\n");
    return 1;
  }
  printf("model train finish: task %s\n", index);
  return 0;
}
