package io.trainq.cli;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Bad input is refused before anything touches a broker, with exit code 2 and the problem named. */
class TrainqTest {
  @TempDir Path dir;

  private record Result(int code, String out, String err) {}

  private Result run(String... args) {
    var out = new ByteArrayOutputStream();
    var err = new ByteArrayOutputStream();
    int code = Trainq.run(args, new PrintStream(out, true, StandardCharsets.UTF_8), new PrintStream(err, true, StandardCharsets.UTF_8));
    return new Result(code, out.toString(StandardCharsets.UTF_8), err.toString(StandardCharsets.UTF_8));
  }

  private Path job(String spec) throws Exception {
    Path f = dir.resolve("job.yaml");
    Files.writeString(f, "apiVersion: trainq.io/v1alpha1\nkind: TrainingJob\nmetadata: {name: bad}\nspec: " + spec + "\n");
    return f;
  }

  @Test
  void invalidJobIsRejectedWithEveryFieldNamed() throws Exception {
    Path f = job("{image: i, command: [x], tasks: {count: 0}, gpusPerTask: 2, workers: {gpusPerPod: 3}}");
    Result r = run("run", "-f", f.toString(), "--gpus", "4");
    assertThat(r.code()).isEqualTo(2);
    assertThat(r.err())
        .contains("TrainingJob.trainq.io \"bad\" is invalid")
        .contains("spec.tasks.count: Invalid value: 0: spec.tasks.count in body should be greater than or equal to 1")
        .contains("spec.workers.gpusPerPod must be a multiple of spec.gpusPerTask");
  }

  @Test
  void wrongKindIsNamed() throws Exception {
    Path f = dir.resolve("pod.yaml");
    Files.writeString(f, "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\n");
    Result r = run("run", "-f", f.toString());
    assertThat(r.code()).isEqualTo(2);
    assertThat(r.err()).contains("expected apiVersion: trainq.io/v1alpha1 and kind: TrainingJob").contains("kind: 'Pod'");
  }

  @Test
  void missingFileAndBadOptionsAreNamed() {
    assertBadInput(run("run", "-f", dir.resolve("nope.yaml").toString()), "nope.yaml: no such file");
    assertBadInput(run("run"), "trainq run: Missing required option: '--file=FILE'");
    assertBadInput(run("run", "-f", "x", "--gpus", "0"), "--gpus must be a positive integer, got '0'");
    assertBadInput(run("run", "-f", "x", "--gpus", "many"), "Invalid value for option '--gpus': 'many' is not an int");
    assertBadInput(run("run", "-f", "x", "--frsh"), "Unknown option: '--frsh'");
    assertBadInput(run("launch"), "Unmatched argument at index 0: 'launch'");
    assertBadInput(run(), "a command is needed: run, validate or version");
  }

  @Test
  void everyCommandHasItsHelpAndTheVersionIsTheBuilds() {
    Result help = run("--help");
    assertThat(help.code()).isZero();
    assertThat(help.out()).contains("Usage: trainq").contains("run").contains("validate").contains("version")
        .contains("generate-completion");
    Result runHelp = run("run", "--help");
    assertThat(runHelp.code()).isZero();
    assertThat(runHelp.out()).contains("Usage: trainq run").contains("-f, --file=FILE").contains("--state-dir=DIR")
        .contains("130");
    Result version = run("version");
    assertThat(version.code()).isZero();
    assertThat(version.out().strip()).matches("trainq \\d+\\.\\d+\\.\\d+(-SNAPSHOT)?");
    assertThat(run("--version").out()).isEqualTo(version.out());
    Result completion = run("generate-completion");
    assertThat(completion.code()).isZero();
    assertThat(completion.out()).contains("complete -F").contains("trainq");
  }

  @Test
  void validateChecksFilesOfflineAndNamesEveryProblem() throws Exception {
    Path good = dir.resolve("good.yaml");
    Files.writeString(good, "apiVersion: trainq.io/v1alpha1\nkind: TrainingJob\nmetadata: {name: good}\n"
        + "spec: {image: i, command: [x], tasks: {grid: {lr: [0.1, 0.01], seed: [1, 2, 3]}}}\n");
    Result ok = run("validate", good.toString());
    assertThat(ok.code()).as(ok.err()).isZero();
    assertThat(ok.out()).contains("good.yaml: TrainingJob good is valid (6 tasks)");
    Path bad = job("{image: i, command: [x], tasks: {count: 0}}");
    Result r = run("validate", good.toString(), bad.toString());
    assertThat(r.code()).isEqualTo(2);
    assertThat(r.out()).contains("good is valid");
    assertThat(r.err()).contains("spec.tasks.count: Invalid value: 0");
    assertBadInput(run("validate"), "Missing required parameter: 'FILE'");
  }

  private static void assertBadInput(Result r, String problem) {
    assertThat(r.code()).as("exit code; stderr: %s", r.err()).isEqualTo(2);
    assertThat(r.err()).contains(problem);
    assertThat(r.out()).isEmpty();
  }

  @Test
  void tooFewGpusForATaskIsAClearError() throws Exception {
    Path f = job("{image: i, command: [x], tasks: {count: 1}, gpusPerTask: 4}");
    Result r = run("run", "-f", f.toString(), "--gpus", "2", "--rabbitmq", "amqp://u:p@127.0.0.1:1/%2F");
    assertThat(r.code()).isEqualTo(2);
    assertThat(r.err()).contains("spec.gpusPerTask is 4 but this machine has 2 GPU(s)");
  }
}
