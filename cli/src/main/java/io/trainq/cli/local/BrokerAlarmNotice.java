package io.trainq.cli.local;

import io.trainq.protocol.Connections;
import java.util.HashSet;
import java.util.Set;
import java.util.function.Consumer;

/**
 * Says on the terminal, once, that the broker blocks the workers' publishing (a memory or disk alarm:
 * the job stalls with nothing lost) and, once they may all publish again, that it cleared. The
 * workers log it in the run's log file; without this line a stalled progress bar would not say why.
 */
final class BrokerAlarmNotice {
  private final Consumer<String> say;
  private final Set<String> blocked = new HashSet<>();

  BrokerAlarmNotice(Consumer<String> say) {
    this.say = say;
  }

  /** Reads one line of worker output ({@code [worker N] ...}). */
  synchronized void see(String line) {
    int end = line.indexOf(']');
    String worker = end < 0 ? "" : line.substring(0, end + 1);
    int at = line.indexOf(Connections.BLOCKED_LOG);
    if (at >= 0) {
      if (blocked.isEmpty()) {
        int from = line.indexOf(": ", at + Connections.BLOCKED_LOG.length());
        int to = line.indexOf(Connections.BLOCKED_LOG_END, Math.max(from, 0));
        String reason = from < 0 || to < 0 ? "a resource alarm" : line.substring(from + 2, to);
        say.accept("RabbitMQ blocks publishing (" + reason + "; a resource alarm): running tasks go on, their outcomes and "
            + "new tasks wait until it clears, and nothing is lost");
      }
      blocked.add(worker);
    } else if (line.contains(Connections.UNBLOCKED_LOG) && blocked.remove(worker) && blocked.isEmpty()) {
      say.accept("RabbitMQ lets the workers publish again: the resource alarm cleared");
    }
  }
}
