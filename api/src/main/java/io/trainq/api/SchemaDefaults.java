package io.trainq.api;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import com.fasterxml.jackson.dataformat.yaml.YAMLFactory;
import java.io.IOException;
import java.io.InputStream;
import java.util.Iterator;
import java.util.Map;

/**
 * The TrainingJob's defaults, read from its CRD schema and applied as the API server applies them: a
 * field left out of an object that is there gets the schema's {@code default}, and the defaulted value
 * gets its own fields' defaults in turn. The schema is the one place defaults are written
 * ({@code @Default} on the api classes): the API server applies them in a cluster, {@code trainq run}
 * with this class, so no code reading a spec falls back to a value of its own.
 */
public final class SchemaDefaults {
  /** The generated CRD on the classpath. */
  public static final String CRD_RESOURCE = "META-INF/fabric8/" + TrainingJob.CRD_NAME + "-v1.yml";
  private static final ObjectMapper YAML = new ObjectMapper(new YAMLFactory());
  private static final ObjectMapper JSON = new ObjectMapper();

  private SchemaDefaults() {}

  /** The {@code openAPIV3Schema} of the first version of a CRD file on the classpath. */
  public static JsonNode openApiV3Schema(String resource) {
    try (InputStream in = SchemaDefaults.class.getClassLoader().getResourceAsStream(resource)) {
      if (in == null) {
        throw new IllegalStateException("CRD " + resource + " not found on the classpath");
      }
      return YAML.readTree(in).at("/spec/versions/0/schema/openAPIV3Schema");
    } catch (IOException e) {
      throw new IllegalStateException("cannot read CRD " + resource + ": " + e.getMessage(), e);
    }
  }

  private static final class TrainingJobSchema {
    static final JsonNode SPEC = openApiV3Schema(CRD_RESOURCE).path("properties").path("spec");
  }

  /** Applies {@code schema}'s defaults to {@code value} in place. */
  public static void apply(JsonNode schema, JsonNode value) {
    if (value == null || value.isNull()) {
      return;
    }
    if (value.isObject()) {
      ObjectNode obj = (ObjectNode) value;
      JsonNode props = schema.path("properties");
      for (Iterator<Map.Entry<String, JsonNode>> it = props.fields(); it.hasNext(); ) {
        var e = it.next();
        if (!obj.has(e.getKey()) && e.getValue().has("default")) {
          obj.set(e.getKey(), e.getValue().get("default").deepCopy());
        }
      }
      for (Iterator<Map.Entry<String, JsonNode>> it = obj.fields(); it.hasNext(); ) {
        var e = it.next();
        JsonNode child = props.get(e.getKey());
        if (child == null && schema.path("additionalProperties").isObject()) {
          child = schema.get("additionalProperties");
        }
        if (child != null) {
          apply(child, e.getValue());
        }
      }
    } else if (value.isArray() && schema.has("items")) {
      for (JsonNode item : value) {
        apply(schema.get("items"), item);
      }
    }
  }

  /**
   * A copy of {@code spec} with the schema's defaults applied, for a spec that did not come through
   * the API server or a validated file (one built in code).
   */
  public static TrainingJobSpec applied(TrainingJobSpec spec) {
    ObjectNode tree = JSON.valueToTree(spec);
    apply(TrainingJobSchema.SPEC, tree);
    try {
      return JSON.treeToValue(tree, TrainingJobSpec.class);
    } catch (IOException e) {
      throw new IllegalStateException("cannot read back a defaulted spec: " + e.getMessage(), e);
    }
  }
}
