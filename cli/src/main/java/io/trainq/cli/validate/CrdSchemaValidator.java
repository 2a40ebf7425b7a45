package io.trainq.cli.validate;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.cel.common.CelAbstractSyntaxTree;
import dev.cel.common.CelValidationException;
import dev.cel.common.types.SimpleType;
import dev.cel.compiler.CelCompiler;
import dev.cel.compiler.CelCompilerFactory;
import dev.cel.parser.CelStandardMacro;
import dev.cel.runtime.CelEvaluationException;
import dev.cel.runtime.CelRuntime;
import dev.cel.runtime.CelRuntimeFactory;
import io.trainq.api.SchemaDefaults;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.regex.Pattern;

/**
 * Validates a custom resource against the structural schema of its CRD the way the API server does:
 * schema defaults are applied first, then types, required fields, bounds, patterns, unknown fields and
 * the {@code x-kubernetes-validations} CEL rules, with the API server's wording. The CRD is the one
 * generated from the api classes, so `trainq run` and `kubectl apply` accept and reject the same files.
 * Transition rules (those that read {@code oldSelf}) only apply to updates and are skipped.
 */
public final class CrdSchemaValidator {

  private final JsonNode rootSchema;
  private final CelCompiler cel = CelCompilerFactory.standardCelCompilerBuilder()
      .setStandardMacros(CelStandardMacro.STANDARD_MACROS)
      .addVar("self", SimpleType.DYN)
      .build();
  private final CelRuntime runtime = CelRuntimeFactory.standardCelRuntimeBuilder().build();
  private final Map<String, CelRuntime.Program> programs = new ConcurrentHashMap<>();
  /** The API server's note when schema errors kept it from evaluating the CEL rules. */
  static final String RULES_NOT_CHECKED = "<nil>: Invalid value: null: some validation rules were not checked because the object was invalid; correct the existing errors to complete validation";
  // per validate() call; validate is not reentrant
  private boolean blocking;
  private List<String> currentRuleErrors;

  public CrdSchemaValidator(JsonNode openApiV3Schema) {
    this.rootSchema = openApiV3Schema;
  }

  /** Reads the first version's schema of a CRD file from the classpath. */
  public static CrdSchemaValidator fromClasspathCrd(String resource) {
    return new CrdSchemaValidator(SchemaDefaults.openApiV3Schema(resource));
  }

  /**
   * Applies the schema's defaults to {@code object} in place and returns every violation, each as the
   * API server words it ("spec.gpusPerTask: Invalid value: 0: spec.gpusPerTask in body should be
   * greater than or equal to 1"). An empty list means the object is valid.
   */
  public List<String> validate(ObjectNode object) {
    List<String> errors = new ArrayList<>();
    List<Runnable> rules = new ArrayList<>();
    blocking = false;
    SchemaDefaults.apply(rootSchema, object);
    // metadata is the API server's own; only spec and status follow the CRD schema
    JsonNode props = rootSchema.path("properties");
    for (String top : List.of("spec", "status")) {
      JsonNode s = props.get(top);
      JsonNode v = object.get(top);
      if (s != null && v != null) {
        check(s, v, top, errors, rules);
      }
    }
    for (String req : iterable(rootSchema.path("required"))) {
      if (!object.has(req)) {
        errors.add(req + ": Required value");
        blocking = true;
      }
    }
    // as the API server: a missing field, a wrong type, too many items or an unsupported value stop the
    // CEL rules, which could not evaluate meaningfully, and it says so
    if (blocking) {
      errors.add(RULES_NOT_CHECKED);
    } else {
      List<String> ruleErrors = new ArrayList<>();
      currentRuleErrors = ruleErrors;
      rules.forEach(Runnable::run);
      errors.addAll(ruleErrors);
    }
    return errors;
  }

