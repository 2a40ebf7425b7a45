package io.trainq.api;

import com.fasterxml.jackson.annotation.JsonInclude;
import com.fasterxml.jackson.annotation.JsonPropertyDescription;

@JsonInclude(JsonInclude.Include.NON_NULL)
public class RabbitmqTlsSpec {

  @JsonPropertyDescription("Secret with the CA that signed the broker's certificate (key ca.crt, PEM) and, for brokers "
      + "that verify clients, a client certificate and its key (tls.crt, tls.key; a cert-manager Certificate's Secret "
      + "works as it is). Without it the JVM's trusted CAs are used. The broker's host name is always verified.")
  private SecretRef secretRef;

  public SecretRef getSecretRef() {
    return secretRef;
  }

  public void setSecretRef(SecretRef secretRef) {
    this.secretRef = secretRef;
  }

}
