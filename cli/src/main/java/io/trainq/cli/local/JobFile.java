package io.trainq.cli.local;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import com.fasterxml.jackson.dataformat.yaml.YAMLFactory;
import io.trainq.api.SchemaDefaults;
import io.trainq.api.TrainingJob;
import io.trainq.cli.validate.CrdSchemaValidator;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.List;

/** Reads a TrainingJob file and validates it with the CRD's own rules, defaults applied, as the API server would. */
public final class JobFile {
  private static final ObjectMapper YAML = new ObjectMapper(new YAMLFactory());
  private static final CrdSchemaValidator VALIDATOR =
      CrdSchemaValidator.fromClasspathCrd(SchemaDefaults.CRD_RESOURCE);

  private JobFile() {}

  /** A file that is not a valid TrainingJob; the message lists every problem. */
  public static final class InvalidJobException extends Exception {
    public InvalidJobException(String message) {
      super(message);
    }
  }

  public static TrainingJob read(Path file) throws InvalidJobException {
    JsonNode doc;
    try {
      doc = YAML.readTree(Files.readString(file));
    } catch (NoSuchFileException e) {
      throw new InvalidJobException(file + ": no such file");
    } catch (IOException e) {
      throw new InvalidJobException(file + ": not valid YAML: " + e.getMessage().split("\n")[0]);
    }
    if (doc == null || !doc.isObject()) {
      throw new InvalidJobException(file + ": expected a TrainingJob object");
    }
    ObjectNode obj = (ObjectNode) doc;
    String apiVersion = obj.path("apiVersion").asText("");
    String kind = obj.path("kind").asText("");
    if (!TrainingJob.API_VERSION.equals(apiVersion) || !TrainingJob.KIND.equals(kind)) {
      throw new InvalidJobException(file + ": expected apiVersion: " + TrainingJob.API_VERSION + " and kind: " + TrainingJob.KIND
          + " (got apiVersion: '" + apiVersion + "', kind: '" + kind + "')");
    }
    String name = obj.path("metadata").path("name").asText("");
    if (!name.matches("[a-z0-9]([-a-z0-9.]*[a-z0-9])?") || name.length() > 253) {
      throw new InvalidJobException(file + ": metadata.name: Invalid value: \"" + name
          + "\": a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.'");
    }
    List<String> errors = VALIDATOR.validate(obj);
    if (!errors.isEmpty()) {
      throw new InvalidJobException("TrainingJob.trainq.io \"" + name + "\" is invalid: " + file + "\n  " + String.join("\n  ", errors));
    }
    try {
      return YAML.treeToValue(obj, TrainingJob.class);
    } catch (IOException e) {
      throw new InvalidJobException(file + ": " + e.getMessage().split("\n")[0]);
    }
  }
}
