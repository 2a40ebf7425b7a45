package io.trainq.cli;

import io.trainq.cli.local.LocalRun;
import java.io.PrintStream;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/** The `trainq` command line. */
public final class Trainq {
  static final String USAGE = """
      usage: trainq run -f FILE [options]

      Runs a TrainingJob on this machine, without Kubernetes: the same file `kubectl apply` takes.
      Tasks go to a RabbitMQ quorum queue; one worker process per GPU group runs them; crashed
      workers are restarted; the terminal shows progress and, at the end, a summary. Running the
      same command again continues the job where it stopped.

      options:
        -f, --file FILE        the TrainingJob YAML (required)
        --gpus N               simulate N GPUs instead of the ones nvidia-smi finds
        --rabbitmq URI         amqp://user:pass@host:5672/%2F (default: TRAINQ_RABBITMQ_URI, else a
                               local RabbitMQ on 127.0.0.1:5672, started with scripts/rabbitmq.sh if none runs)
        -n, --namespace NS     namespace to run the job in (default: metadata.namespace, else "default")
        --state-dir DIR        where the run's progress is kept (default: .trainq/ in the current directory)
        --fresh                forget an earlier run of this job and start over
        --plain                no progress bar: a status line every 5 s (the default when output is not a terminal)

      exit code: 0 when every task succeeded, 1 when tasks were dead-lettered, 2 for bad input, 130 on Ctrl-C.
      """;

  private Trainq() {}

  /** The runner's logging: warnings only, one line each on stderr (see the resource). */
  static final String LOGBACK_CONFIG = "trainq-cli-logback.xml";

  public static void main(String[] args) {
    // Before any logger exists. The operator's logback.xml travels in the same jar; this is the runner's.
    if (System.getProperty("logback.configurationFile") == null) {
      System.setProperty("logback.configurationFile", LOGBACK_CONFIG);
    }
    System.exit(run(args, System.out, System.err));
  }

  static int run(String[] args, PrintStream out, PrintStream err) {
    if (args.length == 0 || args[0].equals("-h") || args[0].equals("--help") || args[0].equals("help")) {
      out.print(USAGE);
      return args.length == 0 ? 2 : 0;
    }
    if (!args[0].equals("run")) {
      err.println("trainq: unknown command '" + args[0] + "'\n");
      err.print(USAGE);
      return 2;
    }
    LocalRun.Options o = new LocalRun.Options();
    List<String> rest = new ArrayList<>(List.of(args).subList(1, args.length));
    try {
      for (int i = 0; i < rest.size(); i++) {
        String a = rest.get(i);
        switch (a) {
          case "-f", "--file" -> o.file = Path.of(value(rest, ++i, a));
          case "--gpus" -> o.gpus = positiveInt(value(rest, ++i, a), a);
          case "--rabbitmq" -> o.rabbitmqUri = value(rest, ++i, a);
          case "-n", "--namespace" -> o.namespace = value(rest, ++i, a);
          case "--state-dir" -> o.stateDir = Path.of(value(rest, ++i, a));
          case "--fresh" -> o.fresh = true;
          case "--plain" -> o.plain = true;
          case "-h", "--help" -> {
            out.print(USAGE);
            return 0;
          }
          default -> throw new IllegalArgumentException("unknown option '" + a + "'");
        }
      }
      if (o.file == null) {
        throw new IllegalArgumentException("missing -f FILE: the TrainingJob to run");
      }
    } catch (IllegalArgumentException e) {
      err.println("trainq run: " + e.getMessage());
      err.println("run 'trainq --help' for the options");
      return 2;
    }
    if (o.rabbitmqUri == null) {
      o.rabbitmqUri = System.getenv("TRAINQ_RABBITMQ_URI");
    }
    String root = System.getenv("TRAINQ_PROJECT_ROOT");
    o.projectRoot = root == null ? null : Path.of(root);
    return new LocalRun(o, out, err).run();
  }

  private static String value(List<String> args, int i, String opt) {
    if (i >= args.size()) {
      throw new IllegalArgumentException(opt + " needs a value");
    }
    return args.get(i);
  }

  private static int positiveInt(String v, String opt) {
    try {
      int n = Integer.parseInt(v);
      if (n < 1) {
        throw new NumberFormatException();
      }
      return n;
    } catch (NumberFormatException e) {
      throw new IllegalArgumentException(opt + " must be a positive integer, got '" + v + "'");
    }
  }
}
