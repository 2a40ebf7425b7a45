package io.trainq.api.crd;

import io.fabric8.crd.generator.annotation.AdditionalPrinterColumn;
import io.fabric8.kubernetes.api.model.apiextensions.v1.CustomResourceColumnDefinition;
import io.fabric8.kubernetes.api.model.apiextensions.v1.CustomResourceDefinition;
import io.fabric8.kubernetes.api.model.apiextensions.v1.CustomResourceDefinitionVersion;
import io.fabric8.kubernetes.client.utils.Serialization;
import io.trainq.api.TrainingJob;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Comparator;
import java.util.List;

/**
 * Finishes the generated CRD: the generator sorts printer columns by path, but kubectl prints them in
 * CRD order, so they are put back in the order declared on {@link TrainingJob}.
 */
public final class CrdPostProcessor {

  private CrdPostProcessor() {}

  public static void main(String[] args) throws IOException {
    if (args.length != 1) {
      throw new IllegalArgumentException("usage: CrdPostProcessor <generated CRD file>");
    }
    Path file = Path.of(args[0]);
    CustomResourceDefinition crd;
    try (var in = Files.newInputStream(file)) {
      crd = Serialization.unmarshal(in, CustomResourceDefinition.class);
    }
    List<String> order = Arrays.stream(TrainingJob.class.getAnnotationsByType(AdditionalPrinterColumn.class))
        .map(AdditionalPrinterColumn::name)
        .toList();
    for (CustomResourceDefinitionVersion v : crd.getSpec().getVersions()) {
      List<CustomResourceColumnDefinition> cols = v.getAdditionalPrinterColumns();
      if (cols != null) {
        cols.sort(Comparator.comparingInt(c -> order.indexOf(c.getName())));
      }
    }
    String header = "# Generated from the io.trainq.api classes by `mvn -pl api process-classes -Pupdate-crds`; do not edit.\n";
    Files.writeString(file, header + Serialization.asYaml(crd), StandardCharsets.UTF_8);
  }
}