  private void check(JsonNode schema, JsonNode value, String path, List<String> errors, List<Runnable> rules) {
    if (value.isNull()) {
      if (!schema.path("nullable").asBoolean(false)) {
        errors.add(path + ": Invalid value: \"null\": " + path + " in body must be of type " + schema.path("type").asText("object") + ": \"null\"");
        blocking = true;
      }
      return;
    }
    if (schema.path("x-kubernetes-int-or-string").asBoolean(false)) {
      if (!value.isIntegralNumber() && !value.isTextual()) {
        errors.add(path + ": Invalid value: \"" + typeName(value) + "\": " + path + " in body must be of type integer or string: \"" + typeName(value) + "\"");
        blocking = true;
      }
      return;
    }
    String type = schema.path("type").asText("");
    if (!type.isEmpty() && !typeMatches(type, value)) {
      errors.add(path + ": Invalid value: \"" + typeName(value) + "\": " + path + " in body must be of type " + type + ": \"" + typeName(value) + "\"");
      blocking = true;
      return;
    }
    switch (type) {
      case "object" -> checkObject(schema, (ObjectNode) value, path, errors, rules);
      case "array" -> checkArray(schema, (ArrayNode) value, path, errors, rules);
      case "integer", "number" -> checkNumber(schema, value, path, errors);
      case "string" -> checkString(schema, value.asText(), path, errors);
      default -> { }
    }
    if (schema.has("enum")) {
      boolean ok = false;
      for (JsonNode allowed : schema.get("enum")) {
        ok |= allowed.equals(value);
      }
      if (!ok) {
        List<String> vals = new ArrayList<>();
        schema.get("enum").forEach(a -> vals.add(a.toString()));
        errors.add(path + ": Unsupported value: " + value + ": supported values: " + String.join(", ", vals));
        blocking = true;
      }
    }
    if (schema.has("x-kubernetes-validations")) {
      JsonNode ruleList = schema.get("x-kubernetes-validations");
      rules.add(() -> checkRules(ruleList, value, path, currentRuleErrors));
    }
  }

  private void checkObject(JsonNode schema, ObjectNode value, String path, List<String> errors, List<Runnable> rules) {
    JsonNode props = schema.path("properties");
    JsonNode additional = schema.get("additionalProperties");
    boolean preserve = schema.path("x-kubernetes-preserve-unknown-fields").asBoolean(false);
    for (String req : iterable(schema.path("required"))) {
      if (!value.has(req)) {
        errors.add(path + "." + req + ": Required value");
        blocking = true;
      }
    }
    for (Iterator<Map.Entry<String, JsonNode>> it = value.fields(); it.hasNext(); ) {
      var e = it.next();
      String childPath = path + "." + e.getKey();
      JsonNode childSchema = props.get(e.getKey());
      if (childSchema == null && additional != null && additional.isObject()) {
        childSchema = additional;
      }
      if (childSchema != null) {
        check(childSchema, e.getValue(), childPath, errors, rules);
      } else if (!preserve && (additional == null || !additional.asBoolean(false))) {
        // kubectl apply's strict field validation says it this way
        errors.add("unknown field \"" + childPath + "\"");
      }
    }
    int n = value.size();
    if (schema.has("minProperties") && n < schema.get("minProperties").asInt()) {
      errors.add(path + ": Invalid value: " + n + ": " + path + " in body should have at least " + schema.get("minProperties").asInt() + " properties");
    }
    if (schema.has("maxProperties") && n > schema.get("maxProperties").asInt()) {
      errors.add(path + ": Too many: " + n + ": must have at most " + items(schema.get("maxProperties").asInt()));
      blocking = true;
    }
  }

  private void checkArray(JsonNode schema, ArrayNode value, String path, List<String> errors, List<Runnable> rules) {
    int n = value.size();
    if (schema.has("minItems") && n < schema.get("minItems").asInt()) {
      errors.add(path + ": Invalid value: " + n + ": " + path + " in body should have at least " + schema.get("minItems").asInt() + " items");
    }
    if (schema.has("maxItems") && n > schema.get("maxItems").asInt()) {
      errors.add(path + ": Too many: " + n + ": must have at most " + items(schema.get("maxItems").asInt()));
      blocking = true;
    }
    JsonNode items = schema.get("items");
    if (items != null) {
      for (int i = 0; i < n; i++) {
        check(items, value.get(i), path + "[" + i + "]", errors, rules);
      }
    }
  }

  private void checkNumber(JsonNode schema, JsonNode value, String path, List<String> errors) {
    double v = value.asDouble();
    String shown = goValue(value);
    if (schema.has("minimum") && v < schema.get("minimum").asDouble()) {
      errors.add(path + ": Invalid value: " + shown + ": " + path + " in body should be greater than or equal to " + num(schema.get("minimum")));
    }
    if (schema.has("maximum") && v > schema.get("maximum").asDouble()) {
      errors.add(path + ": Invalid value: " + shown + ": " + path + " in body should be less than or equal to " + num(schema.get("maximum")));
    }
  }

