package io.trainq.cli;

import io.trainq.api.TrainingJob;
import io.trainq.cli.local.JobFile;
import io.trainq.cli.local.LocalRun;
import io.trainq.engine.TaskPlan;
import java.io.PrintStream;
import java.io.PrintWriter;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.Callable;
import picocli.AutoComplete;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.Spec;

/** The `trainq` command line: {@code run}, {@code validate}, {@code version}, and shell completion. */
@Command(name = "trainq", mixinStandardHelpOptions = true, versionProvider = Trainq.Version.class,
    description = "A queue for training runs: runs TrainingJobs on this machine, without Kubernetes.",
    subcommands = {Trainq.Run.class, Trainq.Validate.class, Trainq.PrintVersion.class,
        AutoComplete.GenerateCompletion.class, CommandLine.HelpCommand.class},
    exitCodeListHeading = "%nExit codes:%n",
    exitCodeList = {"0:every task succeeded (validate: the files are valid)", "1:tasks were dead-lettered",
        "2:bad input (an invalid job file, options, a refused broker login)", "130:stopped with Ctrl-C"})
public final class Trainq implements Runnable {
  /** The runner's logging: warnings only, one line each on stderr (see the resource). */
  static final String LOGBACK_CONFIG = "trainq-cli-logback.xml";

  @Spec CommandLine.Model.CommandSpec spec;
  /** The streams `trainq run` reports to (picocli writes its own text through writers on the same streams). */
  private final PrintStream out;
  private final PrintStream err;

  private Trainq(PrintStream out, PrintStream err) {
    this.out = out;
    this.err = err;
  }

  /** {@code trainq} alone: the usage, as an error (exit 2). */
  @Override
  public void run() {
    throw new CommandLine.ParameterException(spec.commandLine(), "a command is needed: run, validate or version");
  }

  public static void main(String[] args) {
    // Before any logger exists. The operator's logback.xml may travel in the same jar; this is the runner's.
    if (System.getProperty("logback.configurationFile") == null) {
      System.setProperty("logback.configurationFile", LOGBACK_CONFIG);
    }
    System.exit(run(args, System.out, System.err));
  }

  static int run(String[] args, PrintStream out, PrintStream err) {
    CommandLine cl = commandLine(out, err);
    return cl.execute(args);
  }

  static CommandLine commandLine(PrintStream out, PrintStream err) {
    CommandLine cl = new CommandLine(new Trainq(out, err));
    cl.setOut(new PrintWriter(out, true, StandardCharsets.UTF_8));
    cl.setErr(new PrintWriter(err, true, StandardCharsets.UTF_8));
    // bad options are input errors like an invalid job file: exit 2, the problem on stderr, then the usage
    cl.setParameterExceptionHandler((e, a) -> {
      CommandLine c = e.getCommandLine();
      c.getErr().println(c.getCommandName().equals("trainq") ? "trainq: " + e.getMessage()
          : "trainq " + c.getCommandName() + ": " + e.getMessage());
      c.getErr().println("run '" + c.getCommandSpec().qualifiedName() + " --help' for the options");
      return 2;
    });
    return cl;
  }

  /** {@code trainq run}. */
  @Command(name = "run", mixinStandardHelpOptions = true, versionProvider = Trainq.Version.class,
      description = {"Runs a TrainingJob on this machine, without Kubernetes: the same file `kubectl apply` takes.",
          "Tasks go to a RabbitMQ quorum queue; worker processes run them, one slot per GPU group; crashed workers are "
              + "restarted; the terminal shows progress and, at the end, a summary. Running the same command again "
              + "continues the job where it stopped."},
      exitCodeListHeading = "%nExit codes:%n",
      exitCodeList = {"0:every task succeeded", "1:tasks were dead-lettered",
          "2:bad input (an invalid job file, options, a refused broker login), or the job runs elsewhere", "130:stopped with Ctrl-C"})
  static final class Run implements Callable<Integer> {
    @Spec CommandLine.Model.CommandSpec spec;
    @CommandLine.ParentCommand Trainq parent;

    @Option(names = {"-f", "--file"}, required = true, paramLabel = "FILE", description = "the TrainingJob YAML")
    Path file;

