package io.trainq.api;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/** The committed CRD copies must equal what the classes generate, so a schema change cannot ship stale. */
class CrdUpToDateTest {

  @ParameterizedTest
  @ValueSource(strings = {"crds", "helm/trainq/crds"})
  void committedCopyMatchesGenerated(String dir) throws IOException {
    Path generated = Path.of(System.getProperty("trainq.crd.generated"));
    Path root = Path.of(System.getProperty("trainq.project.root"));
    Path committed = root.resolve(dir).resolve(generated.getFileName());
    assertThat(committed)
        .as("%s is missing: run `mvn -pl api process-classes -Pupdate-crds` and commit it", committed)
        .exists();
    assertThat(Files.readString(committed))
        .as("%s is stale: run `mvn -pl api process-classes -Pupdate-crds` and commit it", committed)
        .isEqualTo(Files.readString(generated));
  }
}