  private void checkString(JsonNode schema, String v, String path, List<String> errors) {
    int len = v.codePointCount(0, v.length());
    if (schema.has("minLength") && len < schema.get("minLength").asInt()) {
      errors.add(path + ": Invalid value: " + goQuote(v) + ": " + path + " in body should be at least " + schema.get("minLength").asInt() + " chars long");
    }
    if (schema.has("maxLength") && len > schema.get("maxLength").asInt()) {
      errors.add(path + ": Too long: may not be more than " + schema.get("maxLength").asInt() + " bytes");
      blocking = true;
    }
    if (schema.has("pattern") && !Pattern.compile(schema.get("pattern").asText()).matcher(v).find()) {
      errors.add(path + ": Invalid value: " + goQuote(v) + ": " + path + " in body should match '" + schema.get("pattern").asText() + "'");
    }
  }

  private void checkRules(JsonNode rules, JsonNode value, String path, List<String> errors) {
    for (JsonNode rule : rules) {
      String expr = rule.path("rule").asText();
      if (expr.contains("oldSelf")) {
        continue;
      }
      String msg = rule.has("message") ? rule.get("message").asText() : "failed rule: " + expr;
      Object result;
      try {
        result = program(expr).eval(Map.of("self", toCel(value)));
      } catch (CelEvaluationException e) {
        // the API server reports an evaluation error at the rule's own node, whatever its fieldPath,
        // with the schema type as the value
        errors.add(path + ": Invalid value: \"" + typeName(value) + "\": " + goStyle(e, expr) + " evaluating rule: " + msg);
        continue;
      }
      if (!Boolean.TRUE.equals(result)) {
        String at = path + rule.path("fieldPath").asText("");
        errors.add(at + ": " + ruleFailure(rule.path("reason").asText(""), value, msg));
      }
    }
  }

  /**
   * The API server's words for a rule that evaluated to false (field.Error's ErrorBody): the reason
   * picks the error type; a scalar's value is shown as Go prints it, an object's or array's is left out.
   */
  static String ruleFailure(String reason, JsonNode value, String msg) {
    boolean omitValue = value.isObject() || value.isArray();
    return switch (reason) {
      case "FieldValueForbidden" -> "Forbidden: " + msg;
      case "FieldValueRequired" -> "Required value: " + msg;
      case "FieldValueDuplicate" -> omitValue ? "Duplicate value" : "Duplicate value: " + goValue(value);
      default -> omitValue ? "Invalid value: " + msg : "Invalid value: " + goValue(value) + ": " + msg;
    };
  }

  /** A scalar as Go's field errors print it: strings quoted (%q), numbers and booleans bare (%v). */
  static String goValue(JsonNode v) {
    if (v.isTextual()) {
      return goQuote(v.asText());
    }
    if (v.isIntegralNumber()) {
      return v.bigIntegerValue().toString();
    }
    if (v.isNumber()) {
      return goFloat(v.asDouble());
    }
    return v.toString();
  }

  /** Go's strconv.Quote for the characters a YAML file can hold. */
  static String goQuote(String s) {
    StringBuilder sb = new StringBuilder(s.length() + 2).append('"');
    s.codePoints().forEach(c -> {
      switch (c) {
        case '"' -> sb.append("\\\"");
        case '\\' -> sb.append("\\\\");
        case '\n' -> sb.append("\\n");
        case '\t' -> sb.append("\\t");
        case '\r' -> sb.append("\\r");
        case 0x07 -> sb.append("\\a");
        case '\b' -> sb.append("\\b");
        case '\f' -> sb.append("\\f");
        case 0x0b -> sb.append("\\v");
        default -> {
          if (c < 0x20 || c == 0x7f) {
            sb.append(String.format("\\x%02x", c));
          } else if (!isPrintable(c)) {
            sb.append(c <= 0xffff ? String.format("\\u%04x", c) : String.format("\\U%08x", c));
          } else {
            sb.appendCodePoint(c);
          }
        }
      }
    });
    return sb.append('"').toString();
  }

  private static boolean isPrintable(int c) {
    int t = Character.getType(c);
    return !(t == Character.CONTROL || t == Character.FORMAT || t == Character.UNASSIGNED || t == Character.PRIVATE_USE
        || t == Character.SURROGATE || t == Character.LINE_SEPARATOR || t == Character.PARAGRAPH_SEPARATOR
        || (t == Character.SPACE_SEPARATOR && c != ' '));
  }

