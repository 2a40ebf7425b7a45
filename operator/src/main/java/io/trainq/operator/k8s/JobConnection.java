package io.trainq.operator.k8s;

import com.rabbitmq.client.Address;
import io.fabric8.kubernetes.api.model.Secret;
import io.trainq.api.RabbitmqSpec;
import io.trainq.protocol.RabbitSettings;
import io.trainq.protocol.RabbitTls;
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
    return resolve(spec, secret, null, namespace, operatorDefault);
  }

  /** The Secret named by spec.rabbitmq.tls.secretRef, null when there is none. */
  static String tlsSecretName(RabbitmqSpec spec) {
    return spec == null || spec.getTls() == null || spec.getTls().getSecretRef() == null ? null
        : spec.getTls().getSecretRef().getName();
  }

  /**
   * @param tlsSecret the Secret of spec.rabbitmq.tls.secretRef (null when absent or not found): key
   *     ca.crt, and tls.crt with tls.key for a client certificate
   */
  static Resolved resolve(RabbitmqSpec spec, Secret secret, Secret tlsSecret, String namespace,
      Optional<RabbitSettings> operatorDefault) {
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
    RabbitTls tls = null;
    if (spec.getTls() != null) {
      String tlsName = tlsSecretName(spec);
      if (tlsName == null) {
        tls = RabbitTls.SYSTEM_TRUST;
      } else if (tlsSecret == null) {
        return new Resolved(null, "Secret " + tlsName + " (spec.rabbitmq.tls.secretRef) not found in namespace " + namespace);
      } else {
        Map<String, String> pem = decode(tlsSecret);
        if (pem.get("ca.crt") == null || pem.get("ca.crt").isEmpty()) {
          return new Resolved(null, "Secret " + tlsName + " (spec.rabbitmq.tls.secretRef) has no key 'ca.crt' (the CA that"
              + " signed the broker's certificate, PEM)");
        }
        try {
          tls = RabbitTls.ofPem(pem.get("ca.crt"), pem.get("tls.crt"), pem.get("tls.key"));
          tls.sslContext();
        } catch (IllegalArgumentException e) {
          return new Resolved(null, "Secret " + tlsName + " (spec.rabbitmq.tls.secretRef): " + e.getMessage());
        }
      }
    }
    return new Resolved(new RabbitSettings(addresses, data.get("username"), data.get("password"),
        spec.getVhost() == null ? "/" : spec.getVhost(), null, tls), null);
  }

  /** A Secret's data and stringData, decoded and trimmed. */
  static Map<String, String> decode(Secret s) {
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
