package io.trainq.api.crd;

import io.fabric8.crd.generator.annotation.AdditionalPrinterColumn;
import io.fabric8.kubernetes.api.model.apiextensions.v1.CustomResourceColumnDefinition;
import io.fabric8.kubernetes.api.model.apiextensions.v1.CustomResourceDefinition;
import io.fabric8.kubernetes.api.model.apiextensions.v1.CustomResourceDefinitionVersion;
import io.fabric8.kubernetes.api.model.apiextensions.v1.JSONSchemaProps;
import io.fabric8.kubernetes.api.model.apiextensions.v1.JSONSchemaPropsOrArray;
import io.fabric8.kubernetes.client.utils.Serialization;
import io.trainq.api.TrainingJob;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Comparator;
import java.util.List;
import java.util.Optional;

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
      typeTaskItemsAsObjects(v);
      constrainTaskSources(v);
    }
    String header = "# Generated from the io.trainq.api classes by `mvn -pl api process-classes -Pupdate-crds`; do not edit.\n";
    Files.writeString(file, header + Serialization.asYaml(crd), StandardCharsets.UTF_8);
  }

  /**
   * spec.tasks.items holds free-form parameter objects. The generator leaves each item untyped
   * (only x-kubernetes-preserve-unknown-fields), which the API server cannot turn into a CEL type:
   * every CEL rule of spec.tasks then fails to compile ("undefined field 'items'") and the CRD is
   * refused. Typing the items as objects fixes that and makes the schema reject non-object items.
   */
  static void typeTaskItemsAsObjects(CustomResourceDefinitionVersion v) {
    JSONSchemaProps items = Optional.ofNullable(tasksSchema(v).getProperties().get("items"))
        .map(JSONSchemaProps::getItems)
        .map(JSONSchemaPropsOrArray::getSchema)
        .orElseThrow(() -> new IllegalStateException("no schema for spec.tasks.items[] in the generated CRD"));
    items.setType("object");
  }

  /**
   * Exactly one of count, items and grid, and at least one value per grid parameter. CEL cannot
   * express these (the grid's values are untyped, so no rule of spec.tasks compiles), so they are
   * plain schema bounds: the API server's message still names spec.tasks or the grid parameter.
   */
  static void constrainTaskSources(CustomResourceDefinitionVersion v) {
    JSONSchemaProps tasks = tasksSchema(v);
    tasks.setMinProperties(1L);
    tasks.setMaxProperties(1L);
    JSONSchemaProps values = Optional.ofNullable(tasks.getProperties().get("grid"))
        .map(JSONSchemaProps::getAdditionalProperties)
        .map(a -> a.getSchema())
        .orElseThrow(() -> new IllegalStateException("no schema for spec.tasks.grid values in the generated CRD"));
    values.setMinItems(1L);
  }

  private static JSONSchemaProps tasksSchema(CustomResourceDefinitionVersion v) {
    return Optional.ofNullable(v.getSchema())
        .map(s -> s.getOpenAPIV3Schema())
        .map(s -> s.getProperties().get("spec"))
        .map(s -> s.getProperties().get("tasks"))
        .orElseThrow(() -> new IllegalStateException("no schema for spec.tasks in the generated CRD"));
  }
}
