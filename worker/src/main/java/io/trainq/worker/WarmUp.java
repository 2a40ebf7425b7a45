package io.trainq.worker;

import com.fasterxml.jackson.databind.node.ObjectNode;
import io.trainq.protocol.MalformedMessageException;
import io.trainq.protocol.Messages;
import io.trainq.protocol.TaskEvent;
import io.trainq.protocol.TaskMessage;
import io.trainq.worker.log.LogSink;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Runs the code of a slot's path between two tasks a few hundred times before the worker consumes,
 * while it connects and its runners start: the JIT compiles it then, instead of during the first
 * tasks, when every slot runs it at once (their first outcomes come together) and the interpreted
 * path showed as the longest waits between two tasks (tens of milliseconds on 2 CPUs).
 */
final class WarmUp {
  private static final Logger log = LoggerFactory.getLogger(WarmUp.class);
  /** Past the JIT's thresholds for a method's first compilation (about 200 calls). */
  static final int ROUNDS = 400;
  /** Outcomes per group commit in the warm-up. */
  private static final int GROUP = 16;

  private WarmUp() {}

  static void inBackground(WorkerConfig config) {
    Thread t = new Thread(() -> run(config), "warm-up");
    t.setDaemon(true);
    t.setPriority(Thread.MIN_PRIORITY);
    t.start();
  }

  /** @return the rounds run: {@link #ROUNDS} unless a step failed (the real path then reports it) */
  static int run(WorkerConfig config) {
    long t0 = System.nanoTime();
    int i = 0;
    try {
      String uid = config.topology().uid();
      Path params = config.tempDir().resolve("warm-up.json");
      List<TaskEvent> group = new ArrayList<>(GROUP);
      long sink = 0;
      for (; i < ROUNDS; i++) {
        ObjectNode p = Messages.mapper().createObjectNode().put("index", i).put("lr", 0.1);
        TaskMessage t = Messages.decodeTask(Messages.encodeTask(TaskMessage.first(uid, i, p)));
        sink += RunnerProtocol.taskLine(t, params).length;
        RunnerProtocol.Answer a = RunnerProtocol.answer(
            RunnerProtocol.parse("{\"type\":\"done\",\"index\":" + i + ",\"attempt\":1}"), t);
        sink += a.done() ? 1 : 0;
        group.add(new TaskEvent(TaskEvent.SCHEMA, TaskEvent.Type.SUCCEEDED, config.topology().key(), uid, i, 1, "warm-up", 0,
            0, 200L, 0.2, null, null, System.currentTimeMillis()));
        if (group.size() == GROUP) {
          sink += Messages.encodeEvents(group).length;
          sink += Messages.eventBatchProperties(group).getHeaders().size();
          group.clear();
        }
        sink += TaskExecutor.seconds(200_000_000L + i).length();
        sink += LogSink.warmUp("attempt 1 succeeded in 0.200 s on slot 0 (pid 1)", Integer.toString(i));
      }
      log.debug("warmed up the path between two tasks in {} ms ({})", (System.nanoTime() - t0) / 1_000_000, sink);
    } catch (MalformedMessageException | RunnerProtocol.Violation | RuntimeException e) {
      // only a warm-up: the real path reports any problem
      log.debug("warm-up stopped: {}", e.toString());
    }
    return i;
  }
}
