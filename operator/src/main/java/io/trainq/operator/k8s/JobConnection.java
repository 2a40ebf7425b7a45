package io.trainq.operator.k8s;

import com.rabbitmq.client.Address;
import io.fabric8.kubernetes.api.model.Secret;
import io.trainq.api.RabbitmqSpec;
import io.trainq.protocol.RabbitSettings;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Base64;
import java.util.List;
import java.util.Map;
import java.util.Optional;

/**
 * Where a job's broker is: its spec.rabbitmq Secret (keys username, password, and addresses or host
 * and port — the RabbitMQ Cluster Operator's {@code <cluster>-default-user} Secret as it is), or
 * the operator's own connection.
 */
final class JobConnection {
  private JobConnection() {}

  /** The settings, or an error message for a condition (never containing the password). */
  record Resolved(RabbitSettings settings, String problem) {}

  static Resolved resolve(RabbitmqSpec spec, Secret secret, String namespace, Optional<RabbitSettings> operatorDefault) {
    if (spec == null) {
      return operatorDefault.map(s -> new Resolved(s, null)).orElseGet(() -> new Resolved(null,
          "the job has no spec.rabbitmq and the operator has no default connection (TRAINQ_RABBITMQ_ADDRESSES)"));
    }
    String name = spec.getSecretRef().getName();
    if (secret == null) {
      return new Resolved(null, "Secret " + name + " (spec.rabbitmq.secretRef) not found in namespace " + namespace);
    }
    Map<String, String> data = decode(secret);
    for (String key : List.of("username", "password")) {
      if (data.get(key) == null || data.get(key).isEmpty()) {
        return new Resolved(null, "Secret " + name + " has no key '" + key + "'");
      }
    }
    List<Address> addresses;
    try {
      if (spec.getAddresses() != null && !spec.getAddresses().isEmpty()) {
        addresses = RabbitSettings.parseAddresses(String.join(",", spec.getAddresses()));
      } else if (data.get("addresses") != null) {
        addresses = RabbitSettings.parseAddresses(data.get("addresses"));
      } else if (data.get("host") != null) {
        String port = data.getOrDefault("port", "5672");
        addresses = new ArrayList<>(RabbitSettings.parseAddresses(data.get("host") + ":" + port));
      } else {
        return new Resolved(null, "Secret " + name + " has neither 'addresses' nor 'host' (and spec.rabbitmq.addresses is empty)");
      }
    } catch (IllegalArgumentException e) {
      return new Resolved(null, "spec.rabbitmq: " + e.getMessage());
    }
    return new Resolved(new RabbitSettings(addresses, data.get("username"), data.get("password"),
        spec.getVhost() == null ? "/" : spec.getVhost(), null), null);
  }

  private static Map<String, String> decode(Secret s) {
    Map<String, String> out = new java.util.HashMap<>();
    if (s.getData() != null) {
      s.getData().forEach((k, v) -> out.put(k, new String(Base64.getDecoder().decode(v), StandardCharsets.UTF_8).trim()));
    }
    if (s.getStringData() != null) {
      s.getStringData().forEach((k, v) -> out.put(k, v.trim()));
    }
    return out;
  }
}
