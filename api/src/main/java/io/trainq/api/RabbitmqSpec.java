package io.trainq.api;

import com.fasterxml.jackson.annotation.JsonInclude;
import com.fasterxml.jackson.annotation.JsonPropertyDescription;
import io.fabric8.generator.annotation.Default;
import io.fabric8.generator.annotation.Required;
import io.fabric8.generator.annotation.Size;

@JsonInclude(JsonInclude.Include.NON_NULL)
public class RabbitmqSpec {

  @Required
  @JsonPropertyDescription("Secret with the connection: keys username, password, host and port (the RabbitMQ Cluster Operator's <cluster>-default-user Secret works as it is); an optional key addresses (host:port,host:port) lists every node.")
  private SecretRef secretRef;

  @Size(max = 16)
  @JsonPropertyDescription("host:port of every node, overriding the Secret's host and port.")
  private java.util.List<String> addresses;

  @Default("/")
  @JsonPropertyDescription("Virtual host.")
  private String vhost;

  @io.fabric8.generator.annotation.Pattern("^https?://[^\\s]+$")
  @JsonPropertyDescription("The broker's management API, where the operator makes the job's own broker user "
      + "(default: the first address's host on port 15672, or 15671 with TLS: the RabbitMQ Cluster Operator's Service).")
  private String managementUrl;

  public String getManagementUrl() {
    return managementUrl;
  }

  public void setManagementUrl(String managementUrl) {
    this.managementUrl = managementUrl;
  }

  @JsonPropertyDescription("TLS (amqps) to the broker; the addresses are then the broker's TLS ports (5671). "
      + "Absent: plain AMQP.")
  private RabbitmqTlsSpec tls;

  public RabbitmqTlsSpec getTls() {
    return tls;
  }

  public void setTls(RabbitmqTlsSpec tls) {
    this.tls = tls;
  }

  public SecretRef getSecretRef() {
    return secretRef;
  }

  public void setSecretRef(SecretRef secretRef) {
    this.secretRef = secretRef;
  }

  public java.util.List<String> getAddresses() {
    return addresses;
  }

  public void setAddresses(java.util.List<String> addresses) {
    this.addresses = addresses;
  }

  public String getVhost() {
    return vhost;
  }

  public void setVhost(String vhost) {
    this.vhost = vhost;
  }

}