    @Option(names = "--gpus", paramLabel = "N", description = "simulate N GPUs instead of the ones nvidia-smi finds")
    void gpus(int n) {
      if (n < 1) {
        throw new CommandLine.ParameterException(spec.commandLine(), "--gpus must be a positive integer, got '" + n + "'");
      }
      gpus = n;
    }

    Integer gpus;

    @Option(names = "--rabbitmq", paramLabel = "URI", description = {"amqp://user:pass@host:5672/%%2F, or a cluster's every node: "
        + "amqp://user:pass@host1:5672,host2:5672,host3:5672/%%2F (default: TRAINQ_RABBITMQ_URI, else a local RabbitMQ "
        + "on 127.0.0.1:5672, started with scripts/rabbitmq.sh if none runs). amqps://...:5671 is TLS: the broker's CA "
        + "from TRAINQ_RABBITMQ_CA_FILE (else the JVM's trusted CAs), a client certificate from TRAINQ_RABBITMQ_CERT_FILE "
        + "and TRAINQ_RABBITMQ_KEY_FILE (PEM)"})
    String rabbitmq;

    @Option(names = {"-n", "--namespace"}, paramLabel = "NS",
        description = "namespace to run the job in (default: metadata.namespace, else \"default\")")
    String namespace;

    @Option(names = "--state-dir", paramLabel = "DIR",
        description = "where the run's progress is kept (default: .trainq/ in the current directory)")
    Path stateDir;

    @Option(names = "--fresh", description = "forget an earlier run of this job and start over")
    boolean fresh;

    @Option(names = "--plain",
        description = "no progress bar: a status line every 5 s (the default when the output is not a terminal)")
    boolean plain;

    @Override
    public Integer call() {
      LocalRun.Options o = new LocalRun.Options();
      o.file = file;
      o.gpus = gpus;
      o.rabbitmqUri = rabbitmq != null ? rabbitmq : System.getenv("TRAINQ_RABBITMQ_URI");
      o.namespace = namespace;
      o.stateDir = stateDir;
      o.fresh = fresh;
      o.plain = plain;
      String root = System.getenv("TRAINQ_PROJECT_ROOT");
      o.projectRoot = root == null ? null : Path.of(root);
      return new LocalRun(o, parent.out, parent.err).run();
    }
  }

  /** {@code trainq validate}: the API server's checks, offline. */
  @Command(name = "validate", mixinStandardHelpOptions = true, versionProvider = Trainq.Version.class,
      description = {"Checks TrainingJob files offline with the schema and rules the API server applies "
          + "(the same messages, field for field), and that their tasks can be planned."},
      exitCodeListHeading = "%nExit codes:%n",
      exitCodeList = {"0:every file is valid", "2:a file is invalid (each problem is named on stderr)"})
  static final class Validate implements Callable<Integer> {
    @Spec CommandLine.Model.CommandSpec spec;

    @Parameters(arity = "1..*", paramLabel = "FILE", description = "TrainingJob YAML files")
    List<Path> files;

    @Override
    public Integer call() {
      PrintWriter out = spec.commandLine().getOut();
      PrintWriter err = spec.commandLine().getErr();
      int code = 0;
      for (Path f : files) {
        try {
          TrainingJob job = JobFile.read(f);
          int tasks = TaskPlan.of(job.getSpec().getTasks()).size();
          out.println(f + ": TrainingJob " + job.getMetadata().getName() + " is valid (" + tasks + " task"
              + (tasks == 1 ? "" : "s") + ")");
        } catch (JobFile.InvalidJobException | IllegalArgumentException e) {
          err.println(e.getMessage());
          code = 2;
        }
      }
      return code;
    }
  }

  /** {@code trainq version}. */
  @Command(name = "version", description = "Prints trainq's version.")
  static final class PrintVersion implements Runnable {
    @Spec CommandLine.Model.CommandSpec spec;

    @Override
    public void run() {
      spec.commandLine().getOut().println("trainq " + Version.version());
    }
  }

  /** The build's version (the worker's, built and shipped with this jar). */
  static final class Version implements CommandLine.IVersionProvider {
    static String version() {
      return io.trainq.worker.Version.get();
    }

    @Override
    public String[] getVersion() {
      return new String[] {"trainq " + version()};
    }
  }
}
