package io.trainq.reliability;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;

/**
 * The execution log of task programs that run in pods: each execution of the stand-in
 * (images/standin, {@code DUMMY_RECORD_TO}) connects on loopback and sends one JSON line, which is
 * appended here to the file the checker reads as it reads reliability/dummy_task.py's log. A pod has
 * no volume the harness could read; a hostNetwork pod on the local cluster reaches loopback.
 */
public final class Collector implements AutoCloseable {
  /** A line longer than this is not an execution record (the stand-in's are under 512 bytes). */
  static final int MAX_LINE = 4096;

  private final ServerSocket server;
  private final OutputStream out;
  private final ExecutorService readers = Executors.newCachedThreadPool(r -> {
    Thread t = new Thread(r, "collector");
    t.setDaemon(true);
    return t;
  });
  private final Thread acceptor;
  private volatile boolean closing;

  public Collector(int port, Path file) throws IOException {
    server = new ServerSocket();
    server.bind(new InetSocketAddress(InetAddress.getLoopbackAddress(), port), 256);
    // accept() wakes this often to see whether close() was called; it then ends at the first quiet wake
    server.setSoTimeout(200);
    out = Files.newOutputStream(file, StandardOpenOption.CREATE, StandardOpenOption.APPEND, StandardOpenOption.WRITE);
    acceptor = new Thread(this::accept, "collector-accept");
    acceptor.start();
  }

  public int port() {
    return server.getLocalPort();
  }

  private void accept() {
    while (!server.isClosed()) {
      try {
        Socket s = server.accept();
        readers.execute(() -> read(s));
      } catch (java.net.SocketTimeoutException e) {
        if (closing) {
          break; // the backlog is drained
        }
      } catch (IOException e) {
        if (!server.isClosed()) {
          System.err.println("collector: accept failed: " + e);
        }
      }
    }
    try {
      server.close();
    } catch (IOException e) {
      System.err.println("collector: " + e);
    }
  }

  private void read(Socket s) {
    try (s; InputStream in = s.getInputStream()) {
      s.setSoTimeout(10_000);
      byte[] line = in.readNBytes(MAX_LINE + 1);
      if (line.length == 0) {
        return;
      }
      if (line.length > MAX_LINE || line[line.length - 1] != '\n') {
        // a sender killed mid-write: the checker skips a torn line, but it must not run into the next
        System.err.println("collector: dropped a torn record of " + line.length + " bytes");
        return;
      }
      synchronized (out) {
        out.write(line);
        out.flush();
      }
    } catch (IOException e) {
      System.err.println("collector: a record failed: " + e);
    }
  }

  /**
   * Takes what is still in the listen backlog, then stops accepting and waits for the records under
   * way, so the file holds every record sent before this was called.
   */
  @Override
  public void close() throws IOException, InterruptedException {
    if (closing) {
      return;
    }
    closing = true;
    acceptor.join(10_000);
    server.close();
    readers.shutdown();
    readers.awaitTermination(15, TimeUnit.SECONDS);
    synchronized (out) {
      out.close();
    }
  }

  /** {@code collect --out F [--port N]}: prints the port, then collects until SIGTERM (the file is whole when it exits). */
  static void run(Path file, int port) throws Exception {
    Collector c = new Collector(port, file);
    Runtime.getRuntime().addShutdownHook(new Thread(() -> {
      try {
        c.close();
      } catch (Exception e) {
        System.err.println("collector: " + e);
      }
    }));
    System.out.println(c.port());
    System.out.flush();
    c.acceptor.join();
  }
}
