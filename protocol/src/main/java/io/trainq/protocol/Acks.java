package io.trainq.protocol;

import java.util.List;

/** Acknowledging a group of deliveries with one {@code multiple=true} ack where that is safe. */
public final class Acks {
  private Acks() {}

  /**
   * How many of {@code group} (ascending tags) a {@code multiple=true} ack of its {@code n}-th tag may
   * settle: the leading run of the group that is also the start of {@code held} (ascending tags the
   * channel delivered and has not settled). A multiple ack settles every older tag on the channel,
   * so it may cover only the group itself; a tag delivered meanwhile is newer than the whole group.
   */
  public static int leadingRun(Iterable<Long> held, List<Long> group) {
    int n = 0;
    for (long tag : held) {
      if (n < group.size() && group.get(n) == tag) {
        n++;
      } else {
        break;
      }
    }
    return n;
  }
}
