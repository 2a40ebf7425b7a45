/* The stand-in training program of images/standin: samples/tasks/dummy_train.py in C, so the image
 * needs no Python. Same contract: reads TRAINQ_TASK_INDEX, TRAINQ_TASK_ATTEMPT, TRAINQ_TASK_PARAMS and
 * CUDA_VISIBLE_DEVICES; "trains" DUMMY_SECONDS (default 2) x uniform(0.5, 1.5); fails with exit code 1
 * with probability DUMMY_FAIL_RATE (default 0.2, an application error, retried with backoff); kills its
 * parent, the worker, with SIGKILL with probability DUMMY_CRASH_RATE (default 0.05, an infrastructure
 * failure: the kubelet restarts the worker and the broker redelivers the task).
 *
 * DUMMY_POISON_FAIL, DUMMY_POISON_KILL and DUMMY_POISON_HANG (comma-separated task indexes) make those
 * tasks always fail, always kill their worker, or always sleep DUMMY_HANG_SECONDS (default 3600) past
 * any timeout: the reliability harness's poison tasks.
 *
 * DUMMY_RECORD_TO=host:port (the reliability harness on pods, scripts/reliability.sh --pods) sends one
 * JSON line per execution over TCP, in the format of reliability/dummy_task.py's execution log (index,
 * attempt, worker, pid, ppid, start, end, outcome): a pod has no volume the harness could read, but a
 * hostNetwork pod on the local cluster reaches the harness's collector on loopback. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static const char *task_index, *task_attempt;
static double started;

static double env_or(const char *name, double fallback) {
  const char *v = getenv(name);
  return v && *v ? atof(v) : fallback;
}

static double uniform(void) { return (double)random() / ((double)RAND_MAX + 1.0); }

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void sleep_seconds(double s) {
  struct timespec ts = {(time_t)s, (long)((s - (double)(time_t)s) * 1e9)};
  nanosleep(&ts, NULL);
}

/* One blocking connect-write-close before the outcome shows (exit, or the kill of the worker): the
 * harness's history then holds every execution whose outcome the worker saw. The SIGTERM handler calls
 * it too: the main thread is then asleep in nanosleep, holding nothing snprintf could re-enter. */
static void record(const char *outcome) {
  const char *to = getenv("DUMMY_RECORD_TO");
  if (!to || !*to) return;
  const char *colon = strrchr(to, ':');
  if (!colon) return;
  char host[64];
  size_t n = (size_t)(colon - to) < sizeof host - 1 ? (size_t)(colon - to) : sizeof host - 1;
  memcpy(host, to, n);
  host[n] = 0;
  struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons((unsigned short)atoi(colon + 1))};
  if (inet_pton(AF_INET, host, &addr.sin_addr) != 1) return;
  const char *worker = getenv("TRAINQ_WORKER_NAME");
  char line[512];
  int len = snprintf(line, sizeof line,
                     "{\"index\": %s, \"attempt\": %s, \"worker\": \"%s\", \"pid\": %d, \"ppid\": %d, \"start\": %.3f, "
                     "\"end\": %.3f, \"outcome\": \"%s\"}\n",
                     task_index, task_attempt, worker ? worker : "", (int)getpid(), (int)getppid(), started, now(), outcome);
  if (len <= 0 || len >= (int)sizeof line) return;
  for (int tries = 0; tries < 3; tries++) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) return;
    if (connect(fd, (struct sockaddr *)&addr, sizeof addr) == 0) {
      ssize_t w = write(fd, line, (size_t)len);
      close(fd);
      if (w == len) return;
    } else {
      close(fd);
    }
    sleep_seconds(0.1);
  }
}

/* Whether the task's index is in the comma-separated list the variable holds. */
static int listed(const char *name) {
  const char *v = getenv(name);
  if (!v || !*v) return 0;
  long index = atol(task_index);
  for (const char *p = v; *p;) {
    char *end;
    long n = strtol(p, &end, 10);
    if (end != p && n == index) return 1;
    p = *end ? end + 1 : end;
  }
  return 0;
}

static void terminated(int sig) {
  (void)sig;
  /* the worker stops an attempt past its timeout (or at shutdown) with SIGTERM */
  record("terminated");
  _exit(143);
}

int main(void) {
  task_index = getenv("TRAINQ_TASK_INDEX");
  task_attempt = getenv("TRAINQ_TASK_ATTEMPT");
  const char *params = getenv("TRAINQ_TASK_PARAMS"), *gpus = getenv("CUDA_VISIBLE_DEVICES");
  if (!task_index || !task_attempt) {
    fprintf(stderr, "TRAINQ_TASK_INDEX and TRAINQ_TASK_ATTEMPT must be set\n");
    return 2;
  }
  started = now();
  signal(SIGTERM, terminated);
  struct timespec seed;
  clock_gettime(CLOCK_REALTIME, &seed);
  srandom((unsigned)(seed.tv_nsec ^ getpid()));
  printf("model train start: task %s attempt %s params %s gpus [%s]\n", task_index, task_attempt, params ? params : "{}",
         gpus ? gpus : "");
  fflush(stdout);
  if (listed("DUMMY_POISON_KILL") || uniform() < env_or("DUMMY_CRASH_RATE", 0.05)) {
    printf("simulated system failure: killing the worker\n");
    fflush(stdout);
    record("killed-worker");
    kill(getppid(), SIGKILL);
    sleep_seconds(5);
  }
  if (listed("DUMMY_POISON_HANG")) sleep_seconds(env_or("DUMMY_HANG_SECONDS", 3600));
  sleep_seconds((0.5 + uniform()) * env_or("DUMMY_SECONDS", 2));
  if (listed("DUMMY_POISON_FAIL") || uniform() < env_or("DUMMY_FAIL_RATE", 0.2)) {
    fprintf(stderr, "simulated training error (loss is NaN)\n");
    record("failed");
    return 1;
  }
  printf("model train finish: task %s\n", task_index);
  record("succeeded");
  return 0;
}
