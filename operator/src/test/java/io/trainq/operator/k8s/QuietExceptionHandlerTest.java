package io.trainq.operator.k8s;

import static org.assertj.core.api.Assertions.assertThat;

import ch.qos.logback.classic.Logger;
import ch.qos.logback.classic.spi.ILoggingEvent;
import ch.qos.logback.core.read.ListAppender;
import java.net.SocketException;
import org.junit.jupiter.api.Test;
import org.slf4j.LoggerFactory;

class QuietExceptionHandlerTest {

  @Test
  void aBrokerThatKeepsFailingIsOneLineNamingTheBrokerAndTheJob() {
    Logger logger = (Logger) LoggerFactory.getLogger(QuietExceptionHandler.class);
    ListAppender<ILoggingEvent> lines = new ListAppender<>();
    lines.start();
    logger.addAppender(lines);
    try {
      QuietExceptionHandler h = new QuietExceptionHandler("at 127.0.0.1:5999 (for TrainingJob team-a/sweep-" + System.nanoTime() + ")");
      for (int i = 0; i < 55; i++) {
        h.handleUnexpectedConnectionDriverException(null, new SocketException("Connection reset"));
      }
      assertThat(lines.list).singleElement().satisfies(e -> assertThat(e.getFormattedMessage())
          .contains("127.0.0.1:5999").contains("TrainingJob team-a/sweep-").contains("Connection reset"));
    } finally {
      logger.detachAppender(lines);
    }
  }
}