  /** Go's %v of a float64: the shortest digits, in exponent form when the exponent is below -4 or from 6 on. */
  static String goFloat(double d) {
    if (d == 0) {
      return "0";
    }
    java.math.BigDecimal b = new java.math.BigDecimal(Double.toString(d)).stripTrailingZeros();
    int exp = b.precision() - b.scale() - 1;
    if (exp >= -4 && exp < 6) {
      return b.toPlainString();
    }
    String digits = b.unscaledValue().abs().toString();
    String mantissa = digits.length() == 1 ? digits : digits.charAt(0) + "." + digits.substring(1);
    return (d < 0 ? "-" : "") + mantissa + "e" + (exp < 0 ? "-" : "+") + (Math.abs(exp) < 10 ? "0" : "") + Math.abs(exp);
  }

  /**
   * cel-go's wording of the evaluation errors a TrainingJob's rules can hit (the API server runs
   * cel-go; the CLI runs cel-java, which words them differently).
   */
  static String goStyle(CelEvaluationException e, String expr) {
    String m = String.valueOf(e.getMessage());
    java.util.regex.Matcher idx = Pattern.compile("[Ii]ndex out of bounds:? ?(-?\\d+)").matcher(m);
    if (idx.find()) {
      return "index out of bounds: " + idx.group(1);
    }
    if (m.contains("by zero")) {
      // cel-java says "/ by zero" (Java's ArithmeticException) for both operators; cel-go names the operator
      return expr.contains("%") && !expr.contains("/") ? "modulus by zero" : "division by zero";
    }
    if (m.toLowerCase(java.util.Locale.ROOT).contains("duration")) {
      return "type conversion error from 'string' to 'google.protobuf.Duration'";
    }
    return m.replaceFirst("^evaluation error[^:]*: ", "");
  }

  private static String items(int n) {
    return n == 1 ? "1 item" : n + " items";
  }

  private CelRuntime.Program program(String expr) {
    return programs.computeIfAbsent(expr, e -> {
      try {
        CelAbstractSyntaxTree ast = cel.compile(e).getAst();
        return runtime.createProgram(ast);
      } catch (CelValidationException | CelEvaluationException ex) {
        throw new IllegalStateException("CEL rule does not compile: " + e + ": " + ex.getMessage(), ex);
      }
    });
  }

  /** JSON as CEL sees it: objects are maps, integers are int64, numbers double. */
  static Object toCel(JsonNode n) {
    if (n.isObject()) {
      Map<String, Object> m = new LinkedHashMap<>();
      n.fields().forEachRemaining(e -> {
        if (!e.getValue().isNull()) {
          m.put(e.getKey(), toCel(e.getValue()));
        }
      });
      return m;
    }
    if (n.isArray()) {
      List<Object> l = new ArrayList<>();
      n.forEach(x -> l.add(toCel(x)));
      return l;
    }
    if (n.isIntegralNumber()) {
      return n.asLong();
    }
    if (n.isNumber()) {
      return n.asDouble();
    }
    if (n.isBoolean()) {
      return n.asBoolean();
    }
    return n.asText();
  }

  private static boolean typeMatches(String type, JsonNode v) {
    return switch (type) {
      case "object" -> v.isObject();
      case "array" -> v.isArray();
      case "string" -> v.isTextual();
      case "integer" -> v.isIntegralNumber() || (v.isNumber() && v.asDouble() == Math.rint(v.asDouble()));
      case "number" -> v.isNumber();
      case "boolean" -> v.isBoolean();
      default -> true;
    };
  }

  private static String typeName(JsonNode v) {
    if (v.isObject()) return "object";
    if (v.isArray()) return "array";
    if (v.isTextual()) return "string";
    if (v.isIntegralNumber()) return "integer";
    if (v.isNumber()) return "number";
    if (v.isBoolean()) return "boolean";
    return "null";
  }

  private static String num(JsonNode n) {
    return n.isIntegralNumber() || n.asDouble() == Math.rint(n.asDouble()) ? Long.toString(n.asLong()) : n.asText();
  }

  private static List<String> iterable(JsonNode arr) {
    List<String> out = new ArrayList<>();
    arr.forEach(x -> out.add(x.asText()));
    return out;
  }
}
